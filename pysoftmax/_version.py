"""The version of pysoftmax (meson.build says it too).  Imports nothing."""
__version__ = "0.1.0"
