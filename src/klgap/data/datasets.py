"""Datasets: reading, checking and preparing them as one ``.npz`` file each.

``digits`` is scikit-learn's bundled copy of the UCI handwritten digits (8x8). ``fashion_mnist``
and ``mnist`` are the four standard IDX files each, looked for in order in the configured
``data_dir``, in Debian's package directory (Fashion-MNIST only), and finally downloaded over
HTTPS with ``pooch`` (each mirror in turn, the published ``.gz`` checked against its MD5 before it
is kept, a progress bar, the standard cache directory). Every IDX file is accepted only if the MD5
of its decompressed content equals the published one (so gzipped, re-gzipped and plain copies are
all recognised) and its header is consistent.

A dataset is a name in ``LOADERS`` (and in the schema's ``datasets`` enum) mapped to a loader
that returns the train and test splits; ``load_npz_source`` reads a dataset kept as one ``.npz``
of ``x_train, y_train, x_test, y_test`` (docs/extending.md).
"""

import argparse
import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pooch

from klgap import atomic
from klgap.errors import UserError

IDX_FILES = {  # split part -> file name (without .gz)
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# MD5 of the decompressed IDX files, as published with the datasets.
RAW_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}
# MD5 of the gzipped files as published (and served by the mirrors): checked while downloading.
GZ_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
MIRRORS = {  # HTTPS only, tried in order; files are <name>.gz under each base URL
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion_mnist": (
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
}
SYSTEM_DIRS = {"fashion_mnist": (Path("/usr/share/datasets/fashion-mnist"),)}
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
DIGITS_TEST_FRACTION = 0.2


@dataclass
class Split:
    """One dataset split: images flattened to [0, 1] and integer labels."""

    x: np.ndarray  # (N, P) float32 in [0, 1]
    y: np.ndarray  # (N,) int64


def parse_idx(content: bytes, name: str) -> np.ndarray:
    """Parses an IDX file, checking the magic number, dimensions and length against the header.

    Args:
      content: the decompressed file content.
      name: the file's name, for error messages.

    Returns:
      The array with the header's shape and type.

    Raises:
      UserError: if the header is not IDX or the data length disagrees with the dimensions.
    """
    if len(content) < 4 or content[0] != 0 or content[1] != 0:
        raise UserError(f"{name}: not an IDX file (magic {content[:4].hex() or 'empty'}; expected "
                        "00 00 <type> <ndim>). Replace it with the original dataset file.")
    type_code, ndim = content[2], content[3]
    if type_code not in IDX_DTYPES or ndim < 1:
        raise UserError(f"{name}: IDX magic has unknown type 0x{type_code:02x} or ndim {ndim}. "
                        "Replace it with the original dataset file.")
    header_len = 4 + 4 * ndim
    if len(content) < header_len:
        raise UserError(f"{name}: truncated IDX header ({len(content)} bytes). "
                        "Download or copy the file again.")
    dims = tuple(int(d) for d in np.frombuffer(content, ">u4", ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[type_code])
    expected = header_len + int(np.prod(dims)) * dtype.itemsize
    if len(content) != expected:
        raise UserError(f"{name}: IDX length {len(content)} bytes, but header dimensions {dims} "
                        f"need {expected}. The file is truncated or corrupt: copy it again.")
    return np.frombuffer(content, dtype, offset=header_len).reshape(dims)


def read_verified(path: Path, expected_md5: str) -> bytes:
    """Reads an IDX file (gzipped or not) and checks the MD5 of its decompressed content.

    Args:
      path: the file.
      expected_md5: the published MD5 of the decompressed content.

    Returns:
      The decompressed content.

    Raises:
      UserError: if the file cannot be decompressed or its checksum differs.
    """
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise UserError(f"{path}: corrupt gzip ({error}). Delete it and copy or download "
                            "it again.") from None
    actual = hashlib.md5(raw).hexdigest()
    if actual != expected_md5:
        raise UserError(f"{path}: checksum mismatch: MD5 of content is {actual}, expected "
                        f"{expected_md5}. The file is not the published one; replace it.")
    return raw


def find_local(name: str, directories: list[Path]) -> Path | None:
    """Returns the first ``<dir>/<name>`` or ``<dir>/<name>.gz`` that exists, else None."""
    for directory in directories:
        for candidate in (directory / f"{name}.gz", directory / name):
            if candidate.is_file():
                return candidate
    return None


def download(dataset: str, name: str, target_dir: Path) -> Path:
    """Downloads ``<name>.gz`` with pooch from the dataset's mirrors into ``target_dir``, verified.

    Each mirror is tried in turn. pooch writes to a temporary file, checks the published MD5 of
    the ``.gz`` and only then renames it into place (so a truncated or wrong download leaves no
    file); an existing file with the right checksum is not downloaded again.

    Args:
      dataset: ``mnist`` or ``fashion_mnist``.
      name: the IDX file name without ``.gz``.
      target_dir: where the verified file is kept.

    Returns:
      The path of the downloaded file.

    Raises:
      UserError: if no mirror delivered a file with the published checksum, naming each failure.
    """
    failures = []
    for base in MIRRORS[dataset]:
        url = base + name + ".gz"
        try:
            path = Path(pooch.retrieve(url, known_hash=f"md5:{GZ_MD5[dataset][name]}",
                                       fname=f"{name}.gz", path=target_dir, progressbar=True))
        except (OSError, ValueError) as error:  # requests' errors are OSErrors; hash: ValueError
            failures.append(f"{url}: {str(error).splitlines()[0].rstrip('.')}")
            continue
        try:
            read_verified(path, RAW_MD5[dataset][name])
        except UserError as error:
            path.unlink(missing_ok=True)
            failures.append(f"{url}: {str(error).rstrip('.')}")
            continue
        return path
    raise UserError(f"could not obtain {name} for {dataset}: " + "; ".join(failures) +
                    ". Check the network (or a proxy), or put the four IDX files in a directory "
                    "and set data_dir to it.")


def load_idx_dataset(dataset: str, data_dir: Path | None) -> tuple[Split, Split, dict]:
    """Loads an IDX dataset from ``data_dir``, the system directory, or the mirrors.

    Args:
      dataset: ``mnist`` or ``fashion_mnist``.
      data_dir: a directory holding the files (gzipped or not), or None. Downloads land here,
        or in pooch's cache for klgap when it is None (``~/.cache/klgap/<dataset>`` on Linux,
        or under ``$XDG_CACHE_HOME``).

    Returns:
      The train and test splits and a dict of the source files with their sha256.
    """
    directories = ([data_dir] if data_dir else []) + list(SYSTEM_DIRS.get(dataset, ()))
    download_dir = data_dir or Path(pooch.os_cache("klgap")) / dataset
    arrays, sources = {}, {}
    for part, name in IDX_FILES.items():
        path = find_local(name, directories) or download(dataset, name, download_dir)
        content = read_verified(path, RAW_MD5[dataset][name])
        arrays[part] = parse_idx(content, str(path))
        sources[name] = {"path": str(path), "sha256": hashlib.sha256(content).hexdigest()}
    splits = []
    for prefix in ("train", "test"):
        images, labels = arrays[f"{prefix}_images"], arrays[f"{prefix}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise UserError(f"{dataset} {prefix}: images {images.shape} and labels {labels.shape} "
                            "do not match. Replace the IDX files with the published ones.")
        x = images.reshape(len(images), -1).astype(np.float32) / 255.0
        splits.append(Split(x, labels.astype(np.int64)))
    return splits[0], splits[1], sources


def load_digits(seed: int) -> tuple[Split, Split, dict]:
    """Loads scikit-learn's UCI digits with a stratified 80/20 split drawn from ``seed``."""
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    x = (bunch.data / 16.0).astype(np.float32)  # (1797, 64) in [0, 1]
    y = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=DIGITS_TEST_FRACTION, stratify=y, random_state=seed)
    digest = hashlib.sha256(np.ascontiguousarray(bunch.data)).hexdigest()
    sources = {"sklearn.datasets.load_digits": {"sha256_of_data_array": digest}}
    return Split(x_train, y_train), Split(x_test, y_test), sources


def load_npz_source(path: Path) -> tuple[Split, Split, dict]:
    """Loads a dataset kept as one ``.npz``: ``x_train``, ``y_train``, ``x_test``, ``y_test``.

    Images may be uint8 grey levels (0-255) or floats in [0, 1], of any shape per example (they
    are flattened); labels integers.

    Args:
      path: the ``.npz`` file.

    Returns:
      The train and test splits and a dict of the source file with its sha256.

    Raises:
      UserError: a missing file or array, mismatched lengths, or values outside [0, 1].
    """
    if not path.is_file():
        raise UserError(f"{path} not found; put the dataset's .npz (x_train, y_train, x_test, "
                        "y_test) there, or set data_dir to its directory.")
    with np.load(path) as arrays:
        missing = sorted({"x_train", "y_train", "x_test", "y_test"} - set(arrays.files))
        if missing:
            raise UserError(f"{path} lacks the arrays {', '.join(missing)}; save the dataset with "
                            "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...).")
        parts = {name: arrays[name] for name in ("x_train", "y_train", "x_test", "y_test")}
    splits = []
    for prefix in ("train", "test"):
        images, labels = parts[f"x_{prefix}"], parts[f"y_{prefix}"]
        if len(images) != len(labels) or labels.ndim != 1:
            raise UserError(f"{path}: x_{prefix} {images.shape} and y_{prefix} {labels.shape} do "
                            "not match; give one integer label per image.")
        x = images.reshape(len(images), -1).astype(np.float32)  # (N, P)
        if images.dtype == np.uint8:
            x /= 255.0
        if not np.all((x >= 0) & (x <= 1)):
            raise UserError(f"{path}: x_{prefix} has values outside [0, 1]; give grey levels in "
                            "[0, 1] or uint8 0-255.")
        splits.append(Split(x, labels.astype(np.int64)))
    sources = {str(path): {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}}
    return splits[0], splits[1], sources


# dataset -> loader(data_dir, seed) returning (train, test, sources)
LOADERS = {
    "digits": lambda data_dir, seed: load_digits(seed),
    "fashion_mnist": lambda data_dir, seed: load_idx_dataset("fashion_mnist", data_dir),
    "mnist": lambda data_dir, seed: load_idx_dataset("mnist", data_dir),
}


def prepare(dataset: str, data_dir: Path | None, seed: int) -> dict[str, np.ndarray]:
    """Loads a dataset and adds the fixed evaluation subsets and binarizations.

    Args:
      dataset: one of ``LOADERS``.
      data_dir: directory of local IDX files, or None.
      seed: seed of the digits split, the train evaluation subset and the fixed binarizations.

    Returns:
      The arrays to store (see docs/interfaces.md).
    """
    if dataset not in LOADERS:
        raise UserError(f"unknown dataset {dataset!r}; choose one of {', '.join(LOADERS)}.")
    if data_dir is not None and not data_dir.is_dir():
        raise UserError(f"data directory {data_dir} does not exist. Create it and put the IDX "
                        "files there, or remove data_dir from the config.")
    train, test, sources = LOADERS[dataset](data_dir, seed)
    rng = np.random.default_rng(seed)
    train_eval_index = np.sort(rng.choice(len(train.x), size=len(test.x), replace=False))
    x_train_eval = train.x[train_eval_index]
    return {
        "x_train": train.x, "y_train": train.y, "x_test": test.x, "y_test": test.y,
        "train_eval_index": train_eval_index.astype(np.int64),
        "y_train_eval": train.y[train_eval_index],
        "x_train_eval_binary": (rng.random(x_train_eval.shape) < x_train_eval).astype(np.uint8),
        "x_test_binary": (rng.random(test.x.shape) < test.x).astype(np.uint8),
        # Drawn after the arrays above, which therefore stay as they were before these existed.
        "x_train_binary": (rng.random(train.x.shape) < train.x).astype(np.uint8),
        "nested_order": rng.permutation(len(train.x)).astype(np.int64),
        "dataset": np.array(dataset),
        "seed": np.array(seed),
        "sources_json": np.array(json.dumps(sources, sort_keys=True)),
    }


# The arrays of a prepared dataset with one row per training (test) example, and those that hold
# row numbers of the training split (``select_classes``).
TRAIN_ROWS = ("x_train", "y_train", "x_train_binary")
TEST_ROWS = ("x_test", "y_test", "x_test_binary")
TRAIN_EVAL_ROWS = ("y_train_eval", "x_train_eval_binary")  # rows of train_eval_index


def select_classes(arrays: dict[str, np.ndarray], classes) -> dict[str, np.ndarray]:
    """Keeps only the examples of some classes, in both splits (e.g. the ones alone: [1]).

    Every array of the prepared dataset is filtered alike: the rows of the training and test
    splits and of their binarizations keep their order, and the row numbers into the training
    split (``train_eval_index``, ``nested_order``) are kept where they point to a kept example and
    renumbered, so ``nested_order``'s prefixes are still nested subsets, now of the kept examples.
    The fixed binarizations are the prepared ones (not drawn again). ``classes`` records the
    selection.

    Args:
      arrays: a prepared dataset, as from ``load`` (or ``prepare``).
      classes: the labels to keep.

    Returns:
      A new dict of arrays.

    Raises:
      UserError: a class with no training or no test example.
    """
    classes = np.array(sorted({int(c) for c in classes}), dtype=np.int64)
    keep_train = np.isin(arrays["y_train"], classes)  # (N,)
    keep_test = np.isin(arrays["y_test"], classes)  # (M,)
    for split, labels in (("training", arrays["y_train"]), ("test", arrays["y_test"])):
        missing = [int(c) for c in classes if not np.any(labels == c)]
        if missing:
            raise UserError(f"no {split} example has the label(s) {missing}; the labels of "
                            f"{arrays.get('dataset', 'the dataset')} are "
                            f"{sorted(set(int(y) for y in labels))}. Fix the classes.")
    new_row = np.cumsum(keep_train) - 1  # old training row -> new row (where kept)
    selected = dict(arrays)
    for key in TRAIN_ROWS:
        if key in arrays:
            selected[key] = arrays[key][keep_train]
    for key in TEST_ROWS:
        if key in arrays:
            selected[key] = arrays[key][keep_test]
    if "train_eval_index" in arrays:
        kept = keep_train[arrays["train_eval_index"]]
        selected["train_eval_index"] = new_row[arrays["train_eval_index"][kept]]
        for key in TRAIN_EVAL_ROWS:
            if key in arrays:
                selected[key] = arrays[key][kept]
    if "nested_order" in arrays:
        order = arrays["nested_order"]
        selected["nested_order"] = new_row[order[keep_train[order]]]
    selected["classes"] = classes
    return selected


def load(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Loads a prepared dataset, with a clear error if it is missing."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"prepared dataset {path} not found; run `python -m klgap prepare` first.")
    return atomic.load_npz(path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``prepare`` command's arguments."""
    parser.add_argument("--dataset", required=True, help=f"one of {', '.join(LOADERS)}")
    parser.add_argument("--out", required=True, type=Path, help="output .npz path")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="directory with the four IDX files (gzipped or not)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the digits split, train subset and fixed binarization")


def main(args: argparse.Namespace) -> None:
    """Runs ``prepare``: writes the dataset's ``.npz`` atomically."""
    arrays = prepare(args.dataset, args.data_dir, args.seed)
    atomic.savez(args.out, **arrays)
    print(f"prepared {args.dataset}: train {arrays['x_train'].shape}, "
          f"test {arrays['x_test'].shape} -> {args.out}")
