"""Reading SMPL model files without chumpy.

The official SMPL `.pkl` files pickle some arrays as chumpy objects, and chumpy does not work with
numpy >= 2. A restricted unpickler maps every chumpy class to a stand-in that keeps its pickled state;
arrays are then taken from that state. Nothing from chumpy is imported or executed.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
from manifests.errors import InputError

REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
MODEL_FILES = {"neutral": ("SMPL_NEUTRAL.pkl", "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"),
               "female": ("SMPL_FEMALE.pkl", "basicModel_f_lbs_10_207_0_v1.0.0.pkl"),
               "male": ("SMPL_MALE.pkl", "basicmodel_m_lbs_10_207_0_v1.1.0.pkl")}


class SMPLFormatError(InputError, ValueError):
    """A file that is not an SMPL model as the official release ships it."""


class _ChumpyStandIn:
    """Whatever chumpy class was pickled: keeps the state so the array inside can be recovered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args

    def __setstate__(self, state: Any) -> None:
        self._state = state


class _NoChumpyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] == "chumpy":
            return _ChumpyStandIn
        return super().find_class(module, name)


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
    """The SMPL file for `gender` in `model_dir` (a file path is returned as it is)."""
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
    """The SMPL model's arrays by key (v_template, shapedirs, posedirs, J_regressor, weights, kintree_table, f)."""
    path = Path(path)
    try:
        with open(path, "rb") as source:
            data = _NoChumpyUnpickler(source, encoding="latin1").load()
    except (OSError, pickle.UnpicklingError, EOFError) as e:
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
    return data
