"""The emac-sim version (also in ``pyproject.toml``), importable without loading any layer."""

__version__ = "0.1.0"
