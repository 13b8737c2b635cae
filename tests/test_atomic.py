"""golden.atomic: whole files or nothing, the old file intact when a write fails, and the mode a
plain open() gives (0o666 / 0o777 less the umask), not tempfile's 0o600; the flow's bundle,
vectors and run files through it."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from golden.atomic import (atomic_file, atomic_folder, atomic_path, save_npz_atomic, write_bytes_atomic,
                           write_json_atomic, write_text_atomic)


@pytest.fixture
def umask():
    """Set a umask for the test (restored after)."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750),
                                                       (0o002, 0o664, 0o775)])
def test_written_files_get_the_umask_mode(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    write_text_atomic(tmp_path / "a.txt", "hello\n")
    write_bytes_atomic(tmp_path / "b.bin", b"\x00\x01")
    write_json_atomic(tmp_path / "c.json", {"x": [1, 2]})
    save_npz_atomic(tmp_path / "d.npz", a=np.arange(3))
    with atomic_path(tmp_path / "e.bit") as tmp:
        tmp.write_bytes(b"bits")                     # a tool writing to the path it is given
    with atomic_folder(tmp_path / "f") as folder:
        (folder / "inside.txt").write_text("x")
    for name in ("a.txt", "b.bin", "c.json", "d.npz", "e.bit"):
        assert _mode(tmp_path / name) == file_mode, name
    assert _mode(tmp_path / "f") == dir_mode
    assert (tmp_path / "a.txt").read_text() == "hello\n" and (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert json.loads((tmp_path / "c.json").read_text()) == {"x": [1, 2]}
    assert (tmp_path / "c.json").read_text().endswith("]\n}\n")
    assert np.load(tmp_path / "d.npz")["a"].tolist() == [0, 1, 2]     # no .npz appended to the name
    assert (tmp_path / "e.bit").read_bytes() == b"bits" and (tmp_path / "f" / "inside.txt").read_text() == "x"
    assert _leftovers(tmp_path) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic(path, {"old": True})
    with pytest.raises(RuntimeError, match="stopped"):
        with atomic_file(path) as f:
            f.write('{"new": ')
            raise RuntimeError("stopped half-way")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(path) as tmp:
            tmp.write_text("partial")
            raise KeyboardInterrupt
    with pytest.raises(TypeError):
        write_json_atomic(path, {"not json": object()})
    assert json.loads(path.read_text()) == {"old": True}
    assert _leftovers(tmp_path) == []
    with pytest.raises(ValueError, match="mode 'w' or 'wb'"):
        with atomic_file(path, "a"):
            pass


def test_a_folder_replaces_the_old_one_whole_or_not_at_all(tmp_path):
    out = tmp_path / "rtl"
    with atomic_folder(out) as d:
        (d / "one.v").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_folder(out) as d:
            (d / "two.v").write_text("2")
            raise RuntimeError("generator failed")
    assert sorted(p.name for p in out.iterdir()) == ["one.v"]
    with atomic_folder(out) as d:
        (d / "two.v").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["two.v"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rtl"]


def test_the_flows_run_bundle_and_vectors_are_readable_by_group_and_other(tmp_path, umask):
    """Issue 17: bundles and vectors were written 0600 (mkstemp).  Under umask 022 every file
    the flow writes into a run folder is 0644 (and its folders 0755)."""
    from flow.__main__ import main as flow_main
    from training.train import train

    umask(0o022)
    run = tmp_path / "run"
    train(run, hidden=(16,), T=2, epochs=1, batch_size=64, limit=64, progress=False, device="cpu")
    assert flow_main(["export", str(run)]) == 0
    assert flow_main(["vectors", str(run), "--n", "5"]) == 0
    files = sorted(p for p in run.rglob("*") if p.is_file())
    names = {str(p.relative_to(run)) for p in files}
    assert {"checkpoint.pt", "metrics.json", "config.json", "export.json", "vectors.npz", "model/model.json",
            "model/model.npz"} <= names
    assert {str(p.relative_to(run)): oct(_mode(p)) for p in files} == {n: oct(0o644) for n in names}
    assert _mode(run / "model") == 0o755
    assert not [p for p in run.rglob(".*")]
