"""Whole-system testbench: the accelerator behind its UART host link, under Verilator.

A UART model on the simulated ``rx`` / ``tx`` pins speaks :mod:`host.protocol` bit by bit
(``divisor`` clocks per bit): it asks for ``INFO``, classifies test images and compares
every time step's scores and the class with :func:`golden.executor.run`, bit for bit; it
sends bad frames (corrupted payload, wrong length, unknown type, a pixel out of range, a byte
with a low stop bit, a frame left unfinished, a frame without its sync byte) and checks that each
is answered with the right ``NAK`` (the last one with nothing), when the protocol says (``FRAMING``
once the line has been quiet for ``QUIET_BITS`` bit times, ``TIMEOUT`` as soon as the frame has
stalled that long), and that the next image is still served.

The cocotb test (:func:`serve_images`) and its runner (:func:`simulate_system`) live
together.  Settings come from the environment: ``HDLIF_BUNDLE`` (model folder),
``HDLIF_VECTORS`` (vector file: the images), ``HDLIF_N`` (images), ``HDLIF_DIVISOR``
(clocks per bit), ``HDLIF_SEED`` (random gaps between host bytes) and ``HDLIF_RESULTS``
(where the JSON report goes).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

from host import protocol as P

PROJECT = Path(__file__).resolve().parent.parent
TOP = "hdlif_system"
CLOCK_NS = 10

try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import ClockCycles, FallingEdge
    from cocotb.utils import get_sim_time
except ImportError:  # pragma: no cover - the runner half is usable without cocotb's simulator side
    cocotb = None


class UartModel:
    """The host's end of the line: 8N1 at ``divisor`` clocks per bit, sampled mid-bit."""

    def __init__(self, dut, divisor: int, rng: random.Random):
        self.dut, self.divisor, self.rng = dut, divisor, rng
        self.received = bytearray()
        self.framing_errors = 0

    async def send(self, data: bytes, *, gaps: bool = True, bad_stop: tuple[int, ...] = ()):
        """Send ``data``; the bytes at the indices in ``bad_stop`` get a low stop bit (a framing
        error), after which the line idles two bit times so the receiver finds the next start."""
        dut, d = self.dut, self.divisor
        for k, byte in enumerate(data):
            bits = [0] + [(byte >> i) & 1 for i in range(8)] + [0 if k in bad_stop else 1]
            for b in bits:
                dut.rx.value = b
                await ClockCycles(dut.clk, d)
            if k in bad_stop:
                dut.rx.value = 1
                await ClockCycles(dut.clk, 2 * d)
            if gaps and self.rng.random() < 0.3:           # idle the line a little (< QUIET_BITS)
                await ClockCycles(dut.clk, d * self.rng.randint(1, 8))

    async def monitor(self):
        dut, d = self.dut, self.divisor
        while True:
            await FallingEdge(dut.tx)
            await ClockCycles(dut.clk, d // 2)
            if int(dut.tx.value) != 0:
                continue                                   # glitch
            byte = 0
            for i in range(8):
                await ClockCycles(dut.clk, d)
                byte |= int(dut.tx.value) << i
            await ClockCycles(dut.clk, d)
            if int(dut.tx.value) != 1:
                self.framing_errors += 1
            self.received.append(byte)

    async def reply(self, timeout_clocks: int) -> tuple[int, bytes]:
        """The next whole reply frame (type, payload); raises on a timeout or a bad frame."""
        deadline = timeout_clocks
        while True:
            if len(self.received) >= P.HEADER_LEN + 1:
                n = int.from_bytes(self.received[2:4], "little")
                if len(self.received) >= P.HEADER_LEN + n + 1:
                    kind, payload, rest = P.split_frame(bytes(self.received))
                    self.received[:] = rest
                    return kind, payload
            if deadline <= 0:
                raise TimeoutError(f"no whole reply within {timeout_clocks} clocks; got {bytes(self.received).hex()}")
            await ClockCycles(self.dut.clk, self.divisor)
            deadline -= self.divisor

    async def quiet(self, clocks: int):
        """Wait until ``clocks`` have passed without a new reply byte."""
        seen = -1
        while seen != len(self.received):
            seen = len(self.received)
            await ClockCycles(self.dut.clk, clocks)


if cocotb is not None:
    @cocotb.test()
    async def serve_images(dut):
        """INFO, then images classified bit-exactly, with rejected bad frames in between."""
        from golden import executor, load_bundle

        bundle = load_bundle(os.environ["HDLIF_BUNDLE"])
        vec = np.load(os.environ["HDLIF_VECTORS"], allow_pickle=False)
        n = int(os.environ.get("HDLIF_N", "4"))
        divisor = int(os.environ["HDLIF_DIVISOR"])
        seed = int(os.environ.get("HDLIF_SEED", "1"))
        images = vec["images"][:n + 1]
        golden = executor.run(bundle, images)
        T, C = golden.scores.shape[1:]
        score_bits = int(os.environ["HDLIF_SCORE_BITS"])
        sb = P.score_bytes(score_bits)
        pixel_bits = bundle.input.bits
        dut._log.info("%d images over the UART model, %d clocks per bit, seed %d", n, divisor, seed)

        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
        dut.rx.value = 1
        dut.rst.value = 1
        await ClockCycles(dut.clk, 3)
        dut.rst.value = 0
        await ClockCycles(dut.clk, 2)
        uart = UartModel(dut, divisor, random.Random(seed))
        cocotb.start_soon(uart.monitor())
        reply_timeout = divisor * 10 * (C * T * sb + 64) + 200_000
        log, failures = [], []

        def check(cond, what):
            log.append(("ok " if cond else "FAIL ") + what)
            if not cond:
                failures.append(what)
                dut._log.error(what)

        async def classify(i: int, frame: bytes | None = None):
            t0 = time.time()
            await uart.send(frame or P.classify_request(images[i], pixel_bits=pixel_bits))
            kind, payload = await uart.reply(reply_timeout)
            r = P.parse_result(kind, payload, T=T, classes=C, score_bytes=sb)
            bad = np.argwhere(r.scores != golden.scores[i])
            for t, c in bad[:4]:
                failures.append(f"image {i}, layer readout, time step {t}, neuron {c}: "
                                f"board {r.scores[t, c]} != golden {golden.scores[i, t, c]}")
            check(r.label == golden.classes[i],
                  f"image {i}: class {r.label} (golden {golden.classes[i]}), "
                  f"{len(bad)} score mismatches, {time.time() - t0:.1f} s")
            return r

        results, info = [], None
        try:
            # INFO: the board describes the network it carries.
            await uart.send(P.info_request())
            info = P.parse_info(*await uart.reply(reply_timeout))
            want_id = P.model_id(os.environ["HDLIF_BUNDLE_SHA256"])
            check(info.features == bundle.input.features and info.classes == C and info.T == T
                  and info.score_bytes == sb and info.pixel_bits == pixel_bits and info.model_id == want_id,
                  f"INFO {info}")

            async def nak_after_quiet(frame: bytes, want: P.Nak, what: str, **kw):
                """Send ``frame``; its NAK must come when the line has been quiet QUIET_BITS bit
                times after the frame's last byte (then one NAK frame on the wire)."""
                await uart.send(frame, gaps=False, **kw)
                t0 = get_sim_time(unit="ns")
                kind, payload = await uart.reply(reply_timeout)
                clocks = round((get_sim_time(unit="ns") - t0) / CLOCK_NS)
                expect = (P.QUIET_BITS + 10 * (P.HEADER_LEN + 2)) * divisor
                check(kind == P.Reply.NAK and payload == bytes([want]) and abs(clocks - expect) <= 2 * divisor,
                      f"{what} answered 0x{kind:02X} {payload.hex()} after {clocks} clocks "
                      f"(want NAK {want.name} after about {expect})")

            for i in range(n):
                if i == 0:
                    # a byte of the payload with a low stop bit: the board drains the frame, waits
                    # for a quiet line, NAKs FRAMING, and has run nothing
                    frame = P.classify_request(images[n], pixel_bits=pixel_bits)
                    await nak_after_quiet(frame, P.Nak.FRAMING, "framing error", bad_stop=(P.HEADER_LEN + 10,))
                if i == 1:
                    # a corrupted frame: one payload bit flipped in transit -> NAK CRC, nothing run
                    frame = bytearray(P.classify_request(images[n], pixel_bits=pixel_bits))
                    frame[P.HEADER_LEN + 5] ^= 0x04
                    await uart.send(bytes(frame))
                    kind, payload = await uart.reply(reply_timeout)
                    check(kind == P.Reply.NAK and payload == bytes([P.Nak.CRC]),
                          f"corrupted frame answered 0x{kind:02X} {payload.hex()} (want NAK CRC)")
                if i == 2:
                    # a header that announces the wrong length: the board drains the rest, then NAKs
                    bad = P.frame(P.SYNC_REQUEST, P.Request.CLASSIFY, bytes(images[n].astype(np.uint8))[:-3])
                    await uart.send(bad)
                    kind, payload = await uart.reply(reply_timeout)
                    check(kind == P.Reply.NAK and payload == bytes([P.Nak.LENGTH]),
                          f"short frame answered 0x{kind:02X} {payload.hex()} (want NAK LENGTH)")
                    await uart.send(P.frame(P.SYNC_REQUEST, 0x33, b"\x01\x02"))
                    kind, payload = await uart.reply(reply_timeout)
                    check(kind == P.Reply.NAK and payload == bytes([P.Nak.TYPE]),
                          f"unknown request answered 0x{kind:02X} {payload.hex()} (want NAK TYPE)")
                if i == 3 and pixel_bits < 8:
                    px = bytearray(images[n].astype(np.uint8).tobytes())
                    px[7] = 1 << pixel_bits
                    await uart.send(P.frame(P.SYNC_REQUEST, P.Request.CLASSIFY, bytes(px)))
                    kind, payload = await uart.reply(reply_timeout)
                    check(kind == P.Reply.NAK and payload == bytes([P.Nak.PIXEL]),
                          f"pixel out of range answered 0x{kind:02X} {payload.hex()} (want NAK PIXEL)")
                if i == 2:
                    # a frame whose sync byte is wrong is not a frame: ignored, no reply (the next
                    # reply must be the image's RESULT)
                    frame = bytearray(P.classify_request(images[n], pixel_bits=pixel_bits))
                    frame[0] = P.SYNC_REPLY
                    check(P.SYNC_REQUEST not in frame, "the frame without sync holds no sync byte")
                    await uart.send(bytes(frame))
                if i == 3:
                    # a frame left unfinished (header and half the pixels): NAK TIMEOUT once it has
                    # stalled QUIET_BITS bit times; the half image is never run
                    frame = P.classify_request(images[n], pixel_bits=pixel_bits)
                    await nak_after_quiet(frame[:P.HEADER_LEN + len(frame) // 2], P.Nak.TIMEOUT, "unfinished frame")
                r = await classify(i)
                results.append({"image": i, "class": int(r.label), "golden_class": int(golden.classes[i])})

            await uart.quiet(divisor * 40)
            check(not uart.received, f"no stray bytes after the last reply (got {bytes(uart.received).hex()})")
            check(uart.framing_errors == 0, f"{uart.framing_errors} framing errors on tx")
        except Exception as e:  # noqa: BLE001 - recorded, then the test fails below
            failures.append(f"{type(e).__name__}: {e}")
            dut._log.error(failures[-1])
        report = {"images": n, "divisor": divisor, "seed": seed, "failures": failures, "log": log,
                  "results": results, "info": None if info is None else
                  {k: (v.hex() if isinstance(v, bytes) else v) for k, v in info.__dict__.items()}}
        from golden.atomic import write_json_atomic

        write_json_atomic(os.environ["HDLIF_RESULTS"], report)
        assert not failures, f"{len(failures)} failures; first: {failures[0]}"


# ---------------------------------------------------------------------------------------------
# The runner

def system_verilog(bundle_dir: Path, *, divisor: int, lanes=16) -> tuple[str, dict]:
    """Verilog of :class:`rtl_gen.board_top.UartAccelerator` for the bundle, and its facts."""
    from amaranth.back import verilog

    from golden import load_bundle
    from golden.bundle import bundle_hash
    from rtl_gen.board_top import UartAccelerator
    from rtl_gen.folding import from_bundle

    bundle = load_bundle(bundle_dir)
    sha = bundle_hash(bundle_dir)
    cfg = from_bundle(bundle, lanes=lanes)
    top = UartAccelerator(cfg, divisor=divisor, model_id=P.model_id(sha))
    return verilog.convert(top, name=TOP), {"bundle_sha256": sha, "score_bits": cfg.readout.score_bits}


def simulate_system(bundle_dir: Path, vectors: Path, out_dir: Path, *, n: int = 4, divisor: int = 8,
                    seed: int = 1, lanes=16, waves: bool = False) -> dict:
    """Generate, verilate and run :func:`serve_images`; return its report (``out_dir/system.json``)."""
    from cocotb_tools.runner import get_runner

    from . import verilator_env
    from .accelerator_tb import BUILD_ARGS

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    text, facts = system_verilog(Path(bundle_dir), divisor=divisor, lanes=lanes)
    src = out_dir / f"{TOP}.v"
    src.write_text(text)
    verilator_env.setup()
    runner = get_runner("verilator")
    build_dir = out_dir / "verilator"
    runner.build(sources=[str(src)], hdl_toplevel=TOP, build_dir=str(build_dir),
                 build_args=BUILD_ARGS,
                 waves=waves, log_file=str(build_dir / "build.log"))
    t_build = time.time() - t0
    results = out_dir / "system.json"
    results.unlink(missing_ok=True)
    env = {"HDLIF_BUNDLE": str(Path(bundle_dir).resolve()), "HDLIF_VECTORS": str(Path(vectors).resolve()),
           "HDLIF_N": str(n), "HDLIF_DIVISOR": str(divisor), "HDLIF_SEED": str(seed),
           "HDLIF_SCORE_BITS": str(facts["score_bits"]), "HDLIF_BUNDLE_SHA256": facts["bundle_sha256"],
           "HDLIF_RESULTS": str(results.resolve()),
           "PYTHONPATH": str(PROJECT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if sys.path[0] != str(PROJECT):   # the runner hands the simulator its PYTHONPATH from sys.path
        sys.path.insert(0, str(PROJECT))
    t1 = time.time()
    try:
        runner.test(test_module="sim.system_tb", hdl_toplevel=TOP, hdl_toplevel_lang="verilog",
                    build_dir=str(build_dir), test_dir=str(out_dir), extra_env=env, waves=waves,
                    results_xml=str(out_dir / "results.xml"), log_file=str(out_dir / "sim.log"))
    except SystemExit:  # cocotb's runner exits when a test fails; the report says why
        pass
    if not results.is_file():
        raise RuntimeError(f"system simulation wrote no report; see {out_dir / 'sim.log'}")
    report = json.loads(results.read_text())
    report["seconds"] = {"build": round(t_build, 1), "simulate": round(time.time() - t1, 1)}
    from golden.atomic import write_json_atomic

    write_json_atomic(results, report)
    return report
