"""SECA stage: channel attention on an engine's requantized current map, two passes per item."""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .buffers import RESIDUAL_ADD_LATENCY, RESIDUAL_READ_LATENCY, last_use, residual_ports, slot_offset
from .config import HDLIFLayerConfig, add_cost, bits_for, memory_cost
from .hw import ctr, delay_line, make_memory
from .requant import Requant


def stage_adds(layer: HDLIFLayerConfig) -> bool:
    """Whether the neuron stage adds the residual current (else there is none, or a SECA_II
    stage adds it before its attention, :func:`rtl_gen.seca.add_inside`)."""
    return layer.residual is not None and (layer.seca is None or layer.seca.before_add)


def add_inside(layer: HDLIFLayerConfig) -> bool:
    """Whether the residual add comes before the attention (SECA_II: the stage adds it)."""
    return layer.residual is not None and not layer.seca.before_add


class SecaStage(wiring.Component):
    """Between an engine's synapse and its neuron stage: the requantizer (and, for SECA_II, the
    residual add), then :func:`golden.graph.seca` on the item's whole current map::

        pass 1   each group's currents into a local one-item frame; the channel sums over space
        compute  per channel: z = sum_j taps[j] * g[c + j - k // 2], the table index
                 clip((z * zmult + 2**(zshift - 1)) >> zshift, -R, R - 1), s = table[index + R]
        pass 2   the frame again, in the same order: (x * s[c] + 2**(q - 1)) >> q, ``nl`` currents
                 per clock into the neuron stage

    Pass 1 of item ``k + 1`` runs while item ``k`` is replayed (sums and scales are kept for two
    items, in flip-flops); the frame holds one item.  An engine starts an item only when the
    previous item's replay has begun (``ready``): the replay reads a word a clock without pause,
    and the new item's first current reaches the frame clocks after the engine's start, writing
    a word a clock at most, so every word is read before it is overwritten.  (A second slot
    would save the ``C + 7`` clocks of the compute per item, but it is an engine's whole current
    map in block RAM: 23 of the SECA ResNet's blocks.)

    Timing (what :meth:`item_timing` gives the estimate), for an item whose last synapse group
    leaves at ``last_out``: its pass 1 ends (``w_done``) at ``last_out + pre + 1`` (``pre``: the
    requantizer, and the adder for SECA_II); the compute of its ``C`` channels starts a clock
    later (after the previous item's), its scales are ready ``C + 4`` clocks after that; the
    replay starts then (after the previous one's), reads one word a clock and hands each to the
    neuron stage 3 clocks after its read; the engine may start the next item a clock after the
    replay starts.

    Members
    -------
    in_valid, in_data, in_t, in_last : In      the synapse's sums
    acquire : In(1), ready : Out(1)            the engine's start, a local slot free
    out_valid, out_data, out_t, out_last : Out  the scaled currents (``out_bits`` per lane)
    busy : Out(1)
    res_* : the residual frame's read port, for SECA_II (:func:`rtl_gen.hdlif_layer.residual_ports`)
    """

    #: clocks from a channel's issue to its scale (read the sums, the taps, the index product, the table)
    COMPUTE_LATENCY = 4
    #: clocks from a word's read to its scaled current at the neuron stage
    REPLAY_LATENCY = 3

    @classmethod
    def pre_latency(cls, layer: HDLIFLayerConfig) -> int:
        return Requant.latency + (RESIDUAL_ADD_LATENCY if add_inside(layer) else 0)

    @classmethod
    def item_timing(cls, layer: HDLIFLayerConfig, last_out: int, state: dict | None) -> tuple[dict, dict]:
        """Of an item whose last synapse group leaves at ``last_out`` (``state``: the previous
        item's compute and replay starts): ``free`` (the first clock the engine may start the
        next item), ``last_in`` (its last current at the neuron stage), the new state."""
        c = layer.seca
        C, G = c.channels, c.words
        state = state or {"compute": -(1 << 30), "replay": -(1 << 30)}
        d1 = last_out + cls.pre_latency(layer) + 1
        x = max(d1 + 1, state["compute"] + C + 1)
        ready = x + C + cls.COMPUTE_LATENCY
        r0 = max(ready, state["replay"] + G + 1)
        return ({"free": r0 + 1, "last_in": r0 + G + cls.REPLAY_LATENCY}, {"compute": x, "replay": r0})

    @staticmethod
    def resources(layer: HDLIFLayerConfig) -> dict:
        """The requantizer, the local frame, the sums and scales (flip-flops, two items) and their
        multiplexers, the tap adders, the index multiplier, the table, a multiplier per lane."""
        c = layer.seca
        NL, C = c.lanes, c.channels
        k = len(c.taps)
        sb = c.q + 1
        luts = NL * (c.sum_bits * (2 * C) / 4 + c.sum_bits) + k * c.sum_bits * (2 * C) / 4 + k * c.z_bits * 2 + \
            c.z_product_bits + len(c.table) * sb / 4 + NL * (sb * 2 * C / 4 + c.product_bits) + 150
        ffs = 2 * C * (c.sum_bits + sb) + k * c.sum_bits + c.z_bits + c.z_product_bits + \
            NL * (c.in_bits * 2 + c.product_bits + c.out_bits) + Requant.latency * (c.words.bit_length() + 8) + 120
        cost = {"luts": luts, "ffs": ffs, "dsps": NL + (1 if c.z_product_bits > 18 else 0)}
        return add_cost(cost, memory_cost(c.words, NL * c.in_bits),
                        Requant.resources(layer.requant, acc_regs=3, param_regs=2))

    def __init__(self, layer: HDLIFLayerConfig):
        if not (isinstance(layer, HDLIFLayerConfig) and layer.seca is not None):
            raise TypeError(f"SecaStage needs an HDLIFLayerConfig with a seca, not {layer!r}")
        self.layer = layer
        c = layer.seca
        syn = layer.synapse
        super().__init__({
            **(residual_ports(layer.residual) if add_inside(layer) else {}),
            "in_valid": In(1), "in_data": In(unsigned(c.lanes * layer.requant.acc_bits)), "in_t": In(ctr(c.T)),
            "in_last": In(1),
            "acquire": In(1), "ready": Out(1),
            "out_valid": Out(1), "out_data": Out(unsigned(c.lanes * c.out_bits)), "out_t": Out(ctr(c.T)),
            "out_last": Out(1),
            "busy": Out(1),
        })
        assert syn.out_channels == c.channels

    def elaborate(self, platform):
        m = Module()
        layer, c = self.layer, self.layer.seca
        NL, C, G, K = c.lanes, c.channels, c.words, c.channels // c.lanes
        k = len(c.taps)
        R = len(c.table) // 2
        valids = []

        def delay(sig, n, name, *, valid=False):
            return delay_line(m, sig, n, name, valids if valid else None)

        # ---- pass 1: requantize (and add), write the local frame, sum each channel over space
        og, addr = Signal(ctr(K)), Signal(ctr(G))
        with m.If(self.in_valid):
            m.d.sync += [og.eq(Mux(self.in_last | (og == K - 1), 0, og + 1)), addr.eq(Mux(self.in_last, 0, addr + 1))]
        m.submodules.requant = rq = Requant(layer.requant)
        m.d.comb += [rq.in_acc.eq(self.in_data), rq.in_t.eq(self.in_t), rq.in_og.eq(og)]
        tags = dict(v=self.in_valid, t=self.in_t, og=og, last=self.in_last, addr=addr)
        tags = {n: delay(s, Requant.latency, f"rq_{n}", valid=n == "v") for n, s in tags.items()}
        cur, cb = rq.out_value, layer.requant.out_bits
        if add_inside(layer):
            f = layer.residual
            m.d.comb += [self.res_rd_addr.eq(slot_offset(self.res_slot, f.words, f.slots) + addr),
                         self.res_rd_en.eq(self.in_valid),
                         self.res_release.eq(self.in_valid & self.in_last & last_use(f, self.in_t, c.T))]
            res = delay(self.res_rd_data, Requant.latency - RESIDUAL_READ_LATENCY, "res")
            summed = Signal(unsigned(NL * c.in_bits))
            m.d.sync += summed.eq(Cat(*[(cur.word_select(j, cb).as_signed() + res.word_select(j, f.bits).as_signed())
                                        [:c.in_bits] for j in range(NL)]))
            cur, cb = summed, c.in_bits
            tags = {n: delay(s, RESIDUAL_ADD_LATENCY, f"add_{n}", valid=n == "v") for n, s in tags.items()}
        assert cb == c.in_bits, (layer.name, cb, c.in_bits)

        m.submodules.frame = mem = make_memory(shape=unsigned(NL * c.in_bits), depth=G)
        wr, rd = mem.write_port(), mem.read_port()
        wslot = Signal()                                 # which of the two sums / scales sets
        with m.If(tags["v"] & tags["last"]):
            m.d.sync += wslot.eq(~wslot)
        m.d.comb += [wr.addr.eq(tags["addr"]), wr.data.eq(cur), wr.en.eq(tags["v"])]
        t_of = Array(Signal(ctr(c.T), name=f"t_of{i}") for i in range(2))
        sums = Array(Signal(signed(c.sum_bits), name=f"sum{i}") for i in range(2 * C))
        first = tags["addr"] < K
        with m.If(tags["v"]):
            m.d.sync += t_of[wslot].eq(tags["t"])
            for j in range(NL):
                idx = wslot * C + tags["og"] * NL + j
                x = cur.word_select(j, cb).as_signed()
                m.d.sync += sums[idx].eq(Mux(first, x, sums[idx] + x))
        done1 = Signal()
        m.d.sync += done1.eq(tags["v"] & tags["last"])

        # ---- compute: one channel a clock, four registered stages
        pending = Signal(range(3))
        cbusy, cslot, cc = Signal(), Signal(), Signal(ctr(C))
        start_c = ~cbusy & (pending != 0)
        m.d.sync += pending.eq(pending + done1 - start_c)
        with m.If(start_c):
            m.d.sync += [cbusy.eq(1), cc.eq(0)]
        with m.If(cbusy):
            m.d.sync += cc.eq(cc + 1)
            with m.If(cc == C - 1):
                m.d.sync += [cbusy.eq(0), cslot.eq(~cslot)]
        g_regs = []
        for j in range(k):
            ch = Signal(signed(bits_for(C + k) + 2), name=f"tap_ch{j}")
            m.d.comb += ch.eq(Cat(cc, Const(0, 1)).as_signed() + (j - k // 2))      # cc zero-extended
            ok = (ch >= 0) & (ch < C)
            gr = Signal(signed(c.sum_bits), name=f"g{j}")
            m.d.sync += gr.eq(Mux(ok, sums[Mux(ok, cslot * C + ch.as_unsigned(), 0)], 0))
            g_regs.append(gr)
        v0, ch0, s0, last0 = Signal(), Signal.like(cc), Signal(), Signal()
        m.d.sync += [v0.eq(cbusy), ch0.eq(cc), s0.eq(cslot), last0.eq(cbusy & (cc == C - 1))]
        z = Signal(signed(c.z_bits))
        zsum = 0
        for tap, gr in zip((int(t) for t in c.taps), g_regs):
            if tap:
                zsum = zsum + gr * tap
        m.d.sync += z.eq(zsum)
        v1, ch1, s1, last1 = Signal(), Signal.like(cc), Signal(), Signal()
        m.d.sync += [v1.eq(v0), ch1.eq(ch0), s1.eq(s0), last1.eq(last0)]
        zp = Signal(signed(c.z_product_bits + 2))
        half = (1 << (c.zshift - 1)) if c.zshift > 0 else 0
        m.d.sync += zp.eq(z * int(c.zmult) + half)
        v2, ch2, s2, last2 = Signal(), Signal.like(cc), Signal(), Signal()
        m.d.sync += [v2.eq(v1), ch2.eq(ch1), s2.eq(s1), last2.eq(last1)]
        idx = Signal(signed(len(zp)))
        m.d.comb += idx.eq(zp >> c.zshift)
        sb = c.q + 1
        table = Array(Const(int(v), unsigned(sb)) for v in c.table)
        clipped = Signal(range(2 * R))
        with m.If(idx < -R):
            m.d.comb += clipped.eq(0)
        with m.Elif(idx > R - 1):
            m.d.comb += clipped.eq(2 * R - 1)
        with m.Else():
            m.d.comb += clipped.eq((idx + R)[:len(clipped)])
        scales = Array(Signal(unsigned(sb), name=f"scale{i}") for i in range(2 * C))
        sready = Array(Signal(name=f"sready{i}") for i in range(2))
        with m.If(v2):
            m.d.sync += scales[s2 * C + ch2].eq(table[clipped])
        with m.If(v2 & last2):
            m.d.sync += sready[s2].eq(1)
        valids += [cbusy, v0, v1, v2]

        # ---- pass 2: replay the frame, scaled, into the neuron stage
        rbusy, rslot, rw, rog = Signal(), Signal(), Signal(ctr(G)), Signal(ctr(K))
        start_r = ~rbusy & sready[rslot]
        with m.If(start_r):
            m.d.sync += [rbusy.eq(1), rw.eq(0), rog.eq(0)]
        rlast = rbusy & (rw == G - 1)
        with m.If(rbusy):
            m.d.sync += [rw.eq(rw + 1), rog.eq(Mux(rog == K - 1, 0, rog + 1))]
            with m.If(rw == G - 1):
                m.d.sync += [rbusy.eq(0), rslot.eq(~rslot), sready[rslot].eq(0)]
        m.d.comb += rd.addr.eq(rw)
        # Invariant (one-item frame): an item is let in only after the previous one's replay
        # began, so the replay is always ahead of the writer (module docstring).  ``waiting``
        # counts the items started whose replay has not.
        waiting = Signal(range(3))
        m.d.sync += waiting.eq(waiting + self.acquire - start_r)
        m.d.comb += self.ready.eq(waiting == 0)
        pv, pl, pog, pslot, pt = Signal(), Signal(), Signal.like(rog), Signal(), Signal(ctr(c.T))
        m.d.sync += [pv.eq(rbusy), pl.eq(rlast), pog.eq(rog), pslot.eq(rslot), pt.eq(t_of[rslot])]
        half_q = 1 << (c.q - 1)
        prods = []
        for j in range(NL):
            pr = Signal(signed(c.product_bits + 2), name=f"prod{j}")
            s = scales[pslot * C + pog * NL + j]
            m.d.sync += pr.eq(rd.data.word_select(j, c.in_bits).as_signed() * s + half_q)
            prods.append(pr)
        qv, ql, qt = Signal(), Signal(), Signal(ctr(c.T))
        m.d.sync += [qv.eq(pv), ql.eq(pl), qt.eq(pt)]
        m.d.sync += [self.out_valid.eq(qv), self.out_last.eq(qv & ql), self.out_t.eq(qt),
                     self.out_data.eq(Cat(*[(pr >> c.q)[:c.out_bits] for pr in prods]))]
        # Invariant (busy): high from an item's first group to its last scaled current, with no
        # gap: between the compute's last scale and the replay's start the item is held by its
        # ``sready`` flag.  (Without it an engine too small to overlap two steps started the next
        # item a clock early, while the previous one was about to be replayed.)
        valids += [rbusy, pv, qv, self.out_valid, done1, sready[0], sready[1]]
        busy = pending != 0
        for v in valids:
            busy = busy | v
        m.d.comb += self.busy.eq(busy)
        return m
