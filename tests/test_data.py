"""Tests of dataset reading, checking and preparation."""

import gzip
import hashlib

import numpy as np
import pytest

from klgap import data
from klgap.errors import UserError


def idx_bytes(array: np.ndarray) -> bytes:
    """Encodes a uint8 array as an IDX file (independent of the reader under test)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_parse_idx_roundtrip_random_shapes():
    rng = np.random.default_rng(1)
    for ndim in (1, 2, 3):
        shape = tuple(rng.integers(1, 7, size=ndim))
        array = rng.integers(0, 256, size=shape, dtype=np.uint8)
        np.testing.assert_array_equal(data.parse_idx(idx_bytes(array), "x"), array)


@pytest.mark.parametrize("corrupt, message", [
    (lambda b: b[:-3], "truncated or corrupt"),
    (lambda b: b + b"\x00", "truncated or corrupt"),
    (lambda b: b"\x08\x03" + b[2:], "not an IDX file"),
    (lambda b: b[:2] + b"\x42" + b[3:], "unknown type"),
    (lambda b: b[:10], "truncated IDX header"),
])
def test_parse_idx_rejects_bad_files(corrupt, message):
    array = np.random.default_rng(2).integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    with pytest.raises(UserError, match=message):
        data.parse_idx(corrupt(idx_bytes(array)), "bad-file")


def test_read_verified_accepts_gzip_and_plain_and_names_checksum_mismatch(tmp_path):
    content = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))
    md5 = hashlib.md5(content).hexdigest()
    (tmp_path / "plain").write_bytes(content)
    (tmp_path / "zipped.gz").write_bytes(gzip.compress(content))
    assert data.read_verified(tmp_path / "plain", md5) == content
    assert data.read_verified(tmp_path / "zipped.gz", md5) == content
    with pytest.raises(UserError, match=f"checksum mismatch.*expected {'0' * 32}"):
        data.read_verified(tmp_path / "plain", "0" * 32)
    (tmp_path / "broken.gz").write_bytes(gzip.compress(content)[:-8])
    with pytest.raises(UserError, match="corrupt gzip"):
        data.read_verified(tmp_path / "broken.gz", md5)


def test_idx_dataset_from_data_dir_rejects_modified_file(tmp_path, monkeypatch):
    """A local copy whose content differs from the published file fails, naming the file."""
    monkeypatch.setitem(data.SYSTEM_DIRS, "mnist", ())
    for name in data.IDX_FILES.values():
        (tmp_path / name).write_bytes(idx_bytes(np.zeros((2, 2), np.uint8)))
    with pytest.raises(UserError, match="train-images-idx3-ubyte: checksum mismatch"):
        data.load_idx_dataset("mnist", tmp_path)


def test_unknown_dataset_and_missing_data_dir(tmp_path):
    with pytest.raises(UserError, match="unknown dataset 'cifar'"):
        data.prepare("cifar", None, seed=0)
    with pytest.raises(UserError, match="does not exist"):
        data.prepare("mnist", tmp_path / "nowhere", seed=0)


def test_digits_split_is_stratified_and_stable(digits_npz):
    arrays = data.load(digits_npz)
    again = data.prepare("digits", None, seed=0)
    for key in ("x_train", "y_test", "x_test_binary", "train_eval_index"):
        np.testing.assert_array_equal(arrays[key], again[key])
    assert len(arrays["x_train"]) + len(arrays["x_test"]) == 1797
    train_freq = np.bincount(arrays["y_train"]) / len(arrays["y_train"])
    test_freq = np.bincount(arrays["y_test"]) / len(arrays["y_test"])
    np.testing.assert_allclose(train_freq, test_freq, atol=0.01)
    other = data.prepare("digits", None, seed=1)
    assert not np.array_equal(other["y_test"], arrays["y_test"])


def test_fixed_binarization_and_train_subset(digits_npz):
    arrays = data.load(digits_npz)
    assert set(np.unique(arrays["x_test_binary"])) <= {0, 1}
    assert arrays["x_train_eval_binary"].shape == arrays["x_test"].shape
    np.testing.assert_array_equal(arrays["y_train_eval"],
                                  arrays["y_train"][arrays["train_eval_index"]])
    # the bits are Bernoulli draws of the grey levels: mean bit tracks mean grey level
    assert abs(arrays["x_test_binary"].mean() - arrays["x_test"].mean()) < 0.01
    assert arrays["x_train"].min() >= 0 and arrays["x_train"].max() <= 1


@pytest.mark.skipif(not data.SYSTEM_DIRS["fashion_mnist"][0].is_dir(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian_package():
    train, test, sources = data.load_idx_dataset("fashion_mnist", None)
    assert train.x.shape == (60000, 784) and test.x.shape == (10000, 784)
    assert np.array_equal(np.bincount(test.y), np.full(10, 1000))
    assert len(sources) == 4
