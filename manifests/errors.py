"""Exceptions raised at the manifest boundary.

Every message names the table, the file or row, what was expected and what was found, so that a
user can fix the input without reading our code.
"""


class ManifestError(Exception):
    """Base class for every error about a table's contents or layout."""


class SchemaError(ManifestError):
    """A frame or a Parquet part does not match its table spec."""


class DatasetLocked(ManifestError):
    """Another process holds the dataset root's writer lock."""
