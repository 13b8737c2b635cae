"""Event-driven conv synapse: every non-zero input code is scattered into the outputs it touches.

The dense engine (:mod:`rtl_gen.synapse`) sweeps every tap of every output position, so its
cycles follow the network's size.  This engine does work only for the codes that are not zero,
so its cycles follow the spikes: for each pixel of the input frame (one buffer word holds all
its channels) it takes the pixel's non-zero codes one per clock, and each code ``x`` of channel
``c`` adds ``w[o, c, ky, kx] * x`` into ``k x k x pe`` accumulator lanes at once: the ``k x k``
output positions the pixel touches, ``pe`` output channels each.  When the pixel's codes are
done, the lanes are added into the partial sums of those positions (read-modify-write of ``k``
memory banks over ``k`` clocks), and the one position this pixel finishes goes to the neurons.

Same contract as :class:`rtl_gen.synapse.SynapseEngine` (the sums of every position and channel,
``nl`` per clock, in the layer's sweep order), so the neuron stage behind it is unchanged.

Order of the pixels (:meth:`rtl_gen.config.SynapseConfig.event_entries`).  Output ``(y, x)``
gets its last contribution from pixel ``(y + d, x + d)``, ``d = k - 1 - p``; visiting the pixels
of the frame, extended by ``p`` virtual rows and columns, in raster order (or, with 2 x 2
pooling, in blocks of 2 x 2 pixels shifted by ``d``) finishes the output positions exactly in
the sweep order of the dense engine (``Y, X, dy, dx`` with pooling), each pixel finishing one.

Partial sums.  At any time at most ``k + 1`` consecutive output rows hold partial sums, so the
banks keep a ring of ``k + 1`` rows: bank ``cb`` holds the output columns ``x % k == cb`` (a pixel
touches ``k`` consecutive columns, one per bank).  The lanes are indexed by bank, not by kernel
column: the weight ROM word for pixel column ``ix`` already puts ``w[.., (s - cb) % k]`` (``s =
(ix + p) % k``) on lane ``cb``, so no data is ever rotated.  The first pixel to reach a position
writes its entry instead of adding to it (the bank's read data register is reset for it: a
flip-flop's synchronous reset, no logic), so nothing is ever cleared: not the entry a finished
position leaves for the row that reuses it, not the banks after a reset.

Invariants (each kept here, by construction):

* **Read after write**: a bank entry of row ``r`` is added and written at flush clock ``r + 3``
  of a pixel and read ``1 + a`` clocks before it (:meth:`read_ahead` ``a``: with ``k >= 3`` the
  banks are read a clock ahead of the flush, through a register: a block RAM's 5.6 ns
  clock-to-out plus its route across the die was the critical path).  The next pixel's entries
  are the same rows, one row down, or (a pooling block's order) one row up, the same output
  row then read as row ``r - 1``; it begins at least :meth:`min_beats` ``= max(k + 2, 4 + a)``
  clocks later (with ``k + 2 >= 5`` whenever ``a = 1``), so its reads come after the writes.
  The 4 also covers the fetch of the next pixel word, and ``k + 2`` the flush registers, read by
  the adders until the last row's add.
* **Serializer**: a pixel that emits lasts at least ``pe / nl`` clocks, the serializer's drain.
* **Items do not overlap** inside the engine: the next item starts when everything here is idle
  (a few clocks per item; the neuron stage behind still overlaps).

Timing (:meth:`item_timing`, what :mod:`rtl_gen.estimate` adds up): a pixel of ``n`` non-zero
codes takes ``max(n, min_beats)`` clocks (``max(n, min_beats, pe / nl)`` if it emits) per
output fold, back to back.

Members
-------
start, t, slot_off : In      begin an item (ignored while busy); its time step; the input slot's word offset
running, sweeping, done, busy : Out     (``running`` = ``sweeping`` = ``busy``: items never overlap here);
                                        ``done`` pulses with the item's last read of the input slot
rd_addr, rd_en : Out, rd_data : In             the input buffer's read port (one pixel per word)
out_valid, out_data, out_t, out_last : Out   ``nl`` sums (lane ``j`` at ``j * acc_bits``)
avail, full : In                        unused (an event-driven layer never trails its input)
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from .carry import chain_luts, select_add, ternary_lanes
from .config import RAM_LUT_BITS, SynapseConfig, add_cost, bits_for, block_rom_stages, bram_layout, memory_attrs, memory_cost
from .hw import const_mul, ctr, make_memory, no_collision, onehot_select, pick, register_copies
from .ternary_mac import TernaryMAC, lane_cost, mac_latency


#: lanes that share one registered copy of the code and its negation
LANE_GROUP = 16

#: mask bits per first-stage count of a pixel's non-zero codes (the expander's two-stage count)
COUNT_GROUP = 8


class EventConvSynapse(wiring.Component):
    #: clocks from an entry's fetch (sched ROM address) to its pixel word in the holding register
    FETCH = 4
    #: clocks from ``start`` to the first beat of the first pixel
    START_TO_BEAT = 1 + FETCH + 1
    #: clocks from a flush row to the write of its entries (read, data register, add + write),
    #: the bank read :meth:`read_ahead` clocks earlier still
    RMW = 3

    #: at most this many (bank, group) words for the serializer's pick from a shadow per bank
    BANK_SHADOW_WORDS = 32

    @classmethod
    def bank_shadows(cls, config: SynapseConfig) -> bool:
        """Whether the serializer keeps a shadow per bank (each loaded from its own adder, the
        bank and group picked together on the way out) rather than one shadow behind a
        multiplexer over the banks (then shifted out where ``pe / nl >= 8``)."""
        G = config.groups_per_fold
        return G > 1 and config.kernel * G <= cls.BANK_SHADOW_WORDS

    @staticmethod
    def read_ahead(config: SynapseConfig) -> int:
        """Clocks the banks are read ahead of the flush (then through a register): one where
        that costs no clocks (``k >= 3``: the flush registers already hold a pixel ``k + 2``)."""
        return int(config.kernel >= 3)

    @staticmethod
    def min_beats(config: SynapseConfig) -> int:
        """Clocks a pixel lasts at least, per output fold (the invariants above)."""
        E = EventConvSynapse
        return max(config.kernel + E.RMW - 1, E.FETCH, E.RMW + 1 + E.read_ahead(config))

    @staticmethod
    def pixel_beats(config: SynapseConfig, nnz: int, emit: bool) -> int:
        lo = EventConvSynapse.min_beats(config)
        if emit:
            lo = max(lo, config.groups_per_fold)
        return max(int(nnz), lo)

    @staticmethod
    def weight_rom(config: SynapseConfig) -> tuple[int, int, dict]:
        """``(depth, width, attrs)`` of the weight ROM: one word of ``k*k*pe`` weights per output
        fold, input channel and column phase.  Shallow and very wide, so block RAM unless it is
        tiny (as logic it would cost a LUT per bit and 16 words)."""
        depth = config.out_folds * config.channels * config.kernel
        width = config.event_lanes * config.weight_bits
        attrs = {"rom_style": "block"} if depth * width > 4 * RAM_LUT_BITS else \
            memory_attrs(depth, width, rom=True, logic_depth=config.rom_logic_depth)
        return depth, width, attrs

    @classmethod
    def read_stages(cls, config: SynapseConfig) -> int:
        """Registers after the weight ROM: one in logic, else
        :func:`rtl_gen.config.block_rom_stages`."""
        depth, width, attrs = cls.weight_rom(config)
        if attrs.get("rom_style") != "block":
            return 1
        return block_rom_stages(depth, width)

    @staticmethod
    def lane_latency(config: SynapseConfig) -> int:
        """Clocks of a lane's term: none for ternary / binary weights (a multiplexer on the shared
        ``x`` / ``-x`` in front of the accumulator's adder), the pipelined multiplier for int8."""
        return mac_latency(1, "int8", in_bits=config.in_bits, dsp=config.int8_dsp) \
            if config.weight_kind == "int8" else 0

    @classmethod
    def beat_to_transfer(cls, config: SynapseConfig) -> int:
        """Clocks from a pixel's last beat to the clock its lanes are added up (the transfer):
        the beat register, the weight ROM and its registers, the lane's term."""
        return 2 + cls.read_stages(config) + cls.lane_latency(config)

    @classmethod
    def transfer_to_out(cls, config: SynapseConfig, group: int) -> int:
        """Clocks from the transfer to ``out_valid`` of group ``group`` of the finished
        position: the ``k`` flush rows, the read-modify-write of the last one, the serializer."""
        G = config.groups_per_fold
        return config.kernel + cls.RMW + (0 if G == 1 else 1 + group)

    @classmethod
    def item_timing(cls, config: SynapseConfig, start: int, nnz) -> dict:
        """An item started at ``start`` whose pixels (:meth:`SynapseConfig.event_entries`, in
        order) hold ``nnz[i]`` non-zero codes: ``release`` (the input slot's ``done``: the
        last pixel word is read), ``last_out`` (the item's last ``out_valid``), ``next`` (the
        earliest next start: everything here idle) and ``beats`` (the clocks of its pixels).

        Pixel ``i`` begins at ``B[i]`` (``B[0] = start + START_TO_BEAT``) and lasts
        ``F * pixel_beats`` clocks; the fetch of entry ``i + 1`` is issued at ``B[i] - 1``
        (when the holding register is taken), so its word is there ``FETCH`` clocks later,
        before pixel ``i`` ends (:meth:`min_beats` >= ``FETCH``)."""
        c = config
        ents = c.event_entries()
        F = c.out_folds
        btt = cls.beat_to_transfer(c)
        begin = start + cls.START_TO_BEAT
        issue_last = start + 1
        last_emit_x = None
        prev = begin
        for i, (e, n) in enumerate(zip(ents, nnz)):
            if i == len(ents) - 1 and i > 0:
                issue_last = prev - 1
            beats = F * cls.pixel_beats(c, n if e.real else 0, e.emit)
            prev = begin
            begin += beats
            if e.last_emit:
                last_emit_x = begin - 1 + btt
        x_last = begin - 1 + btt
        last_out = last_emit_x + cls.transfer_to_out(c, c.groups_per_fold - 1)
        return {"release": issue_last + 2, "last_out": last_out,
                "next": max(x_last + c.kernel + cls.RMW, last_out + 1),
                "beats": begin - start - cls.START_TO_BEAT}

    @staticmethod
    def item_nnz(config: SynapseConfig, frame) -> list[int]:
        """Non-zero codes of every entry's pixel, from one input frame ``[C, H, W]``."""
        import numpy as np
        nz = (np.asarray(frame) != 0).sum(axis=0)
        return [int(nz[e.iy, e.ix]) if e.real else 0 for e in config.event_entries()]

    @staticmethod
    def resources(config: SynapseConfig) -> dict:
        """ECP5 cost: ``k*k*pe`` lanes (a term and an accumulator each), the flush registers and
        their row multiplexer, ``k`` read-modify-write adders and banks, the serializer, the
        weight and pixel-schedule ROMs, the expander and control.  With ``carry_cells`` the
        lanes' terms and the row multiplexer's last level are in the adders' carry cells
        (:mod:`rtl_gen.carry`): a lane costs its accumulator's bits and one half cell for the
        carry in, and the adders read the flush registers (no lane registers in between)."""
        c = config
        k, P, A, b, NL = c.kernel, c.fold.pe, c.acc_bits, c.in_bits, c.fold.nl
        L, LB = c.event_lanes, c.event_lane_bits
        cells = bool(c.carry_cells)
        if c.weight_kind == "int8":
            lane_luts, lane_ffs = lane_cost(b, "int8", c.int8_dsp)
        else:
            lane_luts, lane_ffs = (1 if cells else b + 1), 0  # the term: a half cell, or a multiplexer
        if cells and c.weight_kind != "int8":
            luts = L * chain_luts(lane_luts + LB)         # a chain each: the carry in, the accumulator
        else:
            luts = L * (lane_luts + LB)
        ffs = L * (lane_ffs + 2 * LB)                     # accumulator, flush register
        if c.weight_kind != "int8":
            # the copies of the code (and, without carry cells, its negation)
            ffs += -(-L // LANE_GROUP) * (b if cells else 2 * (b + 1))
        if cells:
            luts += k * P * LB * max(0, k - 2)            # rows 1 .. k-1 before the cells' own choice
            ffs += k * P * A + P * A                      # data registers, emission
            ffs += k * -(-P // LANE_GROUP) * (2 + bits_for(k))  # the row's copies (per bank, lane group)
        else:
            luts += k * P * LB * (k - 1)                  # row multiplexer of each bank
            ffs += k * P * (A + 2 * LB) + P * A           # data and lane registers, emission
        ffs += EventConvSynapse.read_ahead(c) * k * P * A  # the banks' read registers
        ffs += k * bits_for(c.event_depth)                # their read addresses
        # read-modify-write adders (with carry cells a chain each, the first bit's carry in ahead)
        luts += k * P * (chain_luts(A + 1) if cells else A)
        G = c.groups_per_fold
        if EventConvSynapse.bank_shadows(c):
            # a shadow per bank, the (bank, group) word's one-hot pick on the way out: per bit a
            # LUT for each two words, then an OR-tree of 4-input LUTs
            pairs = -(-k * G // 2)
            luts += NL * A * (pairs + -(-(pairs - 1) // 3))
            ffs += k * P * A + k * G
        else:
            luts += P * A * (k - 1) / 2                   # the finished position's bank multiplexer
            if G > 1:
                luts += P * A / 2
                ffs += P * A
        C = c.channels
        luts += 30 * bits_for(C) + 120                    # expander (priority encoder) and control
        ffs += C * (b + 4) + 200                          # the pixel word, its mask twice, their lowest bits
        banks = [memory_cost(c.event_depth, P * A) for _ in range(k)]
        depth, width, attrs = EventConvSynapse.weight_rom(c)
        wrom = ({"brams": bram_layout(depth, width)[0]} if attrs.get("rom_style") == "block"
                else memory_cost(depth, width, rom=True, logic_depth=c.rom_logic_depth))
        ents = c.event_entries()
        srom = memory_cost(len(ents), _entry_bits(c), rom=True, logic_depth=c.rom_logic_depth)
        return add_cost({"luts": luts, "ffs": ffs, "dsps": L if c.int8_dsp else 0}, *banks, wrom, srom)

    def __init__(self, config: SynapseConfig, *, carry_model: bool = False):
        """``carry_model``: with ``config.carry_cells``, build the carry cells' model in Amaranth
        instead of instances (for Amaranth's simulator, :func:`rtl_gen.carry.carry_chain`)."""
        if not (isinstance(config, SynapseConfig) and config.event):
            raise TypeError(f"EventConvSynapse needs an event-driven SynapseConfig, not {config!r}")
        self.config = c = config
        self.carry_model = carry_model
        self.addr_bits = bits_for(2 * c.words)
        super().__init__({
            "start": In(1),
            "t": In(ctr(c.T)),
            "slot_off": In(unsigned(self.addr_bits)),
            "avail": In(unsigned(bits_for(c.words + 1))),
            "full": In(1),
            "running": Out(1),
            "sweeping": Out(1),
            "done": Out(1),
            "busy": Out(1),
            "rd_addr": Out(unsigned(self.addr_bits)), "rd_en": Out(1),
            "rd_data": In(unsigned(c.fold.simd * c.in_bits)),
            "out_valid": Out(1),
            "out_data": Out(unsigned(c.fold.nl * c.acc_bits)),
            "out_t": Out(ctr(c.T)),
            "out_last": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.config
        k, P, NL, A, C = c.kernel, c.fold.pe, c.fold.nl, c.acc_bits, c.channels
        F, G, T = c.out_folds, c.groups_per_fold, c.T
        b = c.in_bits
        ents = c.event_entries()
        E = len(ents)
        Wk = c.event_cols
        fields = _EntryFields(c)

        # ---- fetch: schedule ROM -> entry register -> pixel word -> holding register -------
        m.submodules.schedule = srom = make_memory(shape=unsigned(fields.bits), depth=E,
                                                   init=[fields.pack(e, last=n == E - 1) for n, e in enumerate(ents)],
                                                   rom=True, logic_depth=c.rom_logic_depth)
        srd = srom.read_port()
        fetching, j = Signal(), Signal(ctr(E))
        t_item = Signal(ctr(T))
        slot = Signal(unsigned(self.addr_bits))
        f1, f2, f3 = Signal(), Signal(), Signal()
        ent2, ent3 = Signal(unsigned(fields.bits)), Signal(unsigned(fields.bits))
        np_valid = Signal()
        # read only while np_valid: no reset of its own, so a virtual pixel's zero word is the
        # flip-flops' synchronous reset (one LUT for all of them), not an AND per bit
        np_word = Signal(unsigned(C * b), reset_less=True)
        np_ent = Signal(unsigned(fields.bits))
        np_take = Signal()
        busy_any = Signal()

        start = Signal()
        m.d.comb += start.eq(self.start & ~busy_any)
        with m.If(start):
            m.d.sync += [fetching.eq(1), j.eq(0), t_item.eq(self.t), slot.eq(self.slot_off)]
        inflight = f1 | f2 | f3
        issue = Signal()
        m.d.comb += [issue.eq(fetching & ~inflight & (~np_valid | np_take)), srd.addr.eq(j)]
        with m.If(issue):
            m.d.sync += j.eq(j + 1)
            with m.If(j == E - 1):
                m.d.sync += fetching.eq(0)
        m.d.sync += [f1.eq(issue), f2.eq(f1), f3.eq(f2), ent3.eq(ent2)]
        with m.If(f1):
            m.d.sync += ent2.eq(srd.data)
        m.d.comb += [self.rd_addr.eq(slot + fields.get(ent2, "addr")), self.rd_en.eq(f2 & fields.get(ent2, "real")),
                     self.done.eq(f2 & fields.get(ent2, "last_entry"))]
        with m.If(f3):
            m.d.sync += [np_valid.eq(1), np_ent.eq(ent3), np_word.eq(self.rd_data[:C * b])]
            with m.If(~fields.get(ent3, "real")):
                m.d.sync += np_word.eq(0)
        with m.Elif(np_take):
            m.d.sync += np_valid.eq(0)

        # ---- expander: one non-zero code of the current pixel per clock ---------------------
        cp_valid = Signal()
        cp_word = Signal(unsigned(C * b))
        cp_orig, cp_rem = Signal(C), Signal(C)
        cp_ent = Signal(unsigned(fields.bits))
        cp_f = Signal(ctr(F))
        lo_plain = self.min_beats(c)
        lo_emit = max(lo_plain, G)
        # the pixel's minimum beats as a count-down set where the fold starts, and its
        # "at the minimum" flag registered beside it: no multiplexer on the entry's emit bit
        # and no compare on the way to the pixel's end (that path was the DSP-lane build's
        # critical path, 14.7 ns).  cp_wait = max(lo - 1 - beats, 0), cp_lo = (cp_wait == 0).
        cp_wait = Signal(ctr(lo_emit))
        cp_lo = Signal()

        def wait_for(ent):
            return Mux(fields.get(ent, "emit"), lo_emit - 1, lo_plain - 1)

        np_mask = Cat(*[np_word.word_select(i, b) != 0 for i in range(C)])

        def lowest(mask):
            return mask & ~(mask - 1)

        # the current code, one-hot: the lowest set bit of the mask; the index, its weight-ROM
        # offset and the code are OR-trees over it (a priority chain into ``idx * k`` and the
        # ROM's address was the logic-lane build's critical path, 12.8 ns).  It is a register
        # (``low`` = lowest(``cp_rem``) always), the next one found from the mask without it:
        # found in the clock it is used, its carry chain and the address's adder were one path
        # (conv_fmnist_event's critical path, 10.5 ns, at 94.8 MHz)
        low, cp_orig_low = Signal(C), Signal(C)
        rem_next = cp_rem & ~low
        # The pixel's last beat (at most one code left) from a count of its codes beside the mask,
        # not the mask's decrement and a C-bit zero test in one path (conv_fmnist's conv3, C = 32:
        # 13.0 ns).  The count is a tree over two registered stages after the pixel is taken
        # (taken in the same clock it was 11.9 ns, the next critical path): a pixel lasts at least
        # min_beats >= 4 clocks, so it is ready (beat 2) before the earliest end (beat 3).  The
        # compare of the beats against it is a flag registered a beat ahead, cp_cnt = (cp_j + 1
        # >= cp_total), from beat 2 on (in the end's path it was the DSP-lane build's critical
        # path, 10.8 ns, once the minimum was a flag); before beat 3 cp_lo is 0 whatever it is.
        groups = [cp_orig[i:i + COUNT_GROUP] for i in range(0, C, COUNT_GROUP)]
        cp_parts = [Signal(ctr(len(g) + 1), name=f"cp_part{n}") for n, g in enumerate(groups)]
        cp_total = Signal(ctr(C + 1))
        m.d.sync += [p.eq(_tree_sum([g[i] for i in range(len(g))])) for p, g in zip(cp_parts, groups)]
        m.d.sync += cp_total.eq(_tree_sum(cp_parts))
        cp_j = Signal(ctr(C + 1))          # the fold's beats so far (saturating at C)
        cp_cnt = Signal()
        end = Signal()
        m.d.comb += end.eq(cp_valid & cp_cnt & cp_lo)
        last_fold = cp_f == F - 1
        m.d.comb += np_take.eq(np_valid & (~cp_valid | (end & last_fold)))
        # the weight ROM's word of (fold, channel, tap), (f * C + c) * k + s: the fold's base
        # plus the tap, f * C * k + s, kept in a register built up beside the fold counter, and
        # the channel's c * k an OR-tree of constants over the one-hot code: no product and one
        # adder on the way to the ROM's address (a DSP there was conv_fmnist_event's critical
        # path, 16.8 ns)
        n_words = F * C * k
        cp_wbase = Signal(ctr(n_words))
        with m.If(np_take):
            m.d.sync += [cp_valid.eq(1), cp_word.eq(np_word), cp_orig.eq(np_mask), cp_rem.eq(np_mask),
                         low.eq(lowest(np_mask)), cp_orig_low.eq(lowest(np_mask)), cp_j.eq(0), cp_ent.eq(np_ent),
                         cp_f.eq(0), cp_wait.eq(wait_for(np_ent)), cp_lo.eq(0),
                         cp_wbase.eq(fields.get(np_ent, "s"))]
        with m.Elif(end):
            with m.If(last_fold):
                m.d.sync += cp_valid.eq(0)
            with m.Else():
                m.d.sync += [cp_f.eq(cp_f + 1), cp_rem.eq(cp_orig), low.eq(cp_orig_low), cp_j.eq(0),
                             cp_wait.eq(wait_for(cp_ent)),
                             cp_lo.eq(0), cp_wbase.eq(cp_wbase + C * k)]
        with m.Elif(cp_valid):
            m.d.sync += [cp_rem.eq(rem_next), low.eq(lowest(rem_next)),
                         cp_wait.eq(Mux(cp_wait == 0, 0, cp_wait - 1)),
                         cp_lo.eq(cp_wait <= 1), cp_j.eq(Mux(cp_j == C, C, cp_j + 1)),
                         cp_cnt.eq(cp_j + 2 >= cp_total)]

        # ---- beat register (B1) -------------------------------------------------------------
        v1, ev1, end1 = Signal(), Signal(), Signal()
        x1, f1b = Signal(unsigned(b)), Signal(ctr(F))
        ent1 = Signal(unsigned(fields.bits))
        wa1 = Signal(ctr(n_words))
        m.d.sync += [v1.eq(cp_valid), ev1.eq(cp_valid & (cp_rem != 0)), end1.eq(end),
                     x1.eq(onehot_select(low, [cp_word.word_select(i, b) for i in range(C)])),
                     f1b.eq(cp_f), ent1.eq(cp_ent),
                     wa1.eq(cp_wbase + onehot_select(low, [Const(i * k, ctr(n_words)) for i in range(C)]))]

        # ---- weight ROM and MAC lanes -------------------------------------------------------
        wb = c.weight_bits
        L = c.event_lanes
        winit = [c.event_weight_word(f, ch, s) for f in range(F) for ch in range(C) for s in range(k)]
        _, _, wattrs = self.weight_rom(c)
        m.submodules.weights = wrom = memory.Memory(shape=unsigned(L * wb), depth=len(winit), init=winit,
                                                    attrs=wattrs)
        wrd = wrom.read_port()
        m.d.comb += wrd.addr.eq(wa1)
        # B2: ROM data; registered read_stages times, the tags alongside
        tags = [(v1, ev1, end1, x1, f1b, ent1)]

        def delay_tags(src, name):
            out = tuple(Signal.like(s_, name=f"{name}_{n}") for n, s_ in enumerate(src))
            m.d.sync += [d_.eq(s_) for d_, s_ in zip(out, src)]
            return out

        tags.append(delay_tags(tags[-1], "b2"))
        w_data = wrd.data
        for r in range(self.read_stages(c)):
            wr = Signal(unsigned(L * wb), name=f"w_r{r}", reset_less=True)
            m.d.sync += wr.eq(w_data)
            w_data = wr
            tags.append(delay_tags(tags[-1], f"b3_{r}"))
        vX, evX, endX, xX, fX, entX = tags[-1]
        sums = []
        cells = bool(c.carry_cells)
        lane_cells = cells and c.weight_kind != "int8"
        if lane_cells:
            # the term in the lanes' carry cells (rtl_gen.carry.ternary_lane): each lane reads
            # the code (zero for no event) and its weight's two bits, no multiplexer in front
            _, evP, _, xP = tags[-2][:4]
            x_pre = Signal(unsigned(b))
            m.d.comb += x_pre.eq(Mux(evP, xP, 0))
            copies = register_copies(m, x_pre, -(-L // LANE_GROUP), "codes")
        elif c.weight_kind == "int8":
            xm = Signal(unsigned(b))
            m.d.comb += xm.eq(Mux(evX, xX, 0))
            for lane in range(L):
                mac = TernaryMAC(lanes=1, in_bits=b, weights="int8", carry_cells=c.carry_cells,
                                 carry_model=self.carry_model, int8_lanes=c.int8_lanes)
                m.submodules[f"mac{lane}"] = mac
                m.d.comb += [mac.codes.eq(xm), mac.weights.eq(w_data.word_select(lane, wb))]
                sums.append(mac.sum)
        else:
            # the code and its negation, computed a clock early (from the tags of the stage
            # before) and registered in a copy per LANE_GROUP lanes: a lane's term is then a
            # multiplexer on registers beside it (one pair broadcast to every lane was the
            # critical path of conv_fmnist_event: 2.3 ns of route to a far lane, then its adder)
            _, evP, _, xP = tags[-2][:4]
            xs_pre, nx_pre = Signal(signed(b + 1)), Signal(signed(b + 1))
            m.d.comb += [xs_pre.eq(Mux(evP, xP, 0)), nx_pre.eq(-Mux(evP, xP, 0))]
            pre = Cat(xs_pre, nx_pre)
            copies = register_copies(m, pre, -(-L // LANE_GROUP), "codes")
            for lane in range(L):
                cp = copies[lane // LANE_GROUP]
                xs, nx = cp[:b + 1].as_signed(), cp[b + 1:].as_signed()
                w = w_data.word_select(lane, wb)
                sums.append(Mux(w[0], Mux(w[1], nx, xs), 0) if c.weight_kind == "ternary" else Mux(w[0], nx, xs))
        for i in range(self.lane_latency(c)):
            tags.append(delay_tags(tags[-1], f"mac{i}"))
        vA, _, endA, _, fA, entA = tags[-1]

        # ---- lanes: accumulate the pixel's codes; at its last beat, hand them to the flush ---
        LB = c.event_lane_bits
        accs = [Signal(signed(LB), name=f"acc{lane}") for lane in range(L)]
        flush = [Signal(signed(LB), name=f"fl{lane}", reset_less=True) for lane in range(L)]
        if lane_cells:
            # LANES_PER_CHAIN lanes a carry chain (rtl_gen.carry.ternary_lanes)
            ops = []
            for lane, acc in enumerate(accs):
                w = w_data.word_select(lane, wb)
                en, neg = (w[0], w[1]) if c.weight_kind == "ternary" else (Const(1, 1), w[0])
                ops.append((acc, copies[lane // LANE_GROUP], en, neg))
            nexts = ternary_lanes(m, ops, "lane", model=self.carry_model)
        else:
            nexts = [acc + s for acc, s in zip(accs, sums)]
        for acc, fl, nxt in zip(accs, flush, nexts):
            with m.If(vA & endA):
                m.d.sync += [acc.eq(0), fl.eq(nxt)]
            with m.Elif(vA):
                m.d.sync += acc.eq(nxt)

        def flush_counters(v, end_, f, ent, name, addresses=False):
            """The flush's ``k`` rows of the pixel whose last beat reaches ``(v, end_, f, ent)``:
            active, row, entry, fold and, with ``addresses``, the parts of the banks' addresses,
            (ring row * Wk + column) * F + fold, registered with the entry: the products of the
            constants off the path to the block RAMs' address (a DSP there was the critical
            path, 15.9 ns on the LFE5U-85F)."""
            ent_r, f_r = Signal(unsigned(fields.bits), name=f"{name}_ent"), Signal(ctr(F), name=f"{name}_f")
            active, r_ = Signal(name=f"{name}_active"), Signal(ctr(k), name=f"{name}_r")
            base = [Signal(ctr(c.event_depth), name=f"{name}_base{r}") for r in range(k)] if addresses else []
            colf = [Signal(ctr(c.event_depth), name=f"{name}_colf{cb}") for cb in range(k)] if addresses else []
            with m.If(v & end_):
                m.d.sync += [ent_r.eq(ent), f_r.eq(f), active.eq(1), r_.eq(0)]
                m.d.sync += [b_.eq(_umul(fields.get(ent, f"row{r}"), Wk * F)) for r, b_ in enumerate(base)]
                m.d.sync += [cf_.eq(_umul(fields.get(ent, f"col{cb}"), F)) for cb, cf_ in enumerate(colf)]
            with m.Elif(active):
                m.d.sync += r_.eq(r_ + 1)
                with m.If(r_ == k - 1):
                    m.d.sync += active.eq(0)
            return active, r_, ent_r, f_r, base, colf

        fl_active, fl_r, fl_ent, fl_f, _, _ = flush_counters(vA, endA, fA, entA, "fl")
        # the banks' reads: the flush's rows, or read_ahead clocks earlier (counters of their own,
        # loaded from the tags' stage before the transfer's)
        ahead = self.read_ahead(c)
        rd_active, rd_r, rd_ent = fl_active, fl_r, fl_ent
        if ahead:
            vR, _, endR, _, fR, entR = tags[-2]
            rd_active, rd_r, rd_ent, _, _, _ = flush_counters(vR, endR, fR, entR, "rd")
        # and the banks' read addresses a clock before the reads, summed into a register per bank
        # (the row's multiplexer and the adder in the clock the address is presented, then the
        # route to a block RAM across the die, was conv_fmnist_event's critical path at 91.2 MHz:
        # 10.97 ns)
        assert len(tags) >= 2 + ahead, "the address counters' stage of tags"
        vE, _, endE, _, fE, entE = tags[-2 - ahead]
        _, ad_r, _, ad_f, ad_base, ad_colf = flush_counters(vE, endE, fE, entE, "ad", addresses=True)

        # ---- flush: k clocks, row r of every bank: read, register, add, write ----------------
        ringv = Array(fields.get(rd_ent, f"rowv{r}") for r in range(k))
        firsts = [Array(fields.get(rd_ent, f"first{r}_{cb}") for r in range(k)) for cb in range(k)]
        fin_cb = fields.get(fl_ent, "fin_cb")
        PA = P * A
        p1_v, p2_v = Signal(), Signal()
        p1_cap, p2_cap = Signal(), Signal()
        p1_last, p2_last = Signal(), Signal()
        bank_s = []
        # with carry cells the adders read the flush registers themselves (they hold the pixel's
        # sums until its last row is added: the next transfer is min_beats >= k + 2 clocks
        # later), the row picked by the cells' own LUTs and one LUT for rows 1 / 2; the row
        # (and its decodes "row 0", "row 2") in a register per bank and LANE_GROUP outputs
        # (one register for every adder was conv_fmnist_event's critical path at 98.5 MHz: 2.6
        # and 2.5 ns of routing to and from its decode, then the adder)
        r_d1 = Signal(ctr(k))
        m.d.sync += r_d1.eq(fl_r)
        n_sel = -(-P // LANE_GROUP)
        row_sel = [register_copies(m, Cat(r_d1 == 0, r_d1 == min(2, k - 1), r_d1), n_sel, f"row{cb}")
                   for cb in range(k)] if cells else []
        for cb in range(k):
            # no read the engine uses meets the write of its own entry in the same clock (the read
            # after write invariant, above; a read for a first contribution is discarded): the
            # bank needs none of Yosys's old-data logic around the block RAM (a multiplexer per
            # bit behind it and the write data and a compare registered: 1,152 LUTs and 2,300
            # flip-flops of conv3's 3 x 32 x 12 bits), and says so in simulation
            mem = make_memory(shape=unsigned(PA), depth=c.event_depth, no_rw_check=True)
            m.submodules[f"bank{cb}"] = mem
            rp, wp = mem.read_port(), mem.write_port()
            colv = fields.get(rd_ent, f"colv{cb}")
            addr = Signal(ctr(c.event_depth), name=f"addr{cb}")
            m.d.sync += addr.eq(Array(ad_base)[ad_r] + ad_colf[cb] + ad_f)
            m.d.comb += rp.addr.eq(addr)
            lane_row = Array(Cat(*[flush[(r * k + cb) * P + o] for o in range(P)]) for r in range(k))
            a1, a2 = Signal.like(addr, name=f"a1_{cb}"), Signal.like(addr, name=f"a2_{cb}")
            e1, e2 = Signal(name=f"en1_{cb}"), Signal(name=f"en2_{cb}")
            first1 = Signal(name=f"first1_{cb}")
            d2 = Signal(unsigned(PA), name=f"data2_{cb}")
            m.d.sync += [a1.eq(addr), e1.eq(rd_active & ringv[rd_r] & colv), first1.eq(firsts[cb][rd_r])]
            no_collision(m, wr_addr=wp.addr, wr_en=wp.en, rd_addr=addr,
                         live=rd_active & ringv[rd_r] & colv & ~firsts[cb][rd_r], what=f"{c.name} event bank {cb}")
            rdata = rp.data
            if ahead:
                # the read register: the block RAM's output meets a flip-flop (placed between
                # the block and the adders) before anything else; address, enable and first
                # kept in step
                rdata = Signal(unsigned(PA), name=f"rdata_{cb}", reset_less=True)
                m.d.sync += rdata.eq(rp.data)
                a1, e1, first1 = delay_tags((a1, e1, first1), f"rd1_{cb}")
            m.d.sync += [a2.eq(a1), e2.eq(e1), d2.eq(Mux(first1, 0, rdata))]
            ssum = Signal(unsigned(PA), name=f"sum{cb}")
            if cells:
                ssum_parts = []
                for o in range(P):
                    sel = row_sel[cb][o // LANE_GROUP]
                    is0, is2, r_o = sel[0], sel[1], sel[2:]
                    rows = [flush[(r * k + cb) * P + o] for r in range(k)]
                    rest = rows[min(1, k - 1)]
                    if k > 2:
                        rest = Signal(signed(LB), name=f"rows_{cb}_{o}")
                        m.d.comb += rest.eq(Mux(is2, rows[2], rows[1]) if k == 3 else Array(rows)[r_o])
                    ssum_parts.append(select_add(m, d2.word_select(o, A), rows[0], rest, is0, f"rmw{cb}_{o}",
                                                 model=self.carry_model))
                m.d.comb += ssum.eq(Cat(*ssum_parts))
            else:
                v1b, v2b = Signal(unsigned(P * LB), name=f"val1_{cb}"), Signal(unsigned(P * LB), name=f"val2_{cb}")
                m.d.sync += [v1b.eq(lane_row[fl_r]), v2b.eq(v1b)]
                m.d.comb += ssum.eq(Cat(*[(d2.word_select(o, A).as_signed() + v2b.word_select(o, LB).as_signed())[:A]
                                          for o in range(P)]))
            bank_s.append(ssum)
            m.d.comb += [wp.addr.eq(a2), wp.data.eq(ssum), wp.en.eq(e2)]
        emit_fl = fields.get(fl_ent, "emit")
        last_fl = fields.get(fl_ent, "last_emit") & (fl_f == F - 1)
        m.d.sync += [p1_v.eq(fl_active), p2_v.eq(p1_v),
                     p1_cap.eq(fl_active & (fl_r == k - 1) & emit_fl), p2_cap.eq(p1_cap),
                     p1_last.eq(last_fl), p2_last.eq(p1_last)]
        fin1, fin2 = Signal(ctr(k)), Signal(ctr(k))
        m.d.sync += [fin1.eq(fin_cb), fin2.eq(fin1)]

        # ---- serializer: the finished position's pe sums, nl per clock -----------------------
        if G == 1:
            finished = Signal(unsigned(PA))
            m.d.comb += finished.eq(pick(bank_s, fin2))
            m.d.sync += [self.out_valid.eq(p2_cap), self.out_data.eq(finished), self.out_t.eq(t_item),
                         self.out_last.eq(p2_cap & p2_last)]
            ser_busy = self.out_valid
        elif self.bank_shadows(c):
            # a shadow per bank, loaded from its own adder (no multiplexer in front of it): the
            # finished position's bank and group are picked together on the way out
            shadows = [Signal(unsigned(PA), name=f"shadow{cb}", reset_less=True) for cb in range(k)]
            active = Signal()
            g = Signal(ctr(G))
            li_s = Signal()
            # the (bank, group) word going out, one-hot in a register (set to the finished bank's
            # first group, then shifted a group a clock), and the word an OR-tree over it: a
            # binary index's multiplexer of k * G words mapped into about twice the LUTs
            sel = Signal(k * G)
            picked = onehot_select(sel, [sh.word_select(i, NL * A) for sh in shadows for i in range(G)])
            with m.If(active):
                m.d.sync += sel.eq(sel << 1)
            with m.If(p2_cap):
                m.d.sync += sel.eq(Cat(*[Cat(fin2 == cb, Const(0, G - 1)) for cb in range(k)]))
            m.d.sync += [self.out_valid.eq(active), self.out_data.eq(picked), self.out_t.eq(t_item),
                         self.out_last.eq(active & li_s & (g == G - 1))]
            with m.If(active):
                m.d.sync += g.eq(g + 1)
                with m.If(g == G - 1):
                    m.d.sync += [active.eq(0), g.eq(0)]
            for cb, sh in enumerate(shadows):
                with m.If(p2_cap & (fin2 == cb)):
                    m.d.sync += sh.eq(bank_s[cb])
            with m.If(p2_cap):
                m.d.sync += [active.eq(1), g.eq(0), li_s.eq(p2_last)]
            ser_busy = active | self.out_valid
        else:
            finished = Signal(unsigned(PA))
            m.d.comb += finished.eq(pick(bank_s, fin2))
            shadow = Signal(unsigned(PA), reset_less=True)
            active = Signal()
            g = Signal(ctr(G))
            li_s = Signal()
            shift = G >= 8
            out_word = shadow[:NL * A] if shift else shadow.word_select(g, NL * A)
            m.d.sync += [self.out_valid.eq(active), self.out_data.eq(out_word), self.out_t.eq(t_item),
                         self.out_last.eq(active & li_s & (g == G - 1))]
            with m.If(active):
                m.d.sync += g.eq(g + 1)
                if shift:
                    m.d.sync += shadow.eq(shadow >> (NL * A))
                with m.If(g == G - 1):
                    m.d.sync += [active.eq(0), g.eq(0)]
            with m.If(p2_cap):
                m.d.sync += [shadow.eq(finished), active.eq(1), g.eq(0), li_s.eq(p2_last)]
            ser_busy = active | self.out_valid

        inpipe = fetching | inflight | np_valid | cp_valid
        for tg in tags:
            inpipe = inpipe | tg[0]
        m.d.comb += busy_any.eq(inpipe | fl_active | p1_v | p2_v | ser_busy)
        m.d.comb += [self.busy.eq(busy_any), self.sweeping.eq(busy_any), self.running.eq(busy_any)]
        return m


def _tree_sum(terms: list):
    """The sum of ``terms`` as a balanced tree of adders (a population count: a few levels, not
    a chain of ``len(terms)``)."""
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i] for i in range(0, len(terms), 2)]
    return terms[0]


def _entry_bits(c: SynapseConfig) -> int:
    return _EntryFields(c).bits


def _umul(x, k: int):
    """An unsigned value times a constant, as shifts and adders (:func:`rtl_gen.hw.const_mul`)."""
    return const_mul(Cat(x, Const(0, 1)), k)


class _EntryFields:
    """The schedule ROM word of an entry (:class:`rtl_gen.config.EventEntry`)."""

    def __init__(self, c: SynapseConfig):
        k = c.kernel
        self.spec = [("addr", bits_for(c.words)), ("real", 1), ("s", bits_for(k)), ("fin_cb", bits_for(k)),
                     ("emit", 1), ("last_emit", 1), ("last_entry", 1)]
        for r in range(k):
            self.spec += [(f"row{r}", bits_for(c.event_ring)), (f"rowv{r}", 1)]
        for cb in range(k):
            self.spec += [(f"col{cb}", bits_for(c.event_cols)), (f"colv{cb}", 1)]
        self.spec += [(f"first{r}_{cb}", 1) for r in range(k) for cb in range(k)]
        self.off = {}
        o = 0
        for name, w in self.spec:
            self.off[name] = (o, w)
            o += w
        self.bits = o
        self.n = len(c.event_entries())

    def pack(self, e, last: bool = False) -> int:
        vals = {"addr": e.addr, "real": int(e.real), "s": e.s, "fin_cb": e.fin_cb, "emit": int(e.emit),
                "last_emit": int(e.last_emit), "last_entry": int(last)}
        for r, (ring, ok) in enumerate(e.rows):
            vals[f"row{r}"], vals[f"rowv{r}"] = ring, int(ok)
        for cb, (col, ok) in enumerate(e.cols):
            vals[f"col{cb}"], vals[f"colv{cb}"] = col, int(ok)
        for r, row in enumerate(e.first):
            for cb, f in enumerate(row):
                vals[f"first{r}_{cb}"] = int(f)
        word = 0
        for name, w in self.spec:
            v = vals[name]
            assert 0 <= v < (1 << w), (name, v, w)
            word |= v << self.off[name][0]
        return word

    def get(self, sig, name):
        o, w = self.off[name]
        return sig[o:o + w]
