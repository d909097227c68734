"""The package version, read by the build backend and the user agent."""

__version__ = "0.1.0"
