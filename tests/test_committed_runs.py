"""Issue 17: re-checking a committed run (bench/models/<name>) works wherever its data is
(DATA_DIR= for eval, vectors and export) and rewrites no committed file: eval re-checks into
build/<run>/eval.json and says whether it agrees with the committed figures, vectors rewrites a
committed vector file only with FORCE=1.  A throwaway git repository stands for the project."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from flow import paths
from flow.__main__ import main
from flow_cli import cli, one_error_line
from golden import load_vectors

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="no git")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def committed_run(digits_run, tmp_path, capsys):
    """A copy of the digits run inside a git repository, its eval.json and vectors.npz tracked."""
    repo = tmp_path / "repo"
    run = repo / "bench" / "models" / "digits_copy"
    shutil.copytree(digits_run["dir"], run)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    rc, _, err = cli(capsys, "eval", run)                          # not tracked yet: written in place
    assert rc == 0, err
    assert (run / "eval.json").is_file()
    subprocess.run(["git", "add", "bench/models/digits_copy/eval.json", "bench/models/digits_copy/vectors.npz"],
                   cwd=repo, check=True)
    yield run
    shutil.rmtree(paths.build_dir(str(run)), ignore_errors=True)


def test_committed_helper(committed_run, tmp_path):
    assert paths.committed(committed_run / "eval.json") and paths.committed(committed_run / "vectors.npz")
    assert not paths.committed(committed_run / "export.json")          # in the repository, not added
    assert not paths.committed(tmp_path / "nowhere" / "x.json") and not paths.committed(tmp_path / "x.json")
    assert paths.committed(ROOT / "README.md")


def test_eval_of_a_committed_run_leaves_its_eval_json(committed_run, capsys):
    before = digest(committed_run / "eval.json")
    rc, out, err = cli(capsys, "eval", committed_run)
    assert rc == 0, err
    assert digest(committed_run / "eval.json") == before
    recheck = paths.build_dir(str(committed_run)) / "eval.json"
    assert json.loads(recheck.read_text())["golden_accuracy"] == json.loads(
        (committed_run / "eval.json").read_text())["golden_accuracy"]
    assert f"-> {recheck}" in out and "is committed and left as it is" in out and "agrees with its figures" in out

    doc = json.loads((committed_run / "eval.json").read_text())        # a committed figure that no longer holds
    (committed_run / "eval.json").write_text(json.dumps({**doc, "golden_accuracy": 0.5}))
    rc, out, err = cli(capsys, "eval", committed_run)
    assert rc == 0, err
    assert "differs from it: golden_accuracy" in out and "0.5 there" in out
    assert json.loads((committed_run / "eval.json").read_text())["golden_accuracy"] == 0.5


def test_vectors_of_a_committed_run_need_force(committed_run, capsys):
    before = digest(committed_run / "vectors.npz")
    rc, out, err = cli(capsys, "vectors", committed_run, "--n", "5")
    one_error_line(rc, err, str(committed_run / "vectors.npz"), "committed", "FORCE=1")
    assert digest(committed_run / "vectors.npz") == before
    rc, out, err = cli(capsys, "vectors", committed_run, "--n", "5", "--force")
    assert rc == 0, err
    assert len(load_vectors(committed_run / "vectors.npz", committed_run / "model")["images"]) == 5


def test_a_run_outside_git_writes_in_place(digits_run, tmp_path, capsys):
    run = tmp_path / "loose"
    shutil.copytree(digits_run["dir"], run)
    try:
        assert cli(capsys, "eval", run, "--limit", "20")[0] == 0
        assert json.loads((run / "eval.json").read_text())["images"] == 20
        assert cli(capsys, "vectors", run, "--n", "3")[0] == 0
        assert len(load_vectors(run / "vectors.npz", run / "model")["images"]) == 3
    finally:
        shutil.rmtree(paths.build_dir(str(run)), ignore_errors=True)


@pytest.fixture(scope="module")
def moved_fashion_run(tmp_path_factory):
    """A tiny Fashion-MNIST-shaped run whose data folder has moved since it was trained."""
    from test_cli_inputs import write_idx_set

    base = tmp_path_factory.mktemp("moved")
    data_dir = write_idx_set(base / "data")
    run = base / "fashion_run"
    assert main(["train", str(run), "--dataset", "fashion_mnist", "--data-dir", str(data_dir), "--hidden", "16",
                 "--T", "2", "--epochs", "1", "--batch-size", "16"]) == 0
    assert main(["export", str(run)]) == 0
    moved = data_dir.rename(base / "elsewhere")
    return {"dir": run, "old": data_dir, "data": moved}


def test_data_dir_finds_a_moved_dataset(moved_fashion_run, capsys):
    run, moved = moved_fashion_run["dir"], moved_fashion_run["data"]
    for step in ("eval", "vectors", "export"):
        rc, _, err = cli(capsys, step, run)
        one_error_line(rc, err, str(moved_fashion_run["old"]), "DATA_DIR=")
    rc, out, err = cli(capsys, "eval", run, "--data-dir", moved)
    assert rc == 0, err
    assert json.loads((run / "eval.json").read_text())["images"] == 16
    rc, out, err = cli(capsys, "vectors", run, "--data-dir", moved, "--n", "4")
    assert rc == 0, err
    assert len(load_vectors(run / "vectors.npz", run / "model")["images"]) == 4
    rc, out, err = cli(capsys, "export", run, "--data-dir", moved)
    assert rc == 0, err
    rc, _, err = cli(capsys, "eval", run, "--data-dir", moved / "nope")
    one_error_line(rc, err, str(moved / "nope"))


def test_digits_take_no_data_dir(digits_run, tmp_path, capsys):
    rc, _, err = cli(capsys, "eval", digits_run["dir"], "--data-dir", tmp_path)
    one_error_line(rc, err, f"DATA_DIR={tmp_path}", "digits")


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_passes_data_dir_and_force():
    def dry(target, *args):
        r = subprocess.run(["make", "-n", target, "MODEL=x", *args], cwd=ROOT, capture_output=True, text=True)
        joined = r.stdout.replace("\\\n", " ")
        return [line.split() for line in joined.splitlines() if "-m flow" in line]

    (ev,) = dry("eval", "DATA_DIR=/d")
    assert ev[ev.index("--data-dir") + 1] == "/d"
    (vec,) = dry("vectors", "DATA_DIR=/d", "FORCE=1", "N=5")
    assert vec[vec.index("--data-dir") + 1] == "/d" and "--force" in vec and vec[vec.index("--n") + 1] == "5"
    (plain,) = dry("vectors")
    assert "--force" not in plain and "--data-dir" not in plain
    (exp,) = dry("export", "DATA_DIR=/d")
    assert exp[exp.index("--data-dir") + 1] == "/d"
    train = dry("train", "DATASET=mnist", "DATA_DIR=/d")
    assert all(line[line.index("--data-dir") + 1] == "/d" for line in train) and len(train) == 2
