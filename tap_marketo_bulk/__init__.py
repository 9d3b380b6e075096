"""tap-marketo-bulk: a Singer tap for Marketo's Bulk Extract API."""

# The one place the version is written: pyproject.toml reads it (setuptools dynamic version)
# and singer-sdk reports it from the installed metadata (`--about`, the start-up log line).
__version__ = "0.1.0"
