"""The error of this package: a checkpoint file that cannot be read or does not hold what was asked."""
from __future__ import annotations
from manifests.errors import InputError


class CheckpointError(InputError, ValueError):
    """Its message names the file (or variable), what was expected, what was found, and what to do."""
