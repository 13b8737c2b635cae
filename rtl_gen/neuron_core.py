"""Pipelined neuron core: one neuron update per clock (charge -> fire -> reset); HD-LIF or LIF / IF."""

from __future__ import annotations

import numpy as np
from amaranth import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import BRAM_SHAPES, NeuronConfig, memory_cost
from .hw import ctr, delay_line, make_memory, no_collision, pipelined_mul, pipelined_mul_latency


def _columns_cost(depth: int, cols) -> dict:
    """``luts`` and ``brams`` of ``depth`` words in bit columns ``((lo, width, bank_depth), ...)``."""
    mems = [memory_cost(min(bd, depth - k * bd), w) for _, w, bd in cols for k in range(-(-depth // bd))]
    return {"luts": sum(x["luts"] for x in mems), "brams": sum(x["brams"] for x in mems)}


class HDLIFCore(wiring.Component):
    """Lane ``lane`` of a layer's neurons: updates neuron ``in_addr`` with ``in_current`` at step ``in_t``.

    Exactly :func:`golden.executor.hdlif_step`::

        charge:  m = ((lambda_t * v + 2**(lambda_frac-1)) >> lambda_frac) + I   (v = 0 at t = 0)
        fire:    s* = max(m - theta_t, 0);  spike_code = min((s* + 2**(frac-1)) >> frac, max_code)
        reset:   v = min(m, theta_t)                                             (P2-reset)

    The lane owns the channels ``o = og * lanes + lane``; ``lambda_t`` / ``theta_t`` are per step
    (a table indexed by ``t``) or per step and channel (a ROM indexed by ``t`` and ``og``).  The
    residual membranes live in a memory of ``neurons / lanes`` words.  A Parallel HD-LIF core
    (``kind = "parallel"``: ``m = I``, stateless) has no membrane memory and no multiplier.

    A LIF / IF core (``kind = "lif"``, :func:`golden.executor.lif_fire`) charges the same way and
    fires ``spike = m >= theta_t`` (a 1-bit code); it writes back ``v_reset`` (``reset =
    "value"``) or ``m - theta_t`` (``reset = "subtract"``) after a spike and ``m`` otherwise.  An
    IF core (every ``lambda_t = 2**lambda_frac``) adds ``v`` without a multiplier.

    Pipeline (:meth:`latency_of`: 7 clocks, 8 with several membrane banks, and the leak
    product's own clocks past one, :meth:`leak_latency`: 3 more, 4 for a membrane over 18 bits):
    read v -> register each bank's v (twice with several banks: once by its block RAM, once by
    the multiplexer) ->
    select the bank -> leak product -> charge -> the excess ``m - theta_t`` and the membrane to
    keep -> fire (code out, v written back).  The membrane memory is split into banks of one
    block RAM, and into bit columns where that saves block RAMs (:meth:`membrane_columns`).  Each
    neuron is updated at most once per time step and the steps of one neuron are at least the
    latency apart, so reads never race writes.  (The
    excess has a clock of its own: with the code's rounding and clamp after it, one clock was
    three carry chains in a row, the slowest path of the 85F ResNet.  The second bank register:
    with the block RAMs spread over the die, the placer put a bank's one register by the
    multiplexer that reads all of them, 4.7 ns of routing from the block RAM's 5.8 ns
    clock-to-out, the 93 % ResNet's critical path.)

    Members
    -------
    in_valid, in_addr, in_t, in_og, in_current : In   one update per clock
    out_code : Out(unsigned(code_bits))                :meth:`latency_of` clocks later
    """

    @staticmethod
    def membrane_columns(config: NeuronConfig) -> tuple[tuple[int, int, int], ...]:
        """How a lane's residual membranes sit in block RAM: ``((lo, width, bank_depth), ...)``,
        bits ``lo .. lo + width - 1`` of every membrane in banks of ``bank_depth`` words, at most
        one block RAM each (a single bank holding every word where they fit in one); none for a
        stateless core.

        Whole words in banks of one DP16KD (1024 x 18, or 512 x 36 past 18 bits), unless
        columns cost fewer block RAMs: a memory wider than a DP16KD mode takes a narrower one
        for its top bits (a 19-bit membrane: 18 bits in 1024 x 18 banks and the 19th in one
        16384 x 1 block for 16,384 words, where whole words take a 512 x 36 block per 512
        words: 8 DP16KD instead of 13 for 6,272 words).  Yosys maps each memory in one mode,
        so the columns are memories of their own."""
        if not config.stateful:
            return ()
        depth, mb = config.words_per_lane, config.membrane_bits

        def layout(cols):
            return tuple((lo, w, min(bd, depth)) for lo, w, bd in cols)

        def cost(cols):
            c = _columns_cost(depth, cols)
            return c["brams"], c["luts"]

        whole = layout([(0, mb, 1024 if mb <= 18 else 512)])
        split = layout([(lo, min(18, mb - lo), max(d for d, w in BRAM_SHAPES if w >= min(18, mb - lo)))
                        for lo in range(0, mb, 18)])
        return split if cost(split) < cost(whole) else whole

    @classmethod
    def membrane_cost(cls, config: NeuronConfig) -> dict:
        """One lane's membrane memories (:meth:`membrane_columns`): ``luts``, ``brams`` and the
        ``ffs`` of the banks' registers by their block RAMs."""
        cols = cls.membrane_columns(config)
        cost = _columns_cost(config.words_per_lane, cols)
        banked = cls.membrane_banked(config)
        return {**cost, "ffs": sum(-(-config.words_per_lane // bd) * w for _, w, bd in cols) if banked else 0}

    @classmethod
    def membrane_banked(cls, config: NeuronConfig) -> bool:
        """Whether a column of the membranes has several banks (a multiplexer after them, and a
        second register by each block RAM: :meth:`latency_of`'s eighth clock)."""
        depth = config.words_per_lane
        return any(bd < depth for _, _, bd in cls.membrane_columns(config))

    @staticmethod
    def multiplies(config: NeuronConfig) -> bool:
        """Whether the core has a leak product ``lambda_t * v`` (vanilla HD-LIF and LIF; not a
        Parallel core, nor an IF one, whose ``v`` is added as it is)."""
        return config.stateful and not config.integrates

    @classmethod
    def leak_latency(cls, config: NeuronConfig) -> int:
        """Clocks of the leak product: the operands' :attr:`LEAK_APPROACH` registers and
        :func:`rtl_gen.hw.pipelined_mul_latency` (DSP-sized pieces, each registered
        :data:`rtl_gen.hw.DSP_LANDING` times straight out of its block, a registered adder tree
        for several), or one without a product.  Left to
        Yosys in one clock, a 19-bit membrane's product was two blocks, 8.3 ns of routing and a
        carry chain (71.7 MHz, the fixed-point SECA ResNet's critical path); and even one
        block, between the stage-3 registers and the leak register, was 3.7 ns of routing to it
        and 4.3 ns back with the block's 3.9 ns (80.6 MHz, the stem's leak, with the placer
        free to put the block far from both; registered on each side it is not)."""
        if not cls.multiplies(config):
            return 1
        return cls.LEAK_APPROACH + pipelined_mul_latency(config.membrane_bits, max(config.lambda_bits, 2))

    #: registers on each leak operand's way to its multiplier block: the first by the pipeline,
    #: the second free to sit by the block (with one, nextpnr left it by its source, 4.5 ns of
    #: routing from the block)
    LEAK_APPROACH = 2

    @classmethod
    def latency_of(cls, config: NeuronConfig) -> int:
        """Clocks from ``in_valid`` to ``out_code`` (and the membrane's write back)."""
        return 6 + cls.leak_latency(config) + cls.membrane_banked(config)

    def __init__(self, config: NeuronConfig, lane: int = 0):
        if not isinstance(config, NeuronConfig):
            raise TypeError(f"HDLIFCore needs a NeuronConfig, not {config!r}")
        if not (isinstance(lane, int) and 0 <= lane < config.lanes):
            raise ValueError(f"HDLIFCore lane must be an integer in 0..{config.lanes - 1}, not {lane!r}")
        self.config = c = config
        self.lane = lane
        super().__init__({
            "in_valid": In(1),
            "in_addr": In(ctr(c.words_per_lane)),
            "in_t": In(ctr(c.T)),
            "in_og": In(ctr(c.channels // c.lanes)),
            "in_current": In(signed(c.current_bits)),
            "out_code": Out(unsigned(c.code_bits)),
        })

    def _table(self, a) -> np.ndarray:
        """``[T, channels / lanes]`` values of this lane, or ``[T]`` when per step only."""
        c = self.config
        a = np.asarray(a, np.int64)
        return a[:, self.lane::c.lanes] if a.ndim == 2 else a

    def elaborate(self, platform):
        m = Module()
        c = self.config
        mb = c.membrane_bits
        K = c.channels // c.lanes
        stateful = c.stateful                     # keeps membranes: HD-LIF vanilla, LIF, IF
        lam_tab, th_tab = self._table(c.lambda_t), self._table(c.theta_t)
        lb = max(c.lambda_bits, 2)

        # Stage 1: request the residual membrane and the per-channel parameters.
        v1, a1, t1, cur1, first1 = (Signal(name="v1"), Signal(ctr(c.words_per_lane), name="a1"),
                                    Signal(ctr(c.T), name="t1"), Signal(signed(c.current_bits), name="cur1"),
                                    Signal(name="first1"))
        m.d.sync += [v1.eq(self.in_valid), a1.eq(self.in_addr), t1.eq(self.in_t), cur1.eq(self.in_current),
                     first1.eq(self.in_t == 0)]
        per_ch = lam_tab.ndim == 2 or th_tab.ndim == 2
        if per_ch:
            lam2d = lam_tab if lam_tab.ndim == 2 else np.broadcast_to(lam_tab[:, None], (c.T, K))
            th2d = th_tab if th_tab.ndim == 2 else np.broadcast_to(th_tab[:, None], (c.T, K))
            words = [((int(th2d[t, g]) & ((1 << mb) - 1)) << lb) | (int(lam2d[t, g]) & ((1 << lb) - 1))
                     for t in range(c.T) for g in range(K)]
            m.submodules.params = prom = make_memory(shape=unsigned(lb + mb), depth=len(words), init=words, rom=True,
                                                     logic_depth=c.rom_logic_depth)
            prd = prom.read_port()
            m.d.comb += prd.addr.eq(self.in_t * K + self.in_og)

        # Stage 2: the residual membrane (and parameters) arrive and are registered.
        v2, a2, t2, cur2, first2 = (Signal(name="v2"), Signal.like(a1, name="a2"), Signal.like(t1, name="t2"),
                                    Signal.like(cur1, name="cur2"), Signal(name="first2"))
        lam2, th2 = Signal(signed(lb), name="lam2"), Signal(signed(mb), name="th2")
        m.d.sync += [v2.eq(v1), a2.eq(a1), t2.eq(t1), cur2.eq(cur1), first2.eq(first1)]
        if per_ch:
            m.d.sync += [lam2.eq(prd.data[:lb].as_signed()), th2.eq(prd.data[lb:].as_signed())]
        else:
            lam_c = Array(Const(int(x), signed(lb)) for x in lam_tab)
            th_c = Array(Const(int(x), signed(mb)) for x in th_tab)
            m.d.sync += [lam2.eq(lam_c[t1]), th2.eq(th_c[t1])]

        # The residual membranes: bit columns in banks of at most one block RAM each
        # (:meth:`membrane_columns`), every bank's output registered before the bank is selected
        # (a deep memory's output multiplexer after the block RAMs' slow clock-to-out would be
        # the critical path).
        cols = self.membrane_columns(c)
        banked = self.membrane_banked(c)
        depth = c.words_per_lane
        columns = []                              # (lo, width, lo_bits, [(read, write)], [bank_q])
        for j, (lo, w, bd) in enumerate(cols):
            nb = -(-depth // bd)
            lo_bits = (bd - 1).bit_length() if nb > 1 else None
            ports, qs = [], []
            for k in range(nb):
                mem = make_memory(shape=unsigned(w), depth=min(bd, depth - k * bd), no_rw_check=True)
                m.submodules[f"membrane_c{j}_{k}"] = mem
                rd, wr = mem.read_port(), mem.write_port()
                q = Signal(unsigned(w), name=f"bank_q{j}_{k}", reset_less=True)
                m.d.comb += rd.addr.eq(self.in_addr[:lo_bits] if nb > 1 else self.in_addr)
                if banked:
                    near = Signal(unsigned(w), name=f"bank_r{j}_{k}", reset_less=True)
                    m.d.sync += [near.eq(rd.data), q.eq(near)]
                else:
                    m.d.sync += q.eq(rd.data)
                ports.append((rd, wr))
                qs.append(q)
            columns.append((lo, w, lo_bits, ports, qs))
        if banked:
            # the second bank register's clock: the tags and parameters wait one more
            held = [Signal.like(x, name=f"{x.name}b") for x in (v2, a2, t2, cur2, first2, lam2, th2)]
            m.d.sync += [h.eq(x) for h, x in zip(held, (v2, a2, t2, cur2, first2, lam2, th2))]
            v2, a2, t2, cur2, first2, lam2, th2 = held

        # Stage 3: the membrane selected among the banks (v = 0 at the first step).
        v3, a3, cur3, first3 = Signal(name="v3"), Signal.like(a1, name="a3"), Signal.like(cur1, name="cur3"), Signal(name="first3")
        lam3, th3 = Signal.like(lam2, name="lam3"), Signal.like(th2, name="th3")
        v_prev = Signal(signed(mb), reset_less=True)
        m.d.sync += [v3.eq(v2), a3.eq(a2), cur3.eq(cur2), first3.eq(first2), lam3.eq(lam2), th3.eq(th2)]
        if stateful:
            # every value of a bank index selects a bank (the unused top ones: the last), so the
            # selection is a total function: a partial one leaves Yosys a latch
            parts = []
            for lo, w, lo_bits, _, qs in columns:
                sel = a2[lo_bits:] if len(qs) > 1 else None
                parts.append(Array(qs + [qs[-1]] * ((1 << len(sel)) - len(qs)))[sel] if sel is not None else qs[0])
            m.d.sync += v_prev.eq(Cat(*parts).as_signed())

        # Stage 4: leak product lambda_t * v, operands and product registered (:meth:`leak_latency`).
        v4, a4, cur4, th4 = (delay_line(m, x, self.leak_latency(c), n)
                             for x, n in ((v3, "v4"), (a3, "a4"), (cur3, "cur4"), (th3, "th4")))
        leak = Signal(signed(c.leak_bits), reset_less=True)
        if c.integrates:                          # IF: lambda * v >> lambda_frac is v, rounded or not
            m.d.sync += leak.eq(Mux(first3, 0, v_prev << c.lambda_frac))
        elif self.multiplies(c):
            # each operand registered twice on its way to the block (LEAK_APPROACH)
            va, la = Signal(signed(mb), name="leak_v", reset_less=True), Signal(signed(lb), name="leak_lam", reset_less=True)
            m.d.sync += [va.eq(Mux(first3, 0, v_prev)), la.eq(lam3)]
            va, la = (delay_line(m, x, self.LEAK_APPROACH - 1, n) for x, n in ((va, "leak_v"), (la, "leak_lam")))
            m.d.comb += leak.eq(pipelined_mul(m, va, la, "leak"))

        # Stage 5: charge, rounding the leak half up.
        v5, a5, th5 = Signal(name="v5"), Signal.like(a1, name="a5"), Signal.like(th2, name="th5")
        mem5 = Signal(signed(mb), reset_less=True)
        m.d.sync += [v5.eq(v4), a5.eq(a4), th5.eq(th4)]
        if stateful:
            m.d.sync += mem5.eq(((leak + (1 << (c.lambda_frac - 1))) >> c.lambda_frac) + cur4)
        else:
            m.d.sync += mem5.eq(cur4)

        # Stage 6: the excess over the threshold, and the membrane to keep: HD-LIF keeps
        # min(m, theta_t) (P2-reset); LIF keeps v_reset or m - theta_t after a spike, else m.
        v6, a6 = Signal(name="v6"), Signal.like(a1, name="a6")
        excess, residual = Signal(signed(mb + 1), reset_less=True), Signal(signed(mb), reset_less=True)
        diff = mem5 - th5
        if c.kind == "lif":
            after = diff if c.reset == "subtract" else Const(c.v_reset, signed(mb))
            keep = Mux(diff >= 0, after, mem5)
        else:
            keep = Mux(diff < 0, mem5, th5)
        m.d.sync += [v6.eq(v5), a6.eq(a5), excess.eq(diff), residual.eq(keep)]

        # Stage 7: fire, then the spike code (v written back): HD-LIF quantizes the excess into a
        # graded code; LIF fires m >= theta_t.  The code's clamp compares the excess itself
        # (rounded > max_code exactly when the excess reaches the constant below), beside the
        # rounding rather than after it.
        if c.kind == "lif":
            code = excess >= 0
        else:
            rounded = Signal(unsigned(mb + 2))
            half = 1 << (c.frac - 1)
            m.d.comb += rounded.eq((excess + half) >> c.frac)
            over = ((c.max_code + 1) << c.frac) - half      # (x + half) >> frac > max_code  <=>  x >= over
            code = Mux(excess <= 0, 0, Mux(excess >= over, c.max_code, rounded))
        if stateful:
            kept = residual.as_unsigned()
            for lo, w, lo_bits, ports, _ in columns:
                for k, (_, wr) in enumerate(ports):
                    hit = (a6[lo_bits:] == k) if len(ports) > 1 else 1
                    m.d.comb += [wr.addr.eq(a6[:lo_bits] if len(ports) > 1 else a6), wr.data.eq(kept[lo:lo + w]),
                                 wr.en.eq(v6 & hit)]
            # the steps of a neuron are the latency apart: no membrane read that is used (after
            # step 0) hits the one written in the same clock, so the banks need no
            # read-during-write logic after their block RAMs (no_rw_check)
            no_collision(m, wr_addr=a6, wr_en=v6, rd_addr=self.in_addr, live=self.in_valid & (self.in_t != 0),
                         what="neuron membranes")
        m.d.sync += self.out_code.eq(code)
        return m
