"""The tf2torch direction: Keras 3 / tf.keras model code to PyTorch."""
