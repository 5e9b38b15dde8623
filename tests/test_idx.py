import gzip

import numpy as np
import pytest

from aemap.data.idx import IdxFormatError, read_idx, write_idx


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([-5, 7, 1 << 20], dtype=np.int32),
        np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2),
        np.array([[1.5, -2.25]], dtype=np.float64),
    ],
)
def test_round_trip(tmp_path, name, array):
    write_idx(tmp_path / name, array)
    back = read_idx(tmp_path / name)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_header_bytes_are_canonical(tmp_path):
    write_idx(tmp_path / "l.idx", np.array([3, 1, 4], dtype=np.uint8))
    assert (tmp_path / "l.idx").read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 3, 1, 4])


def test_bad_magic_names_the_file(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(IdxFormatError, match=r"bad\.idx: bad IDX magic number 0x12340801"):
        read_idx(path)


def test_unknown_type_code(tmp_path):
    path = tmp_path / "t.idx"
    path.write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 9]))
    with pytest.raises(IdxFormatError, match="bad IDX magic"):
        read_idx(path)


def test_truncated_body(tmp_path):
    path = tmp_path / "imgs.idx"
    write_idx(path, np.zeros((4, 5, 5), np.uint8))
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(IdxFormatError, match=r"truncated: header says shape \(4, 5, 5\) \(100 data bytes\), found 93"):
        read_idx(path)


def test_trailing_bytes(tmp_path):
    path = tmp_path / "x.idx"
    write_idx(path, np.zeros(3, np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(IdxFormatError, match="trailing bytes"):
        read_idx(path)


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "x.idx.gz"
    write_idx(path, np.arange(5000, dtype=np.int32))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(IdxFormatError, match="corrupt or truncated"):
        read_idx(path)


def test_a_missing_file_is_reported_missing_not_corrupt(tmp_path):
    with pytest.raises(FileNotFoundError, match="no/such.idx.gz"):
        read_idx(tmp_path / "no/such.idx.gz")


def test_wrong_number_of_dimensions(tmp_path):
    path = tmp_path / "labels.idx"
    write_idx(path, np.zeros(3, np.uint8))
    with pytest.raises(IdxFormatError, match="has 1 dimensions, expected 3"):
        read_idx(path, expect_ndim=3)


def test_too_short(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(b"\x00\x00")
    with pytest.raises(IdxFormatError, match="too short"):
        read_idx(path)


def test_gzip_output_is_reproducible(tmp_path):
    a = np.arange(100, dtype=np.uint8)
    write_idx(tmp_path / "1.gz", a)
    write_idx(tmp_path / "2.gz", a)
    assert (tmp_path / "1.gz").read_bytes() == (tmp_path / "2.gz").read_bytes()
    assert gzip.decompress((tmp_path / "1.gz").read_bytes())[:4] == b"\x00\x00\x08\x01"


def test_real_mnist_test_labels(shared_data):
    labels = read_idx(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz", expect_ndim=1)
    # Per-class counts of the MNIST test set (shared/data/README.md).
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    images = read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz", expect_ndim=3)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8 and images.max() == 255
