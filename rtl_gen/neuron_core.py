"""Pipelined HD-LIF neuron core: one neuron update per clock (charge -> fire -> P2-reset)."""

from __future__ import annotations

from amaranth import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from .config import NeuronConfig


class HDLIFCore(wiring.Component):
    """Updates the membrane of neuron ``in_index`` with current ``in_current`` at step ``t``.

    Exactly :func:`golden.executor.hdlif_step`::

        charge:  m = ((lambda_t * v + 2**(lambda_frac-1)) >> lambda_frac) + I   (v = 0 at t = 0)
        fire:    s* = max(m - theta_t, 0);  spike_code = min((s* + 2**(frac-1)) >> frac, max_code)
        reset:   v = min(m, theta_t)                                             (P2-reset)

    The residual membranes live in a memory of ``neurons`` words.  Pipeline (5 clocks):
    read v -> register v -> leak product -> charge -> fire/reset (v written back, code out).
    Each neuron is updated at most once per time step, so reads never race writes.

    Members
    -------
    t : In(range(T))                      the time step, constant during a sweep
    in_valid, in_index, in_current : In   one neuron update request per clock
    out_valid, out_index, out_code : Out  its graded spike code
    busy : Out(1)                         a request is still in the pipeline
    """

    def __init__(self, config: NeuronConfig):
        if not isinstance(config, NeuronConfig):
            raise TypeError(f"HDLIFCore needs a NeuronConfig, not {config!r}")
        self.config = c = config
        super().__init__({
            "t": In(range(c.T)),
            "in_valid": In(1),
            "in_index": In(range(c.neurons)),
            "in_current": In(signed(c.current_bits)),
            "out_valid": Out(1),
            "out_index": Out(range(c.neurons)),
            "out_code": Out(unsigned(c.code_bits)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.config
        mb = c.membrane_bits
        m.submodules.membrane = mem = memory.Memory(shape=signed(mb), depth=c.neurons, init=[])
        rd = mem.read_port()
        wr = mem.write_port()

        lambda_bits = max(max(abs(x) for x in c.lambda_t).bit_length() + 1, 2)
        lam_tab = Array(Const(x, signed(lambda_bits)) for x in c.lambda_t)
        theta_tab = Array(Const(x, signed(mb)) for x in c.theta_t)

        # Stage 1: request the residual membrane.
        m.d.comb += rd.addr.eq(self.in_index)
        v1, i1 = Signal(), Signal(range(c.neurons))
        cur1 = Signal(signed(c.current_bits))
        first1 = Signal()
        m.d.sync += [v1.eq(self.in_valid), i1.eq(self.in_index), cur1.eq(self.in_current),
                     first1.eq(self.t == 0)]

        # Stage 2: the residual membrane arrives from memory and is registered.
        v2, i2, first2 = Signal(), Signal(range(c.neurons)), Signal()
        cur2 = Signal(signed(c.current_bits))
        v_prev = Signal(signed(mb))
        m.d.sync += [v2.eq(v1), i2.eq(i1), cur2.eq(cur1), first2.eq(first1), v_prev.eq(rd.data)]

        # Stage 3: leak product lambda_t * v (v = 0 at the first step).
        v3, i3 = Signal(), Signal(range(c.neurons))
        cur3 = Signal(signed(c.current_bits))
        leak = Signal(signed(c.leak_bits))
        m.d.sync += [v3.eq(v2), i3.eq(i2), cur3.eq(cur2),
                     leak.eq(Mux(first2, 0, lam_tab[self.t] * v_prev))]

        # Stage 4: charge, rounding the leak half up.
        v4, i4 = Signal(), Signal(range(c.neurons))
        mem4 = Signal(signed(mb))
        m.d.sync += [v4.eq(v3), i4.eq(i3),
                     mem4.eq(((leak + (1 << (c.lambda_frac - 1))) >> c.lambda_frac) + cur3)]

        # Stage 5: fire, graded spike quantization and P2-reset.
        theta = theta_tab[self.t]
        excess = Signal(signed(mb + 1))
        m.d.comb += excess.eq(mem4 - theta)
        rounded = Signal(unsigned(mb + 1))
        m.d.comb += rounded.eq((excess + (1 << (c.frac - 1))) >> c.frac)
        code = Mux(excess <= 0, 0, Mux(rounded > c.max_code, c.max_code, rounded))
        m.d.comb += [wr.addr.eq(i4), wr.data.eq(Mux(excess < 0, mem4, theta)), wr.en.eq(v4)]
        m.d.sync += [self.out_valid.eq(v4), self.out_index.eq(i4), self.out_code.eq(code)]
        m.d.comb += self.busy.eq(v1 | v2 | v3 | v4 | self.out_valid)
        return m
