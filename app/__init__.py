"""refdata: reference data served from an INIT-scope cache."""

__version__ = "0.1.0"
