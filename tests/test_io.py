import os
import stat

import numpy as np
import pytest

from aemap.io import atomic_path, load_npz, save_npz, write_json


def test_save_npz_round_trip_and_identical_bytes(tmp_path):
    arrays = {"x": np.arange(12, dtype=np.float32).reshape(3, 4), "classes": np.array(["a", "b"])}
    save_npz(tmp_path / "a.npz", **arrays)
    save_npz(tmp_path / "b.npz", **arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    back = load_npz(tmp_path / "a.npz")
    np.testing.assert_array_equal(back["x"], arrays["x"])
    assert back["classes"].tolist() == ["a", "b"]


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_is_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "x.json", {"b": 1, "a": np.int64(2)})
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "x.json").stat().st_mode)
    assert mode == 0o644
    assert (tmp_path / "x.json").read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
