"""The host link's pieces in Amaranth simulation and the protocol's Python side: UART
loopback at several divisors, the gateware CRC against host.protocol.crc8, frame encoding,
parsing and the error messages."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.sim import Simulator

from host import protocol as P
from rtl_gen.host_link import HostLinkConfig, crc8_next
from rtl_gen.uart import UARTRx, UARTTx


def test_crc8_reference_values():
    # CRC-8/SMBUS check value ("123456789" -> 0xF4)
    assert P.crc8(b"123456789") == 0xF4
    assert P.crc8(b"") == 0


def test_gateware_crc_equals_python_crc():
    crc, byte, out = Signal(8), Signal(8), Signal(8)
    m = Module()
    m.d.comb += out.eq(crc8_next(crc, byte))
    sim = Simulator(m)
    rng = random.Random(3)
    cases = [(0, 0), (0xFF, 0xFF)] + [(rng.randrange(256), rng.randrange(256)) for _ in range(200)]

    async def bench(ctx):
        for c, b in cases:
            ctx.set(crc, c)
            ctx.set(byte, b)
            assert ctx.get(out) == P.crc8(bytes([b]), c), (c, b)

    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("divisor", [4, 7, 16])
def test_uart_loopback(divisor):
    """Bytes sent by UARTTx are received by UARTRx unchanged, back to back."""
    m = Module()
    m.submodules.tx = tx = UARTTx(divisor=divisor)
    m.submodules.rx = rx = UARTRx(divisor=divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    data = bytes(random.Random(divisor).randrange(256) for _ in range(12)) + b"\x00\xff\x55"
    got = []

    async def send(ctx):
        for b in data:
            ctx.set(tx.data.payload, b)
            ctx.set(tx.data.valid, 1)
            await ctx.tick().until(tx.data.ready)
        ctx.set(tx.data.valid, 0)

    async def receive(ctx):
        ctx.set(rx.data.ready, 1)
        errors = 0
        while len(got) < len(data):
            await ctx.tick()
            errors += ctx.get(rx.error)
            if ctx.get(rx.data.valid):
                got.append(ctx.get(rx.data.payload))
        assert errors == 0

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(send)
    sim.add_testbench(receive)
    sim.run_until(1e-6 * divisor * 10 * (len(data) + 4))
    assert bytes(got) == data


def test_uart_framing_error_and_glitch():
    """A stop bit held low is a framing error (no byte); a short low glitch is no byte at all."""
    d = 8
    m = Module()
    m.submodules.rx = rx = UARTRx(divisor=d)
    line = Signal(init=1)
    m.d.comb += rx.rx.eq(line)
    seen = {"bytes": [], "errors": 0}

    async def drive(ctx):
        await ctx.tick().repeat(4)
        ctx.set(line, 0)                       # glitch: 2 clocks low
        await ctx.tick().repeat(2)
        ctx.set(line, 1)
        await ctx.tick().repeat(3 * d)
        for b in [0] + [(0xA5 >> i) & 1 for i in range(8)] + [0]:     # stop bit low
            ctx.set(line, b)
            await ctx.tick().repeat(d)
        ctx.set(line, 1)
        await ctx.tick().repeat(3 * d)

    async def watch(ctx):
        ctx.set(rx.data.ready, 1)
        async for _clk, _rst, valid, payload, error in ctx.tick().sample(rx.data.valid, rx.data.payload, rx.error):
            if valid:
                seen["bytes"].append(payload)
            seen["errors"] += error

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_process(watch)
    sim.run_until(1e-6 * 20 * d)
    assert seen == {"bytes": [], "errors": 1}


def test_frame_round_trip_and_parse():
    img = np.arange(64) % 17
    f = P.classify_request(img, pixel_bits=5)
    assert f[0] == P.SYNC_REQUEST and f[1] == P.Request.CLASSIFY and f[2:4] == bytes([64, 0])
    kind, payload, rest = P.split_frame(f, sync=P.SYNC_REQUEST)
    assert kind == P.Request.CLASSIFY and list(payload) == list(img) and rest == b""

    scores = np.array([[-1, 2, -(1 << 27)], [5, 0, (1 << 27) - 1]], np.int64)
    payload = b"".join(int(s).to_bytes(4, "little", signed=True) for s in scores.reshape(-1)) + b"\x02"
    reply = P.frame(P.SYNC_REPLY, P.Reply.RESULT, payload)
    r = P.parse_result(*P.split_frame(reply)[:2], T=2, classes=3, score_bytes=4)
    assert r.label == 2 and (r.scores == scores).all()

    info = P.Info(version=1, pixel_bits=5, features=64, classes=10, T=4, score_bytes=4,
                  model_id=b"\x01\x02\x03\x04", clock_hz=24_000_000)
    assert P.parse_info(P.Reply.INFO, info.pack()) == info
    assert info.result_len == 161


def test_protocol_errors_name_the_problem():
    good = P.frame(P.SYNC_REPLY, P.Reply.NAK, bytes([P.Nak.CRC]))
    with pytest.raises(P.ProtocolError, match="NAK CRC") as exc:
        P.parse_result(*P.split_frame(good)[:2], T=1, classes=1, score_bytes=1)
    assert exc.value.nak == P.Nak.CRC
    bad = bytearray(good)
    bad[-1] ^= 1
    with pytest.raises(P.ProtocolError, match="CRC"):
        P.split_frame(bytes(bad))
    with pytest.raises(P.ProtocolError, match="not sync 0x5A"):
        P.split_frame(b"\x00" + good[1:])
    with pytest.raises(P.ProtocolError, match="announces 1 payload bytes, got 0"):
        P.split_frame(good[:-1] + b"")  # the CRC byte missing
    with pytest.raises(P.ProtocolError, match="at least 5 bytes"):
        P.split_frame(good[:3])
    with pytest.raises(ValueError, match="0..31, not 0..32"):
        P.classify_request([0, 32], pixel_bits=5)


@pytest.mark.parametrize("kwargs, bad", [
    ({"pixel_bits": 9}, "pixel_bits must be at most 8"),
    ({"features": 0}, "features must be a positive integer, not 0"),
    ({"features": 70000}, "features must be at most 65535, not 70000"),
    ({"model_id": b"abc"}, "model_id must be 4 bytes, not b'abc'"),
])
def test_link_config_validation(kwargs, bad):
    base = dict(pixel_bits=5, features=64, classes=10, T=4, score_bits=28, label_bits=4, quiet_clocks=256)
    with pytest.raises(ValueError, match=bad.replace("(", r"\(").replace(")", r"\)")):
        HostLinkConfig(**{**base, **kwargs})


def test_uart_divisor_validation():
    with pytest.raises(ValueError, match="integer >= 4, not 3"):
        UARTRx(divisor=3)
    with pytest.raises(ValueError, match="integer >= 4, not 2.5"):
        UARTTx(divisor=2.5)
