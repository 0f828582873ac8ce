"""3DPW's Python 2 pickles are read with numpy arrays only; anything else a pickle names is refused."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from published.py2pickle import PickleFormatError, load_py2_pickle
from published_fixtures import write_py2_pickle


def test_a_python2_pickle_of_arrays_reads_back_with_its_bytes_and_str_keys(tmp_path):
    arrays = {"poses": [np.linspace(-1, 1, 12).reshape(3, 4)], "valid": np.array([True, False, True]),
              "ids": np.arange(5, dtype=np.int64), "gender": ["m", "f"], "name": "caf\xe9"}
    # Bytes >= 0x80 in the raw data: exactly what needs encoding='latin1' (a utf-8 read fails on them).
    assert any(b >= 0x80 for b in arrays["poses"][0].tobytes())
    write_py2_pickle(tmp_path / "seq.pkl", arrays)
    with pytest.raises(UnicodeDecodeError):
        with open(tmp_path / "seq.pkl", "rb") as source:
            pickle.Unpickler(source).load()  # Python 3's default ascii/utf-8 reading of Python 2 strings
    loaded = load_py2_pickle(tmp_path / "seq.pkl")
    assert sorted(loaded) == ["gender", "ids", "name", "poses", "valid"]
    assert np.array_equal(loaded["poses"][0], arrays["poses"][0]) and loaded["poses"][0].dtype == np.float64
    assert loaded["valid"].dtype == bool and loaded["valid"].tolist() == [True, False, True]
    assert loaded["ids"].dtype == np.int64 and loaded["gender"] == ["m", "f"] and loaded["name"] == "caf\xe9"


def test_a_pickle_that_names_anything_but_numpy_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(b"\x80\x02cos\nsystem\nU\x04trueR.")  # os.system("true")
    with pytest.raises(PickleFormatError, match=r"evil\.pkl: the pickle names os\.system"):
        load_py2_pickle(path)
    (tmp_path / "cut.pkl").write_bytes((tmp_path / "evil.pkl").read_bytes()[:5])
    with pytest.raises(PickleFormatError, match=r"cut\.pkl: not a readable pickle"):
        load_py2_pickle(tmp_path / "cut.pkl")
