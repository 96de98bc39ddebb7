"""Runtime support for migrated training code.

Migrated files import from here where the target framework's stock API cannot express the source
framework's exact behaviour (an optimizer's update rule, a loss's reduction, a schedule's shape):
``migrator.runtime.keras_support`` (torch semantics on Keras 3) and
``migrator.runtime.torch_support`` (Keras semantics on PyTorch). This package itself imports
neither framework; only those two modules do, and only migrated code imports them.
"""
