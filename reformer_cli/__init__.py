"""reformer: long-document language modelling with a Reformer, from the command line."""

__version__ = "0.1.0"
