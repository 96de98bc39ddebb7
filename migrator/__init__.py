"""fwmigrate: source-to-source migration between PyTorch and Keras 3, with proof of equivalence."""

__version__ = "0.1.0"
