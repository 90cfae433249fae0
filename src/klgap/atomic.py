"""Atomic file output: write under a temporary name in the same directory, then rename.

A reader never sees a half-written file, and a killed process leaves at most a stray
``.tmp-*`` file, never a truncated output under the real name.
"""

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; renames it onto ``path`` if the block succeeds.

    Args:
      path: the final output path. Its parent directory is created if missing.

    Yields:
      A temporary path with the same suffix (so libraries that infer the format still work).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".tmp-{path.stem}-", suffix=path.suffix,
                                    dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    """Writes ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Writes ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def savez(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Saves arrays to an uncompressed ``.npz`` at ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Loads every array of an ``.npz`` file into memory, refusing pickled objects."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def remove_stale_temporaries(directory: str | os.PathLike) -> None:
    """Deletes ``.tmp-*`` files left in ``directory`` by a writer that was killed.

    Call it only where no other process writes at the same time (e.g. a run's own directory).
    """
    for stale in Path(directory).glob(".tmp-*"):
        stale.unlink(missing_ok=True)
