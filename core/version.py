"""obs's version, importable without importing the public facade (``obs/__init__.py``)."""

__version__ = "0.1.0"
