"""Reading Python 2 pickles of numpy arrays (3DPW's sequence files) without trusting them.

3DPW ships its annotations as Python 2 pickles: dicts of lists of numpy arrays, whose raw bytes were
pickled as Python 2 `str`. Python 3 reads them with `encoding="latin1"` (numpy turns those strings
back into bytes). A plain `pickle.load` would also run any callable the file names; this unpickler
resolves only the few numpy names an array or scalar needs and refuses everything else, naming the file.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
from manifests.errors import InputError


class PickleFormatError(InputError, ValueError):
    """A pickle that is not plain data and numpy arrays, or not readable at all."""


_RECONSTRUCT = np.zeros(1).__reduce__()[0]  # numpy's array reconstructor, wherever this numpy keeps it
_SCALAR = np.float64(0).__reduce__()[0]
# The globals an ndarray / numpy scalar pickle names, under numpy 1's module path (what Python 2 wrote)
# and numpy 2's.
_ALLOWED: dict[tuple[str, str], Any] = {}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_module, "_reconstruct")] = _RECONSTRUCT
    _ALLOWED[(_module, "scalar")] = _SCALAR
_ALLOWED[("numpy", "ndarray")] = np.ndarray
_ALLOWED[("numpy", "dtype")] = np.dtype


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def __init__(self, source: Any, path: Path) -> None:
        super().__init__(source, encoding="latin1")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise PickleFormatError(f"{self.path}: the pickle names {module}.{name}; only numpy arrays and plain "
                                    f"data are read from dataset files") from None


def load_py2_pickle(path: Path) -> Any:
    """The object in a Python 2 (or 3) pickle of plain data and numpy arrays."""
    path = Path(path)
    try:
        with open(path, "rb") as source:
            return _NumpyOnlyUnpickler(source, path).load()
    except PickleFormatError:
        raise
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise PickleFormatError(f"{path}: not a readable pickle of numpy arrays ({type(e).__name__}: {e})") from e
