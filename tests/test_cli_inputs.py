"""Issue 17: the command line refuses bad settings in one line naming them (exit 2), leaves nothing
half-written behind, and `flow demo` fails when the RTL or the timing does."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flow import paths, steps
from flow.__main__ import main
from flow_cli import cli, one_error_line

ROOT = Path(__file__).resolve().parent.parent


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_idx_set(folder: Path, *, n_train=48, n_test=16, side=28, seed=0) -> Path:
    """A tiny MNIST-layout folder (the four gzipped IDX files)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, side, side)),
              "train-labels-idx1-ubyte": np.arange(n_train) % 10,
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, side, side)),
              "t10k-labels-idx1-ubyte": np.arange(n_test) % 10}
    for name, a in arrays.items():
        head = bytes([0, 0, 8, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
        with gzip.open(folder / f"{name}.gz", "wb") as f:
            f.write(head + a.astype(np.uint8).tobytes())
    return folder


@pytest.fixture
def run_copy(digits_run, tmp_path):
    dst = tmp_path / "cli_run"
    shutil.copytree(digits_run["dir"], dst)
    yield dst
    shutil.rmtree(paths.build_dir(str(dst)), ignore_errors=True)


# --- 3. every numeric setting names itself (flag and Makefile variable), one line, exit 2 ---------------

@pytest.mark.parametrize("args, needles", [
    (("train", "x", "--hidden", "abc"), ("--hidden (HIDDEN=)", "'abc'")),
    (("train", "x", "--hidden", "64,0"), ("--hidden (HIDDEN=)", "'64,0'")),
    (("train", "x", "--T", "abc"), ("--T (T=)", "whole number > 0")),
    (("train", "x", "--epochs", "-1"), ("--epochs (EPOCHS=)", "'-1'")),
    (("train", "x", "--seed", "abc"), ("--seed (SEED=)",)),
    (("train", "x", "--batch-size", "0"), ("--batch-size (BATCH=)",)),
    (("train", "x", "--lr", "abc"), ("--lr (LR=)", "number > 0")),
    (("train", "x", "--lr", "nan"), ("--lr (LR=)",)),
    (("train", "x", "--crop-pad", "-2"), ("--crop-pad (CROP_PAD=)",)),
    (("train", "x", "--mode", "bptt"), ("--mode (MODE=)", "online, stbp", "'bptt'")),
    (("train", "x", "--dataset", "cifar"), ("--dataset (DATASET=)", "fashion_mnist", "'cifar'")),
    (("vectors", "x", "--n", "-5"), ("--n (N=)", "'-5'", ">= 0")),
    (("sim", "x", "--n", "-5"), ("--n (N=)", "'-5'")),
    (("sim", "x", "--n", "abc"), ("--n (N=)",)),
    (("hls", "x", "--n", "-1"), ("--n (N=)",)),
    (("bitstream", "x", "--freq", "abc"), ("--freq (FREQ=)", "'abc'")),
    (("bitstream", "x", "--freq", "-50"), ("--freq (FREQ=)",)),
    (("bitstream", "x", "--board", "ulx3s", "--baud", "abc"), ("--baud (BAUD=)",)),
    (("bitstream", "x", "--board", "ulx3s", "--lanes", "abc"), ("--lanes (LANES=)",)),
    (("bitstream", "x", "--freq", "auto"), ("--freq (FREQ=) auto", "BOARD=")),
    (("eval", "x", "--limit", "0"), ("--limit",)),
    (("demo", "--epochs", "x"), ("--epochs (EPOCHS=)",)),
])
def test_bad_setting_is_one_line_naming_it(capsys, args, needles):
    rc, _, err = cli(capsys, *args)
    one_error_line(rc, err, *needles)
    assert "usage" not in err


def test_bad_setting_from_make_is_one_line():
    """Through the real entry point: argparse's usage block is gone, the exit status is 2."""
    p = subprocess.run([sys.executable, "-m", "flow", "train", "x", "--hidden", "abc"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    one_error_line(p.returncode, p.stderr, "--hidden (HIDDEN=)")


# --- 2. negative N and a dataset of other images are refused before anything is written -------------

def test_negative_n_writes_nothing(run_copy, capsys):
    before = digest(run_copy / "vectors.npz")
    rc, _, err = cli(capsys, "vectors", run_copy, "--n", "-5")
    one_error_line(rc, err, "--n (N=)")
    assert digest(run_copy / "vectors.npz") == before
    rc, _, err = cli(capsys, "sim", run_copy, "--n", "-5")
    one_error_line(rc, err, "--n (N=)")
    assert not paths.build_dir(str(run_copy)).exists()
    with pytest.raises(ValueError, match="N=-5"):         # the library refuses it too
        steps.vectors(str(run_copy), n=-5)
    assert digest(run_copy / "vectors.npz") == before


def test_sim_of_more_images_than_the_vectors_hold(run_copy, capsys):
    rc, _, err = cli(capsys, "rtl", run_copy, "--lanes", "16")
    assert rc == 0, err
    rc, _, err = cli(capsys, "sim", run_copy, "--n", "100000")
    one_error_line(rc, err, "N=100000", "holds 360 images", "make vectors")
    assert not (paths.build_dir(str(run_copy)) / "sim").exists()


def test_dataset_with_other_images_is_refused(run_copy, capsys):
    """A digits run (1x8x8) evaluated on MNIST (1x28x28): one line naming DATASET and both shapes."""
    before = digest(run_copy / "vectors.npz")
    rc, _, err = cli(capsys, "eval", run_copy, "--dataset", "mnist")
    one_error_line(rc, err, "DATASET=mnist", "1x28x28", "1x8x8")
    assert not (run_copy / "eval.json").exists()
    rc, _, err = cli(capsys, "vectors", run_copy, "--dataset", "fashion-mnist")
    one_error_line(rc, err, "DATASET=fashion_mnist", "1x28x28", "1x8x8")
    assert digest(run_copy / "vectors.npz") == before


@pytest.fixture(scope="module")
def fashion_run(tmp_path_factory):
    """A tiny run on a Fashion-MNIST-shaped folder, named with the Debian spelling."""
    base = tmp_path_factory.mktemp("fashion")
    data_dir = write_idx_set(base / "data")
    run = base / "fashion_run"
    rc = main(["train", str(run), "--dataset", "fashion-mnist", "--data-dir", str(data_dir), "--hidden", "16",
               "--T", "2", "--epochs", "1", "--batch-size", "16"])
    assert rc == 0
    from training.export import export

    export(run)
    return {"dir": run, "data": data_dir}


def test_fashion_mnist_alias_and_data_folder_recorded(fashion_run):
    config = json.loads((fashion_run["dir"] / "config.json").read_text())
    assert config["dataset"] == "fashion_mnist" and config["data_dir"] == str(fashion_run["data"].resolve())
    assert config["in_shape"] == [1, 28, 28]
    assert json.loads((fashion_run["dir"] / "metrics.json").read_text())["dataset"] == "fashion_mnist"


def test_eval_of_a_fashion_run_on_digits_is_refused(fashion_run, capsys):
    rc, _, err = cli(capsys, "eval", fashion_run["dir"], "--dataset", "digits")
    one_error_line(rc, err, "DATASET=digits", "1x8x8", "1x28x28", str(fashion_run["dir"]))
    assert not (fashion_run["dir"] / "eval.json").exists()
    rc, _, err = cli(capsys, "eval", fashion_run["dir"], "--dataset", "fashion-mnist")   # its own data
    assert rc == 0, err
    assert json.loads((fashion_run["dir"] / "eval.json").read_text())["dataset"] == "fashion_mnist"


# --- 4. resume keeps the run's settings; an existing run is not retrained without --force -----------

@pytest.fixture
def tiny_run(tmp_path, capsys):
    run = tmp_path / "tiny"
    rc, _, err = cli(capsys, "train", run, "--hidden", "16", "--T", "2", "--epochs", "1", "--batch-size", "64")
    assert rc == 0, err
    return run


def test_resume_refuses_a_differing_setting(tiny_run, capsys):
    before = digest(tiny_run / "checkpoint.pt")
    for args, needles in ((("--hidden", "128"), ("HIDDEN=128", "mlp:16")),
                          (("--T", "4"), ("T=4", "T=2")),
                          (("--batch-size", "32"), ("BATCH=32", "BATCH=64")),
                          (("--lr", "0.01"), ("LR=0.01", "LR=0.002")),
                          (("--dataset", "mnist"), ("DATASET=mnist", "DATASET=digits")),
                          (("--neuron", "lif"), ("NEURON=lif", "NEURON=hdlif"))):
        rc, _, err = cli(capsys, "train", tiny_run, "--resume", "--epochs", "2", *args)
        one_error_line(rc, err, str(tiny_run), *needles)
    assert digest(tiny_run / "checkpoint.pt") == before
    # the same values as the run's, and a longer schedule, are fine
    rc, _, err = cli(capsys, "train", tiny_run, "--resume", "--epochs", "2", "--hidden", "16", "--T", "2",
                     "--lr", "2e-3", "--dataset", "digits")
    assert rc == 0, err
    m = json.loads((tiny_run / "metrics.json").read_text())
    assert [e["epoch"] for e in m["epochs"]] == [1, 2] and m["arch"] == "mlp:16" and m["T"] == 2


def test_retraining_an_existing_run_needs_force(tiny_run, capsys):
    before = digest(tiny_run / "checkpoint.pt")
    rc, _, err = cli(capsys, "train", tiny_run, "--hidden", "16", "--epochs", "1")
    one_error_line(rc, err, str(tiny_run), "already a trained run", "RESUME=1", "FORCE=1")
    assert digest(tiny_run / "checkpoint.pt") == before
    rc, _, err = cli(capsys, "train", tiny_run, "--resume", "--force")
    one_error_line(rc, err, "--resume", "--force")
    rc, _, err = cli(capsys, "train", tiny_run, "--hidden", "8", "--T", "2", "--epochs", "1", "--force")
    assert rc == 0, err
    assert json.loads((tiny_run / "metrics.json").read_text())["arch"] == "mlp:8"


def test_refused_train_leaves_no_folder(tmp_path, capsys):
    for name, args in (("a", ("--arch", "bogus:3")),
                       ("b", ("--dataset", "mnist", "--data-dir", str(tmp_path / "nowhere"))),
                       ("c", ("--dataset", "mnist", "--data-dir", str(tmp_path)))):      # no IDX files
        rc, _, err = cli(capsys, "train", tmp_path / "runs" / name, "--epochs", "1", *args)
        one_error_line(rc, err)
        assert not (tmp_path / "runs").exists(), name


# --- 5, 6. build folders are per run folder; sim without RTL says to run make rtl -------------------

def test_build_folders_are_one_per_run_folder(tmp_path):
    a, b = tmp_path / "x" / "hdlif_online", tmp_path / "y" / "hdlif_online"
    assert paths.build_dir(str(a)) != paths.build_dir(str(b))
    assert paths.build_dir(str(a)) == paths.build_dir(str(a))
    assert paths.build_dir("demo") == ROOT / "build" / "demo"                       # runs/<name>
    assert paths.build_dir("runs/demo") == ROOT / "build" / "demo"
    inside = {m: paths.build_dir(m) for m in ("bench/models/hdlif_online", "bench/models/digits/hdlif_online",
                                                "bench/models/fmnist_flip/hdlif_online")}
    assert inside["bench/models/digits/hdlif_online"] == ROOT / "build" / "bench/models/digits/hdlif_online"
    assert len(set(inside.values())) == 3 and ROOT / "build" / "hdlif_online" not in inside.values()


def test_sim_of_a_bench_model_before_rtl(digits_run, tmp_path, monkeypatch, capsys):
    """MODEL=bench/models/<set>/<name> (a path inside the project) without its RTL: one line saying
    to run make rtl, with that MODEL."""
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    model = "bench/models/digits/hdlif_online"
    shutil.copytree(digits_run["dir"], tmp_path / model)
    shutil.copytree(digits_run["dir"], tmp_path / "bench/models/hdlif_online")
    monkeypatch.chdir(tmp_path)
    rc, _, err = cli(capsys, "rtl", "bench/models/hdlif_online", "--lanes", "8")    # same last name, other run
    assert rc == 0, err
    rc, _, err = cli(capsys, "sim", model)
    one_error_line(rc, err, "rtl.json: missing", f"make rtl MODEL={model}")
    assert not (tmp_path / "build" / model).exists()


# --- 1. the demo fails when the RTL mismatches or timing is missed, after writing its summary -------

def _fake_demo(monkeypatch, tmp_path, *, mismatches=0, timing_met=True):
    monkeypatch.setattr(steps, "build_dir", lambda model: tmp_path / "build" / model)
    monkeypatch.setattr(steps, "train", lambda name, **kw: {"dataset": "digits", "test_accuracy": 0.9})
    monkeypatch.setattr(steps, "export", lambda name: {"golden_accuracy": 0.9, "agreement": 1.0, "images": 360})
    monkeypatch.setattr(steps, "rtl", lambda name: {"verilog": "hdlif_accel.v", "estimated_cycles": 100})
    monkeypatch.setattr(steps, "sim", lambda name: {"images": 360, "mismatches": mismatches,
                                                    "cycles_per_inference": 100.0, "rtl_accuracy": 0.9})
    monkeypatch.setattr(steps, "bitstream", lambda name: {
        "device": "LFE5U-25F", "luts": 1000, "ffs": 900, "brams": 2, "dsps": 0, "fmax_mhz": 42.0 if not timing_met
        else 61.5, "target_mhz": 50.0, "timing_met": timing_met, "bitstream": "x.bit", "sha256": "0" * 64})
    return tmp_path / "build" / "demo" / "summary.json"


@pytest.mark.parametrize("mismatches, timing_met, needles", [
    (3, True, ("demo failed", "mismatches the golden model on 3 of 360 images")),
    (0, False, ("demo failed", "timing missed", "Fmax 42.0 MHz < 50 MHz")),
    (2, False, ("2 of 360 images", "timing missed")),
])
def test_demo_fails_after_writing_its_summary(monkeypatch, tmp_path, capsys, mismatches, timing_met, needles):
    summary = _fake_demo(monkeypatch, tmp_path, mismatches=mismatches, timing_met=timing_met)
    rc, out, err = cli(capsys, "demo")
    one_error_line(rc, err, *needles, str(summary), code=1)
    assert json.loads(summary.read_text())["sim"]["mismatches"] == mismatches     # the summary is there
    assert "summary" in out and str(summary) in out


def test_demo_passes(monkeypatch, tmp_path, capsys):
    summary = _fake_demo(monkeypatch, tmp_path)
    rc, out, err = cli(capsys, "demo")
    assert rc == 0 and err == "" and summary.is_file() and "timing met" in out
    assert steps.demo_verdict(json.loads(summary.read_text())) == []


def test_partial_accelerator_benchmark_does_not_touch_the_results(tmp_path, monkeypatch, capsys):
    """``bench.accelerator --no-synth --no-sim`` (estimates only) writes its entry beside its build,
    never over the recorded entry of a complete run."""
    from bench import accelerator

    out = tmp_path / "results" / "accelerator.json"
    out.parent.mkdir()
    out.write_text(json.dumps({"networks": {"fc_784_128_10": {"luts": 1}}}))
    before = out.read_bytes()
    monkeypatch.setattr(accelerator, "OUT", out)
    monkeypatch.setattr(accelerator, "WORK", tmp_path / "work")
    args = ["--synthetic", "fc_784_128_10", "--n", "4", "--fold", "32x4/2,10x2", "--key", "fc_784_128_10",
            "--no-synth", "--no-sim"]
    assert accelerator.main(args) == 0
    assert out.read_bytes() == before
    entry = json.loads((tmp_path / "work" / "fc_784_128_10" / "entry.json").read_text())
    assert entry["command"] == "python -m bench.accelerator " + " ".join(args)
    assert entry["estimated_cycles"] > 0 and "luts" not in entry
    assert "partial run" in capsys.readouterr().out
