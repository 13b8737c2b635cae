"""The generated accelerator in Verilator under cocotb, bit-exact against the golden vectors."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.back import verilog

from golden import load_bundle
from golden.vectors import load_vectors
from rtl_gen.config import from_bundle
from rtl_gen.top import Accelerator
from sim.accelerator_tb import simulate


@pytest.fixture(scope="module")
def accel(digits_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("rtl")
    cfg = from_bundle(load_bundle(digits_run["dir"] / "model"), lanes=16)
    path = out / "hdlif_accel.v"
    path.write_text(verilog.convert(Accelerator(cfg), name="hdlif_accel"))
    return {"verilog": path, "config": cfg, "dir": out}


def test_whole_digits_test_split_bit_exact(digits_run, accel):
    vectors = digits_run["dir"] / "vectors.npz"
    vec = load_vectors(vectors, digits_run["dir"] / "model")
    r = simulate(accel["verilog"], "hdlif_accel", vectors, accel["dir"] / "full",
                 build_dir=accel["dir"] / "verilator")
    assert r["images"] == len(vec["images"]) == 360
    assert r["mismatches"] == 0, r["mismatch_details"][:5]
    assert r["rtl_accuracy"] == pytest.approx(float((vec["classes"] == vec["labels"]).mean()))
    # Full rate: cycles per inference within 10 % of the generator's estimate.
    est = accel["config"].estimate()["cycles_per_inference"]
    assert abs(r["cycles_per_inference"] - est) <= 0.1 * est


def test_backpressure_and_reset_midway(digits_run, accel):
    vectors = digits_run["dir"] / "vectors.npz"
    r = simulate(accel["verilog"], "hdlif_accel", vectors, accel["dir"] / "busy", n=40, seed=7,
                 backpressure=True, reset_midway=True, build_dir=accel["dir"] / "verilator")
    assert r["images"] == 40 and r["mismatches"] == 0, r["mismatch_details"][:5]
    assert r["reset_midway"] and r["backpressure"]


def test_a_wrong_model_is_caught(digits_run, accel, tmp_path):
    """The checker can fail: vectors whose expected scores are off by one are reported with
    the image, layer, time step and neuron."""
    vec = dict(np.load(digits_run["dir"] / "vectors.npz"))
    vec["scores"] = vec["scores"].copy()
    vec["scores"][3, 2, 5] += 1
    bad = tmp_path / "bad.npz"
    np.savez(bad, **vec)
    report = simulate(accel["verilog"], "hdlif_accel", bad, accel["dir"] / "bad", n=5,
                      build_dir=accel["dir"] / "verilator")
    assert report["mismatches"] == 1
    assert report["mismatch_details"][0].startswith("image 3, layer readout, time step 2, neuron 5")
