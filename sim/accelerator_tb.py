"""Whole-accelerator testbench: stream test images through the generated Verilog under
Verilator and compare every time step's class scores and the predicted class with the golden
model's vector file, bit for bit.

The cocotb test (:func:`stream_images`) and its runner (:func:`simulate`) live together.
The test reads its settings from the environment: ``HDLIF_VECTORS`` (vector file),
``HDLIF_N`` (images, 0 = all), ``HDLIF_BACKPRESSURE`` (1 = random idle and backpressure),
``HDLIF_SEED``, ``HDLIF_RESET_MIDWAY`` (1 = reset once during a first inference) and
``HDLIF_RESULTS`` (where the JSON report goes).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# The cocotb test

try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
    from cocotb.utils import get_sim_time
except ImportError:  # pragma: no cover - the runner half is usable without cocotb's simulator side
    cocotb = None

CLOCK_NS = 10


def _pattern(seed: int, busy: bool):
    if not busy:
        return itertools.repeat(1)
    rng = random.Random(seed)
    return (1 if rng.random() < 0.7 else 0 for _ in itertools.count())


async def _drive_pixels(dut, images, accepted_at, gaps):
    valid, ready, payload = dut.pixels__valid, dut.pixels__ready, dut.pixels__payload
    for i, image in enumerate(images):
        for j, px in enumerate(image):
            while not next(gaps):
                valid.value = 0
                await RisingEdge(dut.clk)
            valid.value = 1
            payload.value = int(px)
            while True:
                await FallingEdge(dut.clk)
                await ReadOnly()
                taken = bool(ready.value)
                await RisingEdge(dut.clk)
                if taken:
                    break
            if j == 0:
                accepted_at.append(get_sim_time(unit="ns"))
        valid.value = 0


async def _collect(dut, name, count, ready_pattern, out, times=None, signed=True):
    valid, ready, payload = (getattr(dut, f"{name}__{s}") for s in ("valid", "ready", "payload"))
    while len(out) < count:
        r = next(ready_pattern)
        ready.value = r
        if r and not valid.value:
            await RisingEdge(valid)          # skip idle cycles without waking every clock
        await FallingEdge(dut.clk)
        await ReadOnly()
        taken = bool(r and valid.value)
        if taken:
            out.append(payload.value.to_signed() if signed else payload.value.to_unsigned())
        await RisingEdge(dut.clk)
        if taken and times is not None:
            times.append(get_sim_time(unit="ns"))  # the clock edge that completed the transfer


if cocotb is not None:
    @cocotb.test()
    async def stream_images(dut):
        """Every image of the vector file: scores per time step and the class, bit-exact."""
        vec = np.load(os.environ["HDLIF_VECTORS"], allow_pickle=False)
        n = int(os.environ.get("HDLIF_N", "0")) or len(vec["images"])
        seed = int(os.environ.get("HDLIF_SEED", "1"))
        busy = os.environ.get("HDLIF_BACKPRESSURE", "0") == "1"
        images, want_scores, want_classes = vec["images"][:n], vec["scores"][:n], vec["classes"][:n]
        T, C = want_scores.shape[1:]
        dut._log.info("streaming %d images (T=%d, %d classes), seed %d, backpressure %s", n, T, C, seed, busy)

        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
        dut.pixels__valid.value = 0
        dut.scores__ready.value = 0
        dut.label__ready.value = 0
        dut.rst.value = 1
        for _ in range(3):
            await RisingEdge(dut.clk)
        dut.rst.value = 0

        if os.environ.get("HDLIF_RESET_MIDWAY", "0") == "1":
            # Start an inference, reset the accelerator in the middle of it, then go on as if
            # nothing happened: every later image must still be bit-exact.
            await _drive_pixels(dut, images[:1], [], itertools.repeat(1))
            dut.scores__ready.value = 1
            for _ in range(int(os.environ.get("HDLIF_RESET_AFTER", "300"))):
                await RisingEdge(dut.clk)
            dut.rst.value = 1
            await RisingEdge(dut.clk)
            await RisingEdge(dut.clk)
            dut.rst.value = 0
            dut.scores__ready.value = 0
            dut._log.info("reset asserted in the middle of an inference")

        first_pixel, label_times, scores, labels = [], [], [], []
        cocotb.start_soon(_drive_pixels(dut, images, first_pixel, _pattern(seed, busy)))
        cocotb.start_soon(_collect(dut, "scores", n * T * C, _pattern(seed + 1, busy), scores))
        await _collect(dut, "label", n, _pattern(seed + 2, busy), labels, label_times, signed=False)

        got_scores = np.array(scores, np.int64).reshape(n, T, C)
        got_classes = np.array(labels, np.int64)
        mismatches = []
        for i in range(n):
            bad = np.argwhere(got_scores[i] != want_scores[i])
            for t, c in bad[:4]:
                mismatches.append(f"image {i}, layer readout, time step {t}, neuron {c}: "
                                  f"RTL {got_scores[i, t, c]} != golden {want_scores[i, t, c]}")
            if got_classes[i] != want_classes[i]:
                mismatches.append(f"image {i}, layer argmax, time step {T - 1}, neuron -: "
                                  f"RTL class {got_classes[i]} != golden {want_classes[i]}")
        bad_images = int(((got_scores != want_scores).any(axis=(1, 2)) | (got_classes != want_classes)).sum())
        cycles = [(b - a) / CLOCK_NS + 1 for a, b in zip(first_pixel, label_times)]  # first pixel .. label, inclusive
        report = {
            "images": n, "mismatches": bad_images, "mismatch_details": mismatches[:50],
            "cycles_per_inference": float(np.mean(cycles)) if cycles else 0.0,
            "cycles_max": float(max(cycles)) if cycles else 0.0,
            "rtl_accuracy": float((got_classes == vec["labels"][:n]).mean()),
            "backpressure": busy, "seed": seed,
            "reset_midway": os.environ.get("HDLIF_RESET_MIDWAY", "0") == "1",
        }
        Path(os.environ["HDLIF_RESULTS"]).write_text(json.dumps(report, indent=2) + "\n")
        for line in mismatches[:10]:
            dut._log.error(line)
        assert bad_images == 0, f"{bad_images} of {n} images differ from the golden model; first: {mismatches[0]}"


# ---------------------------------------------------------------------------------------------
# The runner

def build(verilog: Path, top: str, build_dir: Path, *, waves: bool = False) -> Path:
    """Verilate ``verilog`` once into ``build_dir`` (re-used while the source is unchanged)."""
    from cocotb_tools.runner import get_runner

    from . import verilator_env

    verilator_env.setup()
    runner = get_runner("verilator")
    runner.build(sources=[str(verilog)], hdl_toplevel=top, build_dir=str(build_dir),
                 build_args=["-Wno-fatal", "-O2", "--x-assign", "fast", "--x-initial", "fast"],
                 waves=waves, log_file=str(Path(build_dir) / "build.log"))
    return Path(build_dir)


def simulate(verilog: Path, top: str, vectors: Path, out_dir: Path, *, n: int = 0, seed: int = 1,
             backpressure: bool = False, reset_midway: bool = False, waves: bool = False,
             build_dir: Path | None = None) -> dict:
    """Build (if needed) and run :func:`stream_images`; return its report (also ``out_dir/sim.json``).

    A report with ``mismatches > 0`` is returned, not raised: the caller decides.  A simulation
    that ends without writing its report raises ``RuntimeError`` naming the log.
    """
    from cocotb_tools.runner import get_runner

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    build_dir = Path(build_dir) if build_dir else out_dir / "verilator"
    t0 = time.time()
    build(verilog, top, build_dir, waves=waves)
    t_build = time.time() - t0
    results = out_dir / "sim.json"
    results.unlink(missing_ok=True)
    runner = get_runner("verilator")
    env = {"HDLIF_VECTORS": str(Path(vectors).resolve()), "HDLIF_N": str(n), "HDLIF_SEED": str(seed),
           "HDLIF_BACKPRESSURE": "1" if backpressure else "0", "HDLIF_RESET_MIDWAY": "1" if reset_midway else "0",
           "HDLIF_RESULTS": str(results.resolve()),
           "PYTHONPATH": str(PROJECT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t1 = time.time()
    try:
        runner.test(test_module="sim.accelerator_tb", hdl_toplevel=top, hdl_toplevel_lang="verilog",
                    build_dir=str(build_dir), test_dir=str(out_dir), extra_env=env, waves=waves,
                    results_xml=str(out_dir / "results.xml"), log_file=str(out_dir / "sim.log"))
    except SystemExit:  # cocotb's runner exits when a test fails; the report says why
        pass
    if not results.is_file():
        raise RuntimeError(f"simulation wrote no report; see {out_dir / 'sim.log'}")
    report = json.loads(results.read_text())
    report["seconds"] = {"build": round(t_build, 1), "simulate": round(time.time() - t1, 1)}
    results.write_text(json.dumps(report, indent=2) + "\n")
    return report
