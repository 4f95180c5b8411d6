"""The version of jupyter-modelfiles."""

__version__ = "0.1.0"
