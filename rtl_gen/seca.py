"""SECA stage: channel attention on an engine's requantized current map, two passes per item."""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.hdl import Assert
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .buffers import (RESIDUAL_ADD_LATENCY, RESIDUAL_READ_LATENCY, FrameBuffer, banked_read, last_use,
                      residual_ports, slot_offset)
from .config import HDLIFLayerConfig, add_cost, dsp_blocks
from .hw import (COPY_LOADS, DSP_LANDING, FANOUT_TREE_LATENCY, const_bits, const_mul, csd, ctr, delay_line, dsp_split, fanout_tree,
                 fanout_tree_regs, no_collision, pipelined_mul, pipelined_mul_latency, register_copies)
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
    items, in flip-flops); the frame holds one item.  No multiplexer picks a channel's sum or
    scale: each bank is a chain of registers that turns by a lane group a word (pass 1 sums into
    the group at its front, the replay scales lane ``j`` by position ``j``) or shifts by a
    channel a clock (the compute reads position 0 into a ``k``-channel window and shifts the
    scales in at the end), so every path is a register to its neighbour or to a lane.  An engine starts an item only when the
    previous item's replay has begun (``ready``): the replay reads a word a clock without pause,
    and the new item's first current reaches the frame clocks after the engine's start, writing
    a word a clock at most, so every word is read before it is overwritten.  (A second slot
    would save the ``C + k // 2 + 7`` clocks of the compute per item, but it is an engine's whole current
    map in block RAM: 23 of the SECA ResNet's blocks.)

    Timing (what :meth:`item_timing` gives the estimate), for an item whose last synapse group
    leaves at ``last_out``: its pass 1 ends (``w_done``) at ``last_out + pre + 1`` (``pre``: the
    requantizer, and the adder for SECA_II); the compute (:meth:`compute_clocks`: ``C + k // 2``)
    starts a clock later (after the previous item's), the replay :meth:`compute_latency` clocks after
    its end (after the previous replay); it reads one word a clock and hands each to the neuron
    stage ``REPLAY_LATENCY`` clocks after its read; the engine may start the next item a clock
    after the replay starts.

    Members
    -------
    in_valid, in_data, in_t, in_last : In      the synapse's sums
    acquire : In(1), ready : Out(1)            the engine's start, a local slot free
    out_valid, out_data, out_t, out_last : Out  the scaled currents (``out_bits`` per lane)
    busy : Out(1)
    res_* : the residual frame's read port, for SECA_II (:func:`rtl_gen.hdlif_layer.residual_ports`)
    """

    @staticmethod
    def compute_latency(c) -> int:
        """Clocks from the compute's last shift to the replay's start: the window, the tap
        products, their sum, the index product (:func:`rtl_gen.hw.pipelined_mul`: DSP-sized
        partial products, then their registered sum), the rounded index, the clipped index, the
        table's scale, then the scale shifted into its bank and the replay's start; and the
        compute's own lag behind its bank's enables (:data:`rtl_gen.hw.FANOUT_TREE_LATENCY`)."""
        return 7 + FANOUT_TREE_LATENCY + SecaStage.index_product_latency(c)

    @staticmethod
    def scale_group(c) -> int:
        """Channels (or lanes) of a scale bank driven by one copy of its controls: at most
        :data:`rtl_gen.hw.COPY_LOADS` flip-flops of ``q + 1`` bits."""
        return max(1, COPY_LOADS // (c.q + 1))

    @staticmethod
    def index_product_latency(c) -> int:
        return pipelined_mul_latency(c.z_bits, const_bits(int(c.zmult)))
    #: clocks from a word's read to its scaled current at the neuron stage: the banked read
    #: (:func:`rtl_gen.buffers.banked_read`), the word's register, the lanes' scales (the word
    #: again), the products, the output register
    REPLAY_LATENCY = RESIDUAL_READ_LATENCY + 4

    @staticmethod
    def compute_clocks(c) -> int:
        """Clocks of an item's compute: a channel a clock, and ``k // 2`` more to shift the last
        channels' right-hand neighbours (zeros) into the window."""
        return c.channels + len(c.taps) // 2

    @classmethod
    def pre_latency(cls, layer: HDLIFLayerConfig) -> int:
        return Requant.latency + (RESIDUAL_ADD_LATENCY if add_inside(layer) else 0)

    @classmethod
    def item_timing(cls, layer: HDLIFLayerConfig, last_out: int, state: dict | None) -> tuple[dict, dict]:
        """Of an item whose last synapse group leaves at ``last_out`` (``state``: the previous
        item's compute and replay starts): ``free`` (the first clock the engine may start the
        next item), ``last_in`` (its last current at the neuron stage), the new state."""
        c = layer.seca
        G, X = c.words, cls.compute_clocks(c)
        state = state or {"compute": -(1 << 30), "replay": -(1 << 30)}
        d1 = last_out + cls.pre_latency(layer) + 1
        x = max(d1 + 1, state["compute"] + X + 1)
        ready = x + X + cls.compute_latency(c)
        r0 = max(ready, state["replay"] + G + 1)
        return ({"free": r0 + 1, "last_in": r0 + G + cls.REPLAY_LATENCY}, {"compute": x, "replay": r0})

    @staticmethod
    def resources(layer: HDLIFLayerConfig) -> dict:
        """The requantizer, the local frame; the sum and scale banks (flip-flops, two items, a
        2:1 multiplexer per bit, turn or shift, unless one lane makes them the same) and the
        sums' adders; the window, the tap
        products (shifts and adders, :func:`rtl_gen.hw.csd`), their sum, the index product
        (DSP blocks, :func:`dsp_blocks`), the rounded index, the clipped table; the replay's
        word register and a multiplier per lane."""
        c = layer.seca
        NL, C = c.lanes, c.channels
        k = len(c.taps)
        sb = c.q + 1
        digits = sum(len(csd(int(t))) for t in c.taps)
        idx_bits = max(2, c.z_product_bits + 2 - c.zshift)
        # a bank register picks its group neighbour (turn) or its channel neighbour (shift): the
        # same register with one lane, so no multiplexer there
        luts = (2 * C * (c.sum_bits + sb) if NL > 1 else 0) + 2 * NL * c.sum_bits * 1.5 + \
            digits * c.z_bits + c.z_bits + c.z_product_bits + 2 * idx_bits + len(c.table) * sb / 4 + \
            NL * sb + 60
        ffs = 2 * C * (c.sum_bits + sb) + k * c.sum_bits + (k + 1) * c.z_bits + c.z_product_bits + idx_bits + \
            len(c.table).bit_length() + sb + \
            NL * (c.in_bits * 3 + sb + c.product_bits + c.out_bits) + Requant.latency * (c.words.bit_length() + 8) + 80
        # the banks' enables and pass-1 choices through their register trees, and what waits for them
        L = FANOUT_TREE_LATENCY
        ffs += 2 * 2 * fanout_tree_regs(C) + L * (NL * c.in_bits + 6)
        # the scale banks' enables and choices, copied per scale_group channels, and the lanes' bank pick
        gs = SecaStage.scale_group(c)
        ffs += 2 * 2 * -(-C // gs) + -(-NL // gs) + 4
        zb = const_bits(int(c.zmult))
        pieces = len(dsp_split(c.z_bits)) * len(dsp_split(zb))
        ffs += DSP_LANDING * pieces * (c.z_bits + zb) + (pieces - 1) * (c.z_bits + zb + 1)   # partial products, sums
        dsps = NL * dsp_blocks(c.in_bits, sb + 1) + pieces
        frame = FrameBuffer.resources(words=c.words, lanes=NL, bits=c.in_bits, slots=1, registered_read=True)
        return add_cost({"luts": luts, "ffs": ffs, "dsps": dsps}, frame,
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

        # the frame: banks of block RAM rows, each registered, the row picked a clock later
        # (the frame of a 28 x 28 map is 13 rows deep: their multiplexer after the block RAMs'
        # clock-to-out was the SECA ResNet's slowest path)
        rw = Signal(ctr(G))
        frame_word = banked_read(m, "frame", depth=G, width=NL * c.in_bits, wr_addr=tags["addr"], wr_data=cur,
                                 wr_en=tags["v"], rd_addr=rw)
        wslot = Signal()                                 # which of the two sums / scales banks
        with m.If(tags["v"] & tags["last"]):
            m.d.sync += wslot.eq(~wslot)
        t_of = Array(Signal(ctr(c.T), name=f"t_of{i}") for i in range(2))
        with m.If(tags["v"]):
            m.d.sync += t_of[wslot].eq(tags["t"])
        # Two banks of the C channel sums, each a register per channel in channel order.  Pass 1
        # rotates its bank by one lane group a word: the group of the word's channels is at the
        # front (lane j's channel at position j), leaves it and comes back at the end, summed
        # (its first word: set).  A whole item turns the bank round (``words`` is a multiple of
        # the ``K`` groups), so channel ch is at position ch again.  The compute shifts its bank
        # one channel a clock towards position 0 (zeros in behind).  No multiplexer picks a
        # channel: every register has its neighbours.
        first = tags["addr"] < K
        sums = [[Signal(signed(c.sum_bits), name=f"sum{b}_{ch}") for ch in range(C)] for b in range(2)]
        cbusy, cslot, cc = Signal(), Signal(), Signal(ctr(C + k // 2))
        hi = k // 2
        pending = Signal(range(3))
        start_c = ~cbusy & (pending != 0)
        cend = cbusy & (cc == C + hi - 1)
        # Each bank's clock enable and pass-1 / shift choice reach its sums through a register
        # tree (:func:`rtl_gen.hw.fanout_tree`, a copy per channel): one enable driving every
        # flip-flop of a 32-channel bank, spread over the die, was 8.6 ns of routing after two
        # LUTs (the fixed-point SECA ResNet's critical path, 67 MHz).  So pass 1 lands
        # FANOUT_TREE_LATENCY clocks after its word (its value and ``first`` delayed alike), and
        # the compute (its shifts and its window) runs that much behind ``cbusy``.
        L = FANOUT_TREE_LATENCY
        x1 = delay(cur, L, "sum_x")
        first1 = delay(first, L, "sum_first")
        p1_now = [tags["v"] & (wslot == b) for b in range(2)]
        shift_now = [cbusy & (cslot == b) for b in range(2)]
        p1_late = []
        for b in range(2):
            bank = sums[b]
            en = fanout_tree(m, p1_now[b] | shift_now[b], C, f"sum_en{b}")
            pass1 = fanout_tree(m, p1_now[b], C, f"sum_p1{b}")
            p1_late.append(pass1[0])
            for ch in range(C):
                if ch < C - NL:
                    turned = bank[ch + NL]
                else:
                    x = x1.word_select(ch - (C - NL), cb).as_signed()
                    turned = Mux(first1, x, bank[ch - (C - NL)] + x)
                shifted = bank[ch + 1] if ch < C - 1 else 0
                with m.If(en[ch]):
                    m.d.sync += bank[ch].eq(Mux(pass1[ch], turned, shifted))
        # the compute's controls, as late as the banks' enables
        start_l, cbusy_l, cslot_l = delay(start_c, L, "c_start"), delay(cbusy, L, "c_busy", valid=True), delay(cslot, L, "c_slot")
        cfirst_l, cend_l = delay(cbusy & (cc >= hi), L, "c_valid"), delay(cend, L, "c_end")
        # pass 1 of an item and the compute of the item before it never share a bank (an item
        # starts only once the previous one's replay began, so its compute is over)
        m.d.sync += Assert(~((p1_late[0] & cbusy_l & ~cslot_l) | (p1_late[1] & cbusy_l & cslot_l)),
                           "SECA: pass 1 and the compute on one bank")
        done1 = Signal()
        m.d.sync += done1.eq(tags["v"] & tags["last"])

        # ---- compute: one channel a clock through a k-channel window, six registered stages
        m.d.sync += pending.eq(pending + done1 - start_c)
        with m.If(start_c):
            m.d.sync += [cbusy.eq(1), cc.eq(0)]
        with m.If(cbusy):
            m.d.sync += cc.eq(cc + 1)
            with m.If(cend):
                m.d.sync += [cbusy.eq(0), cslot.eq(~cslot)]
        # the window: win[i] = g[cc - i] after the clock that shifts channel cc in (zeros before
        # channel 0 and, shifted in behind the bank, after channel C - 1); channel cc - hi has
        # its k neighbours, tap j on win[k - 1 - j]
        win = [Signal(signed(c.sum_bits), name=f"win{i}") for i in range(k)]
        with m.If(start_l):
            m.d.sync += [w.eq(0) for w in win]
        with m.Elif(cbusy_l):
            m.d.sync += [win[0].eq(Mux(cslot_l, sums[1][0], sums[0][0]))] + \
                        [win[i].eq(win[i - 1]) for i in range(1, k)]
        tag = dict(v=cfirst_l, s=cslot_l, last=cend_l)
        tag = {n: delay(sig, 1, f"c0_{n}", valid=n == "v") for n, sig in tag.items()}
        prods = []
        for j, tap in enumerate(int(t) for t in c.taps):
            if tap:
                p = Signal(signed(c.z_bits), name=f"tap{j}")
                m.d.sync += p.eq(const_mul(win[k - 1 - j], tap))
                prods.append(p)
        z = Signal(signed(c.z_bits), reset_less=True)    # data behind the tags: no reset (a DSP's own input register)
        m.d.sync += z.eq(sum(prods) if prods else 0)
        zm = pipelined_mul(m, z, int(c.zmult), "zm")
        half = (1 << (c.zshift - 1)) if c.zshift > 0 else 0
        idx = Signal(signed(max(2, c.z_product_bits + 2 - c.zshift)))
        m.d.sync += idx.eq((zm + half) >> c.zshift)
        # (``pre``: the compute's tags a clock before its scale is shifted in, what the scale
        # banks' control copies load)
        pre = {n: delay(sig, 4 + self.index_product_latency(c), f"c_{n}", valid=n == "v") for n, sig in tag.items()}
        tag = {n: delay(sig, 1, f"c_{n}_s", valid=n == "v") for n, sig in pre.items()}
        sb = c.q + 1
        table = Array(Const(int(v), unsigned(sb)) for v in c.table)
        # the clipped index, then its scale, each registered (the compares' carry chains, the
        # table's LUT tree and the bank's multiplexer in one clock were 11.5 ns)
        clipped = Signal(range(2 * R))
        with m.If(idx < -R):
            m.d.sync += clipped.eq(0)
        with m.Elif(idx > R - 1):
            m.d.sync += clipped.eq(2 * R - 1)
        with m.Else():
            m.d.sync += clipped.eq((idx + R)[:len(clipped)])
        scale_in = Signal(unsigned(sb))
        m.d.sync += scale_in.eq(table[clipped])
        # two banks of the C scales: the compute shifts each channel's scale in at the end (channel
        # ch reaches position ch); the replay turns its bank by a lane group a word, lane j
        # scaling by position j.  A bank's enable and shift / turn choice come from copies
        # (:func:`rtl_gen.hw.register_copies`, one per :meth:`scale_group` channels) loaded a clock early
        # from the compute's ``pre`` tags and the replay's read tags: the same clocks as one
        # control, no net to the whole bank.
        scales = [[Signal(unsigned(sb), name=f"scale{b}_{ch}") for ch in range(C)] for b in range(2)]
        sready = Array(Signal(name=f"sready{i}") for i in range(2))
        pv, pslot = Signal(), Signal()
        m.d.sync += Assert(~(tag["v"] & pv & (tag["s"] == pslot)), "SECA: the compute and the replay on one bank")
        with m.If(tag["v"] & tag["last"]):
            m.d.sync += sready[tag["s"]].eq(1)
        valids += [cbusy]

        # ---- pass 2: replay the frame, scaled, into the neuron stage
        rbusy, rslot = Signal(), Signal()
        start_r = ~rbusy & sready[rslot]
        with m.If(start_r):
            m.d.sync += [rbusy.eq(1), rw.eq(0)]
        rlast = rbusy & (rw == G - 1)
        with m.If(rbusy):
            m.d.sync += rw.eq(rw + 1)
            with m.If(rw == G - 1):
                m.d.sync += [rbusy.eq(0), rslot.eq(~rslot), sready[rslot].eq(0)]
        # every word read is used (the writer of the next item is clocks behind)
        no_collision(m, wr_addr=tags["addr"], wr_en=tags["v"], rd_addr=rw, live=rbusy, what="SECA frame")
        # Invariant (one-item frame): an item is let in only after the previous one's replay
        # began, so the replay is always ahead of the writer (module docstring).  ``waiting``
        # counts the items started whose replay has not.
        waiting = Signal(range(3))
        m.d.sync += waiting.eq(waiting + self.acquire - start_r)
        m.d.comb += self.ready.eq(waiting == 0)
        # the word: its banked read (two clocks), then a register after the row's multiplexer,
        # then the products (scale of position j)
        rtag = {n: delay(sig, RESIDUAL_READ_LATENCY, f"r_{n}", valid=n == "v")
                for n, sig in dict(v=rbusy, last=rlast, s=rslot, t=t_of[rslot]).items()}
        word, pl, pt = Signal.like(frame_word), Signal(), Signal(ctr(c.T))
        m.d.sync += [word.eq(frame_word), pv.eq(rtag["v"]), pl.eq(rtag["last"]), pslot.eq(rtag["s"]), pt.eq(rtag["t"])]
        gs = self.scale_group(c)
        for b in range(2):
            bank = scales[b]
            shift_next = pre["v"] & (pre["s"] == b)
            en = register_copies(m, shift_next | (rtag["v"] & (rtag["s"] == b)), -(-C // gs), f"scale_en{b}")
            shift = register_copies(m, shift_next, -(-C // gs), f"scale_sh{b}")
            for ch in range(C):
                with m.If(en[ch // gs]):
                    m.d.sync += bank[ch].eq(Mux(shift[ch // gs], bank[ch + 1] if ch < C - 1 else scale_in,
                                                bank[(ch + NL) % C]))
        # each lane's scale picked from its bank and the word registered again, then the
        # products: the bank's multiplexer, the route to a DSP and its multiply in one clock were
        # 11 ns
        half_q = 1 << (c.q - 1)
        prods = []
        word2 = Signal.like(word, name="word2", reset_less=True)
        m.d.sync += word2.eq(word)
        pick = register_copies(m, rtag["s"], -(-NL // gs), "scale_pick")     # pslot, a copy per lane group
        # (the product alone in its clock, its rounding half added on the way out: the operands'
        # and the product's registers are the multiplier block's own, fpga.absorb)
        for j in range(NL):
            pr = Signal(signed(c.product_bits + 2), name=f"prod{j}", reset_less=True)
            s = Signal(unsigned(sb), name=f"lane_scale{j}", reset_less=True)
            m.d.sync += s.eq(Mux(pick[j // gs], scales[1][j], scales[0][j]))
            m.d.sync += pr.eq(word2.word_select(j, c.in_bits).as_signed() * s)
            prods.append(pr)
        pv2, pl2, pt2 = delay(pv, 1, "p2_v", valid=True), delay(pl, 1, "p2_last"), delay(pt, 1, "p2_t")
        qv, ql, qt = Signal(), Signal(), Signal(ctr(c.T))
        m.d.sync += [qv.eq(pv2), ql.eq(pl2), qt.eq(pt2)]
        m.d.sync += [self.out_valid.eq(qv), self.out_last.eq(qv & ql), self.out_t.eq(qt),
                     self.out_data.eq(Cat(*[((pr + half_q) >> c.q)[:c.out_bits] for pr in prods]))]
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
