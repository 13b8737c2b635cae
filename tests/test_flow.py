"""The command line: bad input ends with one clear line, a non-zero exit and no valid-looking output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flow.paths import build_dir

ROOT = Path(__file__).resolve().parent.parent


def flow(*args):
    return subprocess.run([sys.executable, "-m", "flow", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture
def run_copy(digits_run, tmp_path):
    name = f"flowtest_{tmp_path.name}"
    dst = tmp_path / name
    shutil.copytree(digits_run["dir"], dst)
    yield dst
    shutil.rmtree(build_dir(str(dst)), ignore_errors=True)


def _one_error_line(proc, *needles):
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_rtl_of_missing_run(tmp_path):
    p = flow("rtl", tmp_path / "nosuch")
    _one_error_line(p, "nosuch", "no such model folder")
    assert not build_dir(str(tmp_path / "nosuch")).exists()


def test_rtl_of_corrupted_bundle(run_copy):
    doc = json.loads((run_copy / "model" / "model.json").read_text())
    doc["layers"][0]["out_features"] = 7
    (run_copy / "model" / "model.json").write_text(json.dumps(doc))
    p = flow("rtl", run_copy)
    _one_error_line(p, "model", "shape")
    assert not (build_dir(str(run_copy)) / "rtl").exists()


def test_sim_before_rtl_says_what_to_do(run_copy):
    p = flow("sim", run_copy)
    _one_error_line(p, "rtl.json", "make rtl")


def test_rtl_writes_verilog_and_estimate(run_copy):
    p = flow("rtl", run_copy, "--lanes", "8")
    assert p.returncode == 0, p.stderr
    out = build_dir(str(run_copy)) / "rtl"
    report = json.loads((out / "rtl.json").read_text())
    assert report["lanes"] == [8, 8] and report["estimated_cycles"] > 0
    text = (out / "hdlif_accel.v").read_text()
    for port in ("pixels__valid", "pixels__ready", "scores__payload", "label__payload"):
        assert port in text
    assert "estimated" in p.stdout
    # A changed bundle makes the old RTL stale: sim refuses it.
    (run_copy / "model" / "model.json").write_text((run_copy / "model" / "model.json").read_text() + " ")
    p = flow("sim", run_copy)
    _one_error_line(p, "older version")


def test_rtl_folding_options(run_copy):
    """--fold sets every layer's parallelism and the estimate follows it; a bad one is one clear line."""
    p = flow("rtl", run_copy, "--fold", "7x1,10x1")
    _one_error_line(p, "pe=7 must divide the 128 output channels")
    assert not (build_dir(str(run_copy)) / "rtl").exists()
    p = flow("rtl", run_copy, "--target", "cycles=fast")
    _one_error_line(p, "cycles=N")
    p = flow("rtl", run_copy, "--fold", "32x4/2,10x2")
    assert p.returncode == 0, p.stderr
    out = build_dir(str(run_copy)) / "rtl"
    report = json.loads((out / "rtl.json").read_text())
    assert report["folding"] == {"fc1": "32x4/2", "fc2": "10x2"} and report["lanes"] == [128, 20]
    assert report["ideal_cycles"] <= report["estimated_cycles"]
    manifest = json.loads((out / "interface.json").read_text())
    assert set(manifest["streams"]) == {"pixels", "scores", "label"}
    assert json.loads((out / "lint.json").read_text())["ok"]
    assert "fc1" in p.stdout and "32x4/2" in p.stdout            # the estimate table, before any simulation


def test_zero_skipping_estimate_replays_the_vectors_and_is_exact(run_copy):
    """With --skip-zero-spikes (fc2 walks its non-zero input words), --skip-zero-pixels (the stem
    walks its non-zero pixel words, their share from the vectors printed) and --pixel-lanes 4
    (four pixels a beat), the estimate replays every test image with its own counts of
    non-zero words; `flow sim` drives the pixels four a beat and measures exactly that, every
    image bit-exact."""
    p = flow("rtl", run_copy, "--fold", "16x4/2,10x16", "--skip-zero-spikes", "--pixel-lanes", "4",
             "--skip-zero-pixels")
    assert p.returncode == 0, p.stderr
    assert "non-zero pixel words of the stem (from the vectors): fc1 0." in p.stdout + p.stderr
    report = json.loads((build_dir(str(run_copy)) / "rtl" / "rtl.json").read_text())
    assert report["estimate"]["event_images"] == 360 and report["pixel_lanes"] == 4
    assert report["estimate"]["worst_cycles_per_inference"] >= report["estimated_cycles"]
    p = flow("sim", run_copy)
    assert p.returncode == 0, p.stderr
    sim = json.loads((build_dir(str(run_copy)) / "sim" / "sim.json").read_text())
    assert sim["images"] == 360 and sim["mismatches"] == 0
    from rtl_gen.estimate import exact

    assert exact(sim["cycles_per_inference"], report["estimated_cycles"]), (sim, report["estimate"])
    assert exact(sim["latency_cycles"], report["estimated_latency"]), (sim, report["estimate"])

