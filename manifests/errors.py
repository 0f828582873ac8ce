"""The exceptions every package shares: bad input from the person running a command, and what the
manifest boundary refuses.

Every message names the file, the row, the flag or the key, what was expected and what was found, so that
a user can fix the input without reading our code. The commands print an `InputError`'s message and exit
with status 2; any other exception is a bug and shows its traceback (pipelines.cli.common).
"""


class InputError(Exception):
    """Bad input: a file, a flag, a config value, a dataset root, a model folder. The user fixes it."""


class ConfigError(InputError, ValueError):
    """A config value out of its range, or an option no component knows (the message lists the known ones)."""


class ManifestError(InputError):
    """Base class for every error about a table's contents or layout."""


class SchemaError(ManifestError):
    """A frame or a Parquet part does not match its table spec."""


class DatasetLocked(ManifestError):
    """Another process holds the dataset root's writer lock."""
