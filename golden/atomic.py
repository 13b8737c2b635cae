"""Writing artifacts atomically: the one place that does it.

Every file the flow, the benchmarks and the simulators write as a result goes through here.
A file is written under a temporary name in its own folder and renamed over the target only
once it is complete, so a reader (or a run stopped half-way, Ctrl-C included) never sees a
half-written file under the real name: it sees the old file or the new one.  A folder is built
under a temporary name beside its target and moved into place the same way
(:func:`atomic_folder`).

Files and folders get the mode a plain ``open()`` / ``mkdir()`` would give them (``0o666`` /
``0o777`` less the umask), not the ``0o600`` / ``0o700`` of :mod:`tempfile`: the temporary
names are created here with ``os.open(..., 0o666)`` and ``os.mkdir(..., 0o777)``, which the
kernel masks with the umask as usual.

This module imports nothing but the standard library, so every package may use it (``golden``
imports neither the generator nor the FPGA flow).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

__all__ = ["atomic_file", "atomic_folder", "atomic_path", "replace_folder_atomically", "save_npz_atomic",
           "write_bytes_atomic", "write_json_atomic", "write_text_atomic"]


def _temp_name(path: Path, kind: str = "") -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}{kind}.partial")


def _create(path: Path) -> tuple[int, Path]:
    """A new, empty file beside ``path`` (mode ``0o666`` less the umask) and its descriptor."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = _temp_name(path)
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: no free temporary name for {path.name}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary file beside ``path`` (created empty, normal mode) for a writer that wants a
    path (an external tool, ``torch.save``); renamed over ``path`` when the block ends without
    an exception, deleted when it raises."""
    path = Path(path)
    fd, tmp = _create(path)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """``open(path, mode)`` that lands at ``path`` only when the block ends without an
    exception (``mode`` is ``"w"`` or ``"wb"``)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_file writes a whole file: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    fd, tmp = _create(path)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": encoding})) as f:
            yield f
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_file(path, "wb") as f:
        f.write(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_file(path, "w") as f:
        f.write(text)


def write_json_atomic(path: str | os.PathLike, obj, *, indent: int = 2, sort_keys: bool = False) -> None:
    """``obj`` as JSON (``indent`` spaces, a final newline)."""
    write_text_atomic(path, json.dumps(obj, indent=indent, sort_keys=sort_keys) + "\n")


def save_npz_atomic(path: str | os.PathLike, *, compressed: bool = True, **arrays) -> None:
    """``numpy.savez_compressed`` (``savez`` with ``compressed=False``) to exactly ``path``
    (no ``.npz`` appended)."""
    import numpy as np

    with atomic_file(path, "wb") as f:
        (np.savez_compressed if compressed else np.savez)(f, **arrays)


def replace_folder_atomically(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Move a finished folder ``src`` into place at ``dst``, replacing any previous one (the
    old one is moved aside first and deleted after, so ``dst`` is never half old, half new)."""
    src, dst = Path(src), Path(dst)
    if dst.exists():
        old = dst.with_name(dst.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)


@contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """A new folder beside ``path`` (normal mode) to build in; moved into place at ``path``
    (replacing any previous one) when the block ends without an exception, deleted when it
    raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = _temp_name(path, ".dir")
        try:
            os.mkdir(tmp, 0o777)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"{path.parent}: no free temporary name for {path.name}")
    try:
        yield tmp
        replace_folder_atomically(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
