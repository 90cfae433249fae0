"""Tests of dataset reading, checking and preparation."""

import gzip
import hashlib
import http.server
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from klgap.data import datasets as data
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


class Mirrors:
    """Local HTTP mirrors on 127.0.0.1: one directory per mirror, and a log of requested paths."""

    def __init__(self, root: Path):
        self.root, self.requests = root, []
        log = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):
                log.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, mirror: str) -> str:
        """The base URL of one mirror (a directory below the root)."""
        return f"http://127.0.0.1:{self.server.server_port}/{mirror}/"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirrors(tmp_path, monkeypatch):
    """Small fake MNIST files served by local mirrors: good/, truncated/, wrong/ (none of any
    other name, so they answer 404); the published checksums are replaced by the fakes'."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setitem(data.SYSTEM_DIRS, "mnist", ())
    server = Mirrors(tmp_path / "served")
    rng = np.random.default_rng(5)
    shapes = {"train_images": (6, 3, 3), "train_labels": (6,), "test_images": (4, 3, 3),
              "test_labels": (4,)}
    raw_md5, gz_md5 = {}, {}
    for part, name in data.IDX_FILES.items():
        content = idx_bytes(rng.integers(0, 10, size=shapes[part], dtype=np.uint8))
        zipped = gzip.compress(content, mtime=0)
        raw_md5[name] = hashlib.md5(content).hexdigest()
        gz_md5[name] = hashlib.md5(zipped).hexdigest()
        for mirror, served in [("good", zipped), ("truncated", zipped[:len(zipped) // 2]),
                               ("wrong", gzip.compress(content + b"\x00", mtime=0))]:
            (tmp_path / "served" / mirror).mkdir(parents=True, exist_ok=True)
            (tmp_path / "served" / mirror / f"{name}.gz").write_bytes(served)
    monkeypatch.setitem(data.RAW_MD5, "mnist", raw_md5)
    monkeypatch.setitem(data.GZ_MD5, "mnist", gz_md5)
    yield server
    server.close()


def test_published_mirrors_are_https_and_every_file_has_both_checksums():
    for dataset, bases in data.MIRRORS.items():
        assert len(bases) >= 2 and all(base.startswith("https://") for base in bases), dataset
        assert set(data.GZ_MD5[dataset]) == set(data.RAW_MD5[dataset]) == set(
            data.IDX_FILES.values())


def test_download_falls_through_bad_mirrors_into_the_cache_and_is_not_repeated(mirrors,
                                                                                tmp_path,
                                                                                monkeypatch):
    monkeypatch.setitem(data.MIRRORS, "mnist", (mirrors.url("missing"), mirrors.url("truncated"),
                                                mirrors.url("wrong"), mirrors.url("good")))
    train, test, sources = data.load_idx_dataset("mnist", None)
    assert train.x.shape == (6, 9) and test.y.shape == (4,)
    cache = tmp_path / "cache" / "klgap" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        f"{name}.gz" for name in data.IDX_FILES.values())
    assert all(Path(source["path"]).parent == cache for source in sources.values())
    assert len(mirrors.requests) == 4 * 4
    # Cached and verified: a second load asks no mirror.
    data.load_idx_dataset("mnist", None)
    assert len(mirrors.requests) == 4 * 4


def test_download_from_only_bad_mirrors_fails_naming_each_and_keeps_nothing(mirrors, tmp_path,
                                                                             monkeypatch):
    bad = [mirrors.url("missing"), mirrors.url("truncated"), mirrors.url("wrong")]
    monkeypatch.setitem(data.MIRRORS, "mnist", tuple(bad))
    target = tmp_path / "idx"
    target.mkdir()
    with pytest.raises(UserError) as error:
        data.load_idx_dataset("mnist", target)
    message = str(error.value)
    assert "could not obtain train-images-idx3-ubyte" in message and "set data_dir" in message
    assert f"{bad[0]}train-images-idx3-ubyte.gz: 404" in message
    for url in bad[1:]:
        assert re.search(rf"{re.escape(url)}train-images-idx3-ubyte.gz: MD5 hash of downloaded "
                         "file .* does not match", message), url
    assert list(target.iterdir()) == []  # no partial or wrong file left behind
