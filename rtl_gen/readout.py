"""Readout engine: per-step class scores; the score emitter: streams them, sums them, argmax."""

from __future__ import annotations

import math

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .buffers import SlotTracker
from .config import ReadoutConfig, add_cost, bits_for
from .hdlif_layer import connect_events, event_ports
from .hw import ctr
from .requant import Requant
from .synapse import SynapseEngine


class ReadoutEngine(wiring.Component):
    """``score_t[c] = acc_t[c] * mult[c] + bias[c]`` (exactly :func:`golden.executor.readout`).

    Items (image, step) in order, as :class:`rtl_gen.hdlif_layer.HDLIFLayerEngine`; the scores
    of an item leave one class per clock on ``score_*`` into the :class:`ScoreEmitter`.

    Members
    -------
    rd_addr, rd_en : Out, rd_data : In, in_full, in_slot : In(1), in_release : Out(1)
    out_ready : In(1), out_acquire : Out(1), score_valid, score_value, score_last : Out
    busy : Out(1)
    """

    #: clocks from the synapse's ``out_valid`` to ``score_valid`` (the requantizer)
    SCORE_DELAY = Requant.latency

    @staticmethod
    def resources(config: ReadoutConfig) -> dict:
        """The synapse and one requantizer lane (its parameter ROM is counted as logic below)."""
        return add_cost(SynapseEngine.resources(config.synapse), Requant.resources(config.requant))

    def __init__(self, config: ReadoutConfig):
        if not isinstance(config, ReadoutConfig):
            raise TypeError(f"ReadoutEngine needs a ReadoutConfig, not {config!r}")
        self.config = c = config
        self.synapse = SynapseEngine(c.synapse)
        self.latency = self.synapse.latency + self.SCORE_DELAY
        syn = c.synapse
        super().__init__({
            **event_ports(self.synapse),
            "rd_addr": Out(unsigned(self.synapse.window.addr_bits)), "rd_en": Out(1),
            "rd_data": In(unsigned(syn.fold.simd * syn.in_bits)),
            "in_full": In(1), "in_slot": In(1), "in_release": Out(1),
            "out_ready": In(1), "out_acquire": Out(1),
            "score_valid": Out(1), "score_value": Out(signed(c.score_bits)), "score_last": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.config
        C = c.classes
        m.submodules.synapse = syn = self.synapse
        start = Signal()
        m.d.comb += [
            start.eq(~syn.sweeping & self.in_full & self.out_ready),
            syn.start.eq(start), syn.t.eq(0), syn.slot_off.eq(Mux(self.in_slot, c.synapse.words, 0)),
            syn.full.eq(1),
            self.rd_addr.eq(syn.rd_addr), self.rd_en.eq(syn.rd_en), syn.rd_data.eq(self.rd_data),
            self.in_release.eq(syn.done),
            self.out_acquire.eq(start),
        ]
        cls = Signal(ctr(C))
        with m.If(syn.out_valid):
            m.d.sync += cls.eq(Mux(syn.out_last, 0, cls + 1))
        m.submodules.requant = rq = Requant(c.requant)
        m.d.comb += [rq.in_acc.eq(syn.out_data), rq.in_t.eq(0), rq.in_og.eq(cls)]
        v, last = syn.out_valid, syn.out_last
        busy = syn.busy
        for i in range(Requant.latency):
            v2, l2 = Signal(name=f"rq_v{i}"), Signal(name=f"rq_last{i}")
            m.d.sync += [v2.eq(v), l2.eq(last)]
            v, last = v2, l2
            busy = busy | v
        m.d.comb += [self.score_valid.eq(v), self.score_value.eq(rq.out_value.as_signed()),
                     self.score_last.eq(last), self.busy.eq(busy)]
        connect_events(m, self, syn)
        return m


class ScoreEmitter(wiring.Component):
    """Holds two steps of scores; streams each step's ``classes`` scores (class 0 first), keeps
    ``sum_t score_t`` per class, and after step ``T - 1`` streams the argmax (lowest index on a
    tie), exactly the golden model's class.

    Members
    -------
    w_ready : Out(1), w_acquire : In(1)           the score slots, as a :class:`SlotTracker`
    score_valid, score_value, score_last : In     one score per clock from the readout
    scores : Out(stream.Signature(signed(score_bits)))
    label : Out(stream.Signature(unsigned(label_bits)))
    """

    # ---- timing (at full rate: ``scores`` and ``label`` always ready), a step whose slot the
    # FSM finds FULL in WAIT at clock ``w``: its scores leave at w + 1 .. w + C, the slot is
    # released at w + C and WAIT looks again at w + C + 1; after the last step the argmax
    # drains two clocks and the label leaves at w + C + 4, WAIT again at w + C + 5.

    @staticmethod
    def resources(config: ReadoutConfig) -> dict:
        """Two steps of scores and the running sums in LUT RAM, the argmax, the FSM."""
        lutram = lambda d, w: math.ceil(d / 16) * math.ceil(w / 4) * 3  # noqa: E731
        C = config.classes
        return {"luts": lutram(2 * C, config.score_bits) + lutram(C, config.sum_bits) + 3 * config.sum_bits + 80,
                "ffs": 2 * config.score_bits + 3 * config.sum_bits + 40}

    @staticmethod
    def step_timing(classes: int, w: int, last_step: bool) -> dict:
        """``release`` (the score slot), ``next`` (the next WAIT) and, at the last step,
        ``label`` (the clock the label is taken) of a step found FULL at ``w``."""
        out = {"release": w + classes, "next": w + classes + 1}
        if last_step:
            out.update(label=w + classes + 4, next=w + classes + 5)
        return out

    def __init__(self, config: ReadoutConfig):
        if not isinstance(config, ReadoutConfig):
            raise TypeError(f"ScoreEmitter needs a ReadoutConfig, not {config!r}")
        self.config = c = config
        super().__init__({
            "w_ready": Out(1), "w_acquire": In(1),
            "score_valid": In(1), "score_value": In(signed(c.score_bits)), "score_last": In(1),
            "scores": Out(stream.Signature(signed(c.score_bits))),
            "label": Out(stream.Signature(unsigned(bits_for(c.classes)))),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.config
        C, T = c.classes, c.T
        m.submodules.tracker = tr = SlotTracker()
        m.d.comb += [self.w_ready.eq(tr.w_ready), tr.w_acquire.eq(self.w_acquire)]

        # Two steps of scores and the running sums live in LUT RAM (asynchronous reads).
        m.submodules.score_mem = smem = memory.Memory(shape=signed(c.score_bits), depth=2 * C, init=[],
                                                      attrs={"ram_style": "distributed"})
        m.submodules.sum_mem = umem = memory.Memory(shape=signed(c.sum_bits), depth=C, init=[],
                                                    attrs={"ram_style": "distributed"})
        swr, srd = smem.write_port(), smem.read_port(domain="comb")
        uwr, urd = umem.write_port(), umem.read_port(domain="comb")
        wc = Signal(ctr(C))
        with m.If(self.score_valid):
            m.d.sync += wc.eq(Mux(self.score_last, 0, wc + 1))
        m.d.comb += [swr.addr.eq(Mux(tr.w_slot, C, 0) + wc), swr.data.eq(self.score_value),
                     swr.en.eq(self.score_valid), tr.w_done.eq(self.score_valid & self.score_last)]

        # Emit one step: classes beats; the sums and the argmax follow two clocks behind.
        t, rc = Signal(ctr(T)), Signal(ctr(C))
        vA, cA, tA = Signal(), Signal(ctr(C)), Signal(ctr(T))
        sA = Signal(signed(c.score_bits))
        vB, cB = Signal(), Signal(ctr(C))
        sB = Signal(signed(c.sum_bits))
        best = Signal(signed(c.sum_bits))
        m.d.comb += [srd.addr.eq(Mux(tr.r_slot, C, 0) + rc), self.scores.payload.eq(srd.data)]
        take = self.scores.valid & self.scores.ready
        m.d.sync += [vA.eq(take), cA.eq(rc), tA.eq(t), sA.eq(self.scores.payload)]
        total = Signal(signed(c.sum_bits))
        m.d.comb += [urd.addr.eq(cA), total.eq(Mux(tA == 0, sA, urd.data + sA)),
                     uwr.addr.eq(cA), uwr.data.eq(total), uwr.en.eq(vA)]
        m.d.sync += [vB.eq(vA & (tA == T - 1)), cB.eq(cA), sB.eq(total)]
        with m.If(vB & ((cB == 0) | (sB > best))):
            m.d.sync += [best.eq(sB), self.label.payload.eq(cB)]

        with m.FSM(name="emit"):
            with m.State("WAIT"):
                with m.If(tr.r_full):
                    m.next = "EMIT"
            with m.State("EMIT"):
                m.d.comb += self.scores.valid.eq(1)
                with m.If(self.scores.ready):
                    m.d.sync += rc.eq(rc + 1)
                    with m.If(rc == C - 1):
                        m.d.sync += rc.eq(0)
                        m.d.comb += tr.r_release.eq(1)
                        with m.If(t == T - 1):
                            m.next = "ARGMAX"
                        with m.Else():
                            m.d.sync += t.eq(t + 1)
                            m.next = "WAIT"
            with m.State("ARGMAX"):
                with m.If(~vA & ~vB):
                    m.next = "LABEL"
            with m.State("LABEL"):
                m.d.comb += self.label.valid.eq(1)
                with m.If(self.label.ready):
                    m.d.sync += t.eq(0)
                    m.next = "WAIT"
        return m
