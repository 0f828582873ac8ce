"""Reading SMPL model files (and HMR's mean parameters) without running code from them.

The official SMPL `.pkl` files pickle some arrays as chumpy objects, and chumpy does not work with
numpy >= 2. A pickle can name any Python callable, so the unpickler here allows only the globals such
files contain (numpy arrays and dtypes, scipy sparse matrices, and chumpy classes, which become a
stand-in that keeps their pickled state); anything else is refused with the file and the global named.
Nothing from chumpy is imported or executed.

HMR/HMMR's `neutral_smpl_with_cocoplustoesankles_reg.pkl` is an SMPL file with one more array,
`cocoplus_regressor` (25 x 6890, sparse): the joints the released model was trained on, in HMMR_25 order.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
from manifests.errors import InputError

REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
COCOPLUS_REGRESSOR = "cocoplus_regressor"  # the released code's key (src/tf_smpl/batch_smpl.py)
COCOPLUS_MODEL_FILE = "neutral_smpl_with_cocoplustoesankles_reg.pkl"
MEAN_PARAMS_FILE = "neutral_smpl_meanwjoints.h5"  # the released code looks for it beside the SMPL file
MODEL_FILES = {"neutral": (COCOPLUS_MODEL_FILE, "SMPL_NEUTRAL.pkl", "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"),
               "female": ("SMPL_FEMALE.pkl", "basicModel_f_lbs_10_207_0_v1.0.0.pkl"),
               "male": ("SMPL_MALE.pkl", "basicmodel_m_lbs_10_207_0_v1.1.0.pkl")}

# (module, name) pairs an SMPL pickle may name, as written by Python 2 or 3 and numpy 1 or 2 (chumpy's
# state holds sets). The
# Python 2 spellings (copy_reg, __builtin__) are mapped to Python 3's by pickle itself.
_ALLOWED_GLOBALS = frozenset({
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("scipy.sparse.csc", "csc_matrix"), ("scipy.sparse._csc", "csc_matrix"),
    ("scipy.sparse.csr", "csr_matrix"), ("scipy.sparse._csr", "csr_matrix"),
    ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"),
    ("__builtin__", "object"), ("builtins", "object"),
    ("__builtin__", "set"), ("builtins", "set"), ("__builtin__", "frozenset"), ("builtins", "frozenset"),
    ("_codecs", "encode"),  # how Python 3 pickles bytes at protocol 2
})


class SMPLFormatError(InputError, ValueError):
    """A file that is not an SMPL model (or mean-parameter file) as the official releases ship it."""


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a Python global outside the allow-list (it could run code)."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.qualified_name = f"{module}.{name}"


class _ChumpyStandIn:
    """Whatever chumpy class was pickled: keeps the state so the array inside can be recovered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args

    def __setstate__(self, state: Any) -> None:
        self._state = state


class _SMPLUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] == "chumpy":
            return _ChumpyStandIn
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise RefusedGlobal(module, name)


def _as_array(value: Any, key: str, path: Path) -> Any:
    if isinstance(value, _ChumpyStandIn):
        state = getattr(value, "_state", None)
        if isinstance(state, dict) and "x" in state:
            return np.asarray(state["x"])
        if value._args and isinstance(value._args[0], np.ndarray):
            return value._args[0]
        raise SMPLFormatError(f"{path}: key {key!r} is a chumpy object without an array inside; "
                              f"re-export the model with plain numpy arrays")
    return value


def find_model_file(model_dir: Path, gender: str = "neutral") -> Path:
    """The SMPL file for `gender` in `model_dir` (a file path is returned as it is). For the neutral
    body, HMR's file with the cocoplus regressor comes first: its joints are the released model's."""
    model_dir = Path(model_dir).expanduser()
    if model_dir.is_file():
        return model_dir
    names = MODEL_FILES.get(gender)
    if names is None:
        raise SMPLFormatError(f"gender must be one of {sorted(MODEL_FILES)}, got {gender!r}")
    for name in names:
        if (model_dir / name).is_file():
            return model_dir / name
    raise SMPLFormatError(
        f"no SMPL {gender} model in {model_dir}: expected one of {list(names)}. Register at smpl.is.tue.mpg.de, "
        f"download 'SMPL for Python' and pass its models folder as --smpl-model-dir")


def load_smpl_data(path: Path) -> dict[str, Any]:
    """The SMPL model's arrays by key (v_template, shapedirs, posedirs, J_regressor, weights, kintree_table, f,
    and cocoplus_regressor when the file has it). Raises SMPLFormatError naming the file, and the global
    when the pickle asks for one that an SMPL file never holds."""
    path = Path(path)
    try:
        with open(path, "rb") as source:
            data = _SMPLUnpickler(source, encoding="latin1").load()
    except RefusedGlobal as e:
        raise SMPLFormatError(
            f"{path}: refused: the pickle asks for the Python global {e.qualified_name!r}, which an SMPL model "
            f"file never contains (only numpy arrays, scipy sparse matrices and chumpy objects are read). "
            f"Nothing from it was run; use the file as downloaded from smpl.is.tue.mpg.de") from e
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise SMPLFormatError(f"{path}: not a readable SMPL pickle ({e})") from e
    if not isinstance(data, dict):
        raise SMPLFormatError(f"{path}: expected a dict of arrays, found {type(data).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise SMPLFormatError(f"{path}: missing SMPL keys {missing}; it has {sorted(data)}")
    data = {k: _as_array(v, k, path) for k, v in data.items()}
    n_vertices = np.asarray(data["v_template"]).shape[0]
    shapes = {"v_template": (n_vertices, 3), "weights": (n_vertices, 24), "f": (None, 3)}
    for key, expected in shapes.items():
        found = np.shape(data[key])
        if len(found) != len(expected) or any(e is not None and e != f for e, f in zip(expected, found)):
            raise SMPLFormatError(f"{path}: {key} has shape {found}, expected {expected}")
    if np.shape(data["posedirs"]) != (n_vertices, 3, 207) or np.shape(data["shapedirs"])[:2] != (n_vertices, 3):
        raise SMPLFormatError(f"{path}: posedirs {np.shape(data['posedirs'])} / shapedirs {np.shape(data['shapedirs'])} "
                              f"do not fit {n_vertices} vertices")
    if COCOPLUS_REGRESSOR in data and (len(np.shape(data[COCOPLUS_REGRESSOR])) != 2
                                       or np.shape(data[COCOPLUS_REGRESSOR])[1] != n_vertices):
        raise SMPLFormatError(f"{path}: {COCOPLUS_REGRESSOR} has shape {np.shape(data[COCOPLUS_REGRESSOR])}, "
                              f"expected (joints, {n_vertices})")
    return data


def load_mean_params(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """HMR's mean SMPL parameters: (pose (72,) axis-angle radians, shape (10,) betas) from
    `neutral_smpl_meanwjoints.h5` (HDF5 datasets `pose` and `shape`, as the released code reads them)."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as source:
            missing = [k for k in ("pose", "shape") if k not in source]
            if missing:
                raise SMPLFormatError(f"{path}: no {missing} dataset; it has {sorted(source.keys())}. Expected "
                                      f"HMR's {MEAN_PARAMS_FILE}")
            pose = np.asarray(source["pose"][()], dtype=np.float32).reshape(-1)
            shape = np.asarray(source["shape"][()], dtype=np.float32).reshape(-1)
    except OSError as e:
        raise SMPLFormatError(f"{path}: not a readable HDF5 file ({e})") from e
    if pose.shape != (72,) or shape.shape[0] < 10:
        raise SMPLFormatError(f"{path}: pose has {pose.shape[0]} values (expected 72), shape {shape.shape[0]} "
                              f"(expected 10)")
    return pose, shape[:10]
