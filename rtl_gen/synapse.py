"""Fully connected synapse engine: weight ROM, input code buffer, ternary MAC, accumulator."""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from .config import SynapseConfig, log2_exact
from .ternary_mac import TernaryMAC


class Synapse(wiring.Component):
    """Computes ``acc[n] = sum_i weight[n, i] * code[i]`` for every output ``n`` in order.

    The input codes live in this block's buffer (``lanes`` codes per word), written one code
    at a time through ``wr_*`` by whatever produces them (the pixel loader or the previous
    layer's neuron core).  A ``start`` pulse sweeps all outputs, ``chunks`` clocks each, with
    no stall: results leave on ``out_*`` as a strobe.  ``busy`` is high from ``start`` until
    the last result has left.

    Members
    -------
    wr_en, wr_index, wr_code : In    write one input code
    start : In(1)                    begin a sweep (ignored while busy)
    busy : Out(1)
    out_valid, out_index, out_acc : Out   one accumulated sum per output neuron
    """

    def __init__(self, config: SynapseConfig):
        if not isinstance(config, SynapseConfig):
            raise TypeError(f"Synapse needs a SynapseConfig, not {config!r}")
        self.config = c = config
        super().__init__({
            "wr_en": In(1),
            "wr_index": In(range(c.in_features)),
            "wr_code": In(unsigned(c.in_bits)),
            "start": In(1),
            "busy": Out(1),
            "out_valid": Out(1),
            "out_index": Out(range(c.out_features)),
            "out_acc": Out(signed(c.acc_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.config
        L, K, N = c.lanes, c.chunks, c.out_features
        lane_bits = log2_exact(L)

        m.submodules.weights = rom = memory.Memory(shape=unsigned(2 * L), depth=N * K, init=c.rom_words())
        m.submodules.buffer = buf = memory.Memory(shape=unsigned(c.in_bits * L), depth=K, init=[])
        m.submodules.mac = mac = TernaryMAC(lanes=L, in_bits=c.in_bits)
        rom_rd = rom.read_port()
        buf_rd = buf.read_port()
        buf_wr = buf.write_port(granularity=c.in_bits)

        # Input buffer writes: word = index / lanes, lane = index % lanes.
        lane = self.wr_index[:lane_bits] if lane_bits else 0
        m.d.comb += [
            buf_wr.addr.eq(self.wr_index >> lane_bits),
            buf_wr.data.eq(self.wr_code.replicate(L)),
            buf_wr.en.eq(Mux(self.wr_en, 1 << lane, 0)),
        ]

        # Stage A: sweep (n, k) and address the ROM and the buffer.
        running = Signal()
        n_a = Signal(range(N))
        k_a = Signal(range(K))
        waddr = Signal(range(N * K))
        m.d.comb += [rom_rd.addr.eq(waddr), buf_rd.addr.eq(k_a)]
        with m.If(running):
            m.d.sync += waddr.eq(waddr + 1)
            with m.If(k_a == K - 1):
                m.d.sync += k_a.eq(0)
                with m.If(n_a == N - 1):
                    m.d.sync += [running.eq(0), n_a.eq(0), waddr.eq(0)]
                with m.Else():
                    m.d.sync += n_a.eq(n_a + 1)
            with m.Else():
                m.d.sync += k_a.eq(k_a + 1)
        with m.Elif(self.start):
            m.d.sync += [running.eq(1), n_a.eq(0), k_a.eq(0), waddr.eq(0)]

        # Stage B: ROM and buffer data arrive and enter the MAC; the tags ride alongside.
        tag_b = (Signal(name="valid_b"), Signal(name="first_b"), Signal(name="last_b"), Signal(range(N), name="n_b"))
        m.d.sync += [tag_b[0].eq(running), tag_b[1].eq(k_a == 0), tag_b[2].eq(k_a == K - 1), tag_b[3].eq(n_a)]
        m.d.comb += [mac.codes.eq(buf_rd.data), mac.weights.eq(rom_rd.data)]
        pipe = [tag_b]
        for i in range(mac.latency):
            nxt = tuple(Signal.like(s, name=f"{s.name[:-2]}_m{i}") for s in tag_b)
            m.d.sync += [d.eq(s) for d, s in zip(nxt, pipe[-1])]
            pipe.append(nxt)

        # Stage C: accumulate over the chunks of one output neuron.
        valid_c, first_c, last_c, n_c = pipe[-1]
        acc = Signal(signed(c.acc_bits))
        acc_next = Signal(signed(c.acc_bits))
        m.d.comb += acc_next.eq(Mux(first_c, mac.sum, acc + mac.sum))
        with m.If(valid_c):
            m.d.sync += acc.eq(acc_next)
        m.d.sync += [
            self.out_valid.eq(valid_c & last_c),
            self.out_index.eq(n_c),
            self.out_acc.eq(acc_next),
        ]
        in_flight = [tag[0] for tag in pipe]
        m.d.comb += self.busy.eq(running | self.out_valid | Cat(*in_flight).any())
        return m
