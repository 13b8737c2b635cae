"""Window generator: the sweep of a conv / fc layer over its input frame buffer.

For each output position (raster order, or ``Y, X, dy, dx`` with 2 x 2 pooling) it walks the
layer's schedule (:meth:`rtl_gen.config.SynapseConfig.schedule`: ``O / pe`` output folds of
``k * k * cf`` taps, all-zero weight blocks optionally dropped) and emits, one beat per clock,
the address of the input word each beat needs, with stride and zero padding applied: a tap
outside the image is flagged ``inb = 0`` and its data is replaced by zeros downstream.

This is the sliding window of the layer, done on a stored frame instead of a line buffer: the
frame of one time step is held anyway (double-buffered between layers, so that layer ``l``
works on step ``t`` while layer ``l + 1`` works on ``t - 1``), and every output position then
reads its ``k x k`` window straight from it, for any stride and padding, with no line
buffer to flush at row ends.  The pixel frame of the stem may be read while it is still
arriving (``trailing``): a beat whose word has not arrived yet stalls the sweep.  An fc layer
that skips zero inputs (``skip_zero_inputs``) walks, in every output fold, the input slot's
list of non-zero words (``ev_addr`` -> ``ev_data``, ``count`` of them) instead of every word;
with ``lane_lists`` (a stem whose lanes list their own non-zero pixels) it reads entries
``0 .. count - 1`` of the slot (``count``: the longest list) and ``entry`` is the fold's base.

Invariant (stalls): a stall holds S0 .. S3 at once, so every memory read whose data a held
stage keeps (the schedule ROM, the event list) is enabled only when the pipeline advances
(``advance``; ``ev_en`` for the event list, which lives in the input buffer).  A read left
enabled would deliver the next beat's word to a stage still holding the previous beat (seen:
a two-word event list read as its first word twice when folds waited for the serializer).

Pipeline: S0 counters and schedule-ROM address, S1 ROM data, S2 registered ROM data and
position (address and bounds computed), S3 the registered beat (a stall holds S0 .. S3 here,
decided on registered values only), S4 the beat on the outputs.  A schedule ROM in block RAM
is registered twice (:meth:`WindowGenerator.schedule_stages`): S1b holds its word by the block
RAM (whose clock-to-out is slow), S2 by the address arithmetic it feeds.  A beat therefore
leaves :meth:`WindowGenerator.latency_of` (4, or 5 with S1b) clocks after its S0 cycle.

Members
-------
start : In(1)                   begin an item (ignored while ``running``)
t : In(range(T))                the item's time step, latched at ``start``
slot_off : In                   word offset of the input slot, latched at ``start``
avail : In                      trailing only: words of the slot written so far
full : In(1)                    trailing only: the slot is complete
count : In, ev_addr, ev_en : Out, ev_data : In    zero skipping only: the slot's list of non-zero words
running : Out(1)                the sweep has beats left to issue
busy : Out(1)                   beats in S0 .. S4
valid, addr, inb, entry, first, last, last_item, beat_t : Out   the beat at S4
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import SynapseConfig, bits_for, memory_attrs
from .hw import ctr, make_memory


class WindowGenerator(wiring.Component):
    # ---- timing (what :mod:`rtl_gen.estimate` adds up) ------------------------------------
    #: clocks from an item's last beat leaving S3 to the earliest next ``start`` (``busy``
    #: falls the clock after that beat's S4)
    RESTART = 2

    @staticmethod
    def schedule_rom(config: SynapseConfig) -> bool:
        """Whether the sweep reads a schedule ROM: not for a dense fc layer (plain counters)
        nor with zero skipping (the input slot's list of non-zero words instead)."""
        c = config
        return not c.skip_zero_inputs and not (c.is_fc and not c.skip_zero_weights)

    @classmethod
    def schedule_stages(cls, config: SynapseConfig) -> int:
        """Registers on the schedule ROM's word: two where it is block RAM (one by the block
        RAM, one by the address arithmetic: the path from a DP16KD's clock-to-out across the
        device to the adders does not fit a 10 ns clock), else one."""
        if not cls.schedule_rom(config):
            return 1
        attrs = memory_attrs(len(config.schedule()), 16, rom=True, logic_depth=config.rom_logic_depth)
        return 2 if attrs.get("rom_style") == "block" else 1

    @classmethod
    def latency_of(cls, config: SynapseConfig) -> int:
        """Clocks from a beat's S0 to its S4: 4, one more with :meth:`schedule_stages` two."""
        return 3 + cls.schedule_stages(config)

    @classmethod
    def start_to_s3(cls, config: SynapseConfig) -> int:
        """Clocks from ``start`` to the first beat in S3 (its S0 is the clock after ``start``)."""
        return cls.latency_of(config)

    @staticmethod
    def fold_gap(config: SynapseConfig) -> int:
        """Clocks that separate the last beats of two consecutive folds in S3, within an item
        and across items: the serializer's drain ``pe / nl`` where a fold can be shorter than
        it (one-beat folds, zero skipping), else 1 (no hold).

        Invariant: the serializer takes a fold's sums every ``pe / nl`` clocks at most, so a
        fold's last beat waits in S3 until ``pe / nl`` clocks after the previous one left it
        (the ``gap`` register; it outlives the item, since the next item's first fold may
        follow at once)."""
        G = config.groups_per_fold
        if G > 1 and (config.skip_zero_inputs or min(config.fold_lengths()) < G):
            return G
        return 1

    @classmethod
    def sweep(cls, config: SynapseConfig, start: int, prev_fold: int | None, lengths=None,
              word_ready=None) -> tuple[int, int]:
        """When the item started at ``start`` has its last beat leave S3, and its last fold's.

        ``prev_fold``: when the previous item's last fold left S3 (None: none since reset);
        ``lengths``: the beats of each output fold (default :meth:`SynapseConfig.fold_lengths`;
        with zero skipping, ``max(count, 1)`` each for the slot's ``count`` of non-zero words);
        ``word_ready(word)``: a trailing read's first clock at which input word ``word`` may
        leave S3.  Returns ``(last beat, last fold)``: the same clock."""
        c = config
        G = cls.fold_gap(c)
        lengths = list(c.fold_lengths() if lengths is None else lengths)
        t = start + cls.start_to_s3(c) - 1
        if word_ready is None:
            # closed form: every beat one clock, a fold's last beat at least G after the last
            folds = [max(n, G) for n in lengths]
            first = t + lengths[0]
            if G > 1 and prev_fold is not None:
                first = max(first, prev_fold + G)
            last = first + c.positions * sum(folds) - folds[0]
            return last, last
        last_fold = prev_fold
        for (y, x) in c.position_list():
            for e in c.schedule():
                t += 1
                row, col = y * c.stride + e.di, x * c.stride + e.dj
                if 0 <= row < c.height and 0 <= col < c.width:
                    t = max(t, word_ready((row * c.width + col) * c.cf + e.cf))
                if e.last:
                    if G > 1 and last_fold is not None:
                        t = max(t, last_fold + G)
                    last_fold = t
        return t, last_fold

    def __init__(self, config: SynapseConfig, *, min_fold_gap: int = 1):
        if not isinstance(config, SynapseConfig):
            raise TypeError(f"WindowGenerator needs a SynapseConfig, not {config!r}")
        if not (isinstance(min_fold_gap, int) and min_fold_gap >= 1):
            raise ValueError(f"WindowGenerator min_fold_gap must be a positive integer, not {min_fold_gap!r}")
        self.config = c = config
        self.schedule = c.schedule()
        self.min_fold_gap = min_fold_gap
        # with zero skipping a fold may be a single beat, whatever its expected length
        self.gap_needed = min_fold_gap > 1 and (c.skip_zero_inputs or min(c.fold_lengths()) < min_fold_gap)
        if self.gap_needed and min_fold_gap != c.groups_per_fold:
            raise ValueError(f"WindowGenerator min_fold_gap must be the serializer's pe / nl = {c.groups_per_fold}, "
                             f"not {min_fold_gap!r}")
        self.addr_bits = bits_for(2 * c.words)
        ports = {}
        if c.skip_zero_inputs and c.lane_lists:
            cb = bits_for(c.words + 1)
            ports = {"count": In(unsigned(cb)), "lane_counts": In(unsigned(c.fold.simd * cb)),
                     "lane_valid": Out(c.fold.simd)}
        elif c.skip_zero_inputs:
            ports = {"count": In(unsigned(bits_for(c.words + 1))), "ev_addr": Out(unsigned(self.addr_bits)),
                     "ev_en": Out(1),
                     "ev_data": In(unsigned(bits_for(c.words)))}
        super().__init__({
            **ports,
            "start": In(1),
            "t": In(ctr(c.T)),
            "slot_off": In(unsigned(self.addr_bits)),
            "avail": In(unsigned(bits_for(c.words + 1))),
            "full": In(1),
            "running": Out(1),
            "busy": Out(1),
            "valid": Out(1),
            "addr": Out(unsigned(self.addr_bits)),
            "inb": Out(1),
            "entry": Out(ctr(len(self.schedule))),
            "first": Out(1),
            "last": Out(1),
            "last_item": Out(1),
            "beat_t": Out(ctr(c.T)),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.config
        sched = self.schedule
        E = len(sched)
        s, W, CF = c.stride, c.width, c.cf
        fc = c.is_fc

        # ---- schedule ROM: offset | di | dj | first | last --------------------------------
        offs = [e.offset for e in sched]
        ob = max(max(abs(o) for o in offs).bit_length() + 1, 2)
        db = max(c.kernel.bit_length() + 1, 2)
        words = []
        for e in sched:
            word = (e.offset & ((1 << ob) - 1))
            word |= (e.di & ((1 << db) - 1)) << ob
            word |= (e.dj & ((1 << db) - 1)) << (ob + db)
            word |= int(e.first) << (ob + 2 * db)
            word |= int(e.last) << (ob + 2 * db + 1)
            words.append(word)
        advance = Signal()
        # A dense fc schedule is a plain count (word sf of every fold): counters, no ROM.  With
        # zero skipping, the count runs over the input slot's list of non-zero words instead.
        events = c.skip_zero_inputs
        counted = not events and not self.schedule_rom(c)
        if events:
            Kw, F = c.cf, c.out_folds
            k, kmax, zero = Signal(ctr(Kw)), Signal(ctr(Kw)), Signal()
            nf, fbase = Signal(ctr(F)), Signal(ctr(E))
            flags1 = Signal(3)                       # first, last, zero
            fb1 = Signal.like(fbase)
            with m.If(advance):
                m.d.sync += [flags1.eq(Cat(k == 0, k == kmax, zero)), fb1.eq(fbase)]
            if c.lane_lists:
                # lane j's entry k is real when k < its count (the item's counts, latched at start)
                S = c.fold.simd
                cb = bits_for(c.words + 1)
                lane_cnt = Signal(unsigned(S * cb))
                lv1 = Signal(S)
                with m.If(advance):
                    m.d.sync += lv1.eq(Cat(*[k < lane_cnt.word_select(j, cb) for j in range(S)]))
            rom_data = Signal(unsigned(ob + 2 * db + 2))
            if c.lane_lists:
                # every lane's list is walked entry by entry: the beat reads entry k of each
                ev_data = Signal.like(k, name="k1")
                with m.If(advance):
                    m.d.sync += ev_data.eq(k)
            else:
                ev_data = self.ev_data
            m.d.comb += rom_data.eq(Mux(flags1[2], 0, ev_data) | (flags1[0] << (ob + 2 * db))
                                    | (flags1[1] << (ob + 2 * db + 1)))
        elif not counted:
            m.submodules.schedule = rom = make_memory(shape=unsigned(ob + 2 * db + 2), depth=E, init=words, rom=True,
                                                      logic_depth=c.rom_logic_depth)
            rd = rom.read_port()
            rom_data = rd.data
        else:
            Kw = c.cf
            sf = Signal(ctr(Kw))
            rom_data = Signal(unsigned(ob + 2 * db + 2))
            with m.If(advance):
                m.d.sync += rom_data.eq(sf | ((sf == 0) << (ob + 2 * db)) | ((sf == Kw - 1) << (ob + 2 * db + 1)))

        # ---- S0: counters ------------------------------------------------------------------
        running = Signal()
        e0 = Signal(ctr(E))
        t0 = Signal(ctr(c.T))
        ab = self.addr_bits + 2
        base0 = Signal(signed(ab))           # word address of the window origin (slot included)
        yb = bits_for(c.height * 2 + c.kernel * 2) + 2
        ys0 = Signal(signed(yb))              # y * stride
        xs0 = Signal(signed(yb))              # x * stride
        dx, dy = Signal(), Signal()
        xc = Signal(ctr(max(c.conv_width, 1)))   # x (pool 1) or X (pool 2)
        yc = Signal(ctr(max(c.conv_height, 1)))  # y (pool 1) or Y (pool 2)
        # Each counter's "at its last value" is a register of its own, loaded beside the counter
        # with a compare of the counter's next value (``step_to``): the counters' enables and
        # resets then take one or two LUTs after registers, not the compares as well (the
        # compares in those paths, spread after the window's loads, were the SECA ResNet's
        # slowest path once its SECA and pools were fixed).
        x_end = (c.out_width if c.pool == 2 else c.conv_width) - 1
        y_end = (c.out_height if c.pool == 2 else c.conv_height) - 1
        x_last, y_last, e_at_last = Signal(init=x_end == 0), Signal(init=y_end == 0), Signal(init=E == 1)

        def step_to(counter, flag, end, value):
            return [counter.eq(value), flag.eq(value == end)]

        pos_last = x_last & y_last
        if c.pool == 2:
            pos_last = dx & dy & pos_last
        e_last = e_at_last
        if events:
            e_last = (k == kmax) & (nf == F - 1)
        m.d.comb += self.running.eq(running)
        if not counted and not events:
            m.d.comb += [rd.addr.eq(e0), rd.en.eq(advance)]

        slot_off = Signal.like(self.slot_off)
        if events and not c.lane_lists:
            m.d.comb += [self.ev_addr.eq(slot_off + k), self.ev_en.eq(advance)]
        with m.If(running & advance):
            m.d.sync += step_to(e0, e_at_last, E - 1, e0 + 1)
            if counted:
                m.d.sync += sf.eq(Mux(sf == Kw - 1, 0, sf + 1))
            if events:
                with m.If(k == kmax):
                    m.d.sync += [k.eq(0), nf.eq(Mux(nf == F - 1, 0, nf + 1)),
                                 fbase.eq(Mux(nf == F - 1, 0, fbase + Kw))]
                with m.Else():
                    m.d.sync += k.eq(k + 1)
            with m.If(e_last):
                m.d.sync += step_to(e0, e_at_last, E - 1, 0)
                with m.If(pos_last):
                    m.d.sync += running.eq(0)
                if not fc:
                    sx, rowstep = s * CF, s * W * CF
                    if c.pool == 2:
                        with m.If(~dx):                       # (dy, 0) -> (dy, 1)
                            m.d.sync += [dx.eq(1), xs0.eq(xs0 + s), base0.eq(base0 + sx)]
                        with m.Elif(~dy):                     # (0, 1) -> (1, 0)
                            m.d.sync += [dx.eq(0), dy.eq(1), xs0.eq(xs0 - s), ys0.eq(ys0 + s),
                                         base0.eq(base0 - sx + rowstep)]
                        with m.Elif(~x_last):                 # (1, 1) -> next window in the row
                            m.d.sync += step_to(xc, x_last, x_end, xc + 1)
                            m.d.sync += [dx.eq(0), dy.eq(0), xs0.eq(xs0 + s),
                                         ys0.eq(ys0 - s), base0.eq(base0 + sx - rowstep)]
                        with m.Else():                        # next row of windows
                            m.d.sync += step_to(xc, x_last, x_end, 0) + step_to(yc, y_last, y_end, yc + 1)
                            m.d.sync += [dx.eq(0), dy.eq(0), xs0.eq(0),
                                         ys0.eq(ys0 + s), base0.eq(base0 + rowstep - (2 * c.out_width - 1) * sx)]
                    else:
                        with m.If(~x_last):
                            m.d.sync += step_to(xc, x_last, x_end, xc + 1)
                            m.d.sync += [xs0.eq(xs0 + s), base0.eq(base0 + sx)]
                        with m.Else():
                            m.d.sync += step_to(xc, x_last, x_end, 0) + step_to(yc, y_last, y_end, yc + 1)
                            m.d.sync += [xs0.eq(0), ys0.eq(ys0 + s),
                                         base0.eq(base0 + rowstep - (c.conv_width - 1) * sx)]
        with m.If(~running & self.start):
            if counted:
                m.d.sync += sf.eq(0)
            if events:
                # a slot without a non-zero word still gets one (zero) beat per fold
                m.d.sync += [k.eq(0), nf.eq(0), fbase.eq(0), zero.eq(self.count == 0),
                             kmax.eq(Mux(self.count == 0, 0, self.count - 1))]
                if c.lane_lists:
                    m.d.sync += lane_cnt.eq(self.lane_counts)
            m.d.sync += step_to(e0, e_at_last, E - 1, 0) + step_to(xc, x_last, x_end, 0) + \
                step_to(yc, y_last, y_end, 0)
            m.d.sync += [running.eq(1), t0.eq(self.t), base0.eq(self.slot_off),
                         slot_off.eq(self.slot_off), xs0.eq(0), ys0.eq(0), dx.eq(0), dy.eq(0)]

        # ---- S1: ROM data; position registered ---------------------------------------------
        v1, li1 = Signal(), Signal()
        e1, t1 = Signal.like(e0), Signal.like(t0)
        base1, ys1, xs1 = Signal.like(base0), Signal.like(ys0), Signal.like(xs0)
        with m.If(advance):
            m.d.sync += [v1.eq(running), li1.eq(e_last & pos_last), e1.eq(e0), t1.eq(t0),
                         base1.eq(base0), ys1.eq(ys0), xs1.eq(xs0)]
        stage_valids = [v1]
        if self.schedule_stages(c) == 2:
            # ---- S1b: the block RAM's word registered beside it, the beat alongside ----------
            s1b = [Signal.like(x, name=f"{x.name}b") for x in (v1, li1, e1, t1, base1, ys1, xs1)]
            rom_b = Signal.like(rom_data, name="rom_data_b")
            with m.If(advance):
                m.d.sync += [d.eq(x) for d, x in zip(s1b, (v1, li1, e1, t1, base1, ys1, xs1))]
                m.d.sync += rom_b.eq(rom_data)
            v1, li1, e1, t1, base1, ys1, xs1 = s1b
            rom_data = rom_b
            stage_valids.append(v1)

        # ---- S2: ROM data registered; address, bounds and stalls ---------------------------
        v2, li2 = Signal(), Signal()
        e2, t2 = Signal.like(e0), Signal.like(t0)
        base2, ys2, xs2 = Signal.like(base0), Signal.like(ys0), Signal.like(xs0)
        meta = Signal.like(rom_data)
        with m.If(advance):
            m.d.sync += [v2.eq(v1), li2.eq(li1), e2.eq(e1), t2.eq(t1), base2.eq(base1), ys2.eq(ys1),
                         xs2.eq(xs1), meta.eq(rom_data)]
        off = meta[:ob].as_signed()
        di = meta[ob:ob + db].as_signed()
        dj = meta[ob + db:ob + 2 * db].as_signed()
        first2, last2 = meta[ob + 2 * db], meta[ob + 2 * db + 1]
        addr2 = Signal(signed(ab))
        m.d.comb += addr2.eq(base2 + off)
        inb2 = Signal()
        if events:
            fb2, zero2 = Signal.like(fb1), Signal()
            with m.If(advance):
                m.d.sync += [fb2.eq(fb1), zero2.eq(flags1[2])]
            if c.lane_lists:
                lv2, lv3 = Signal.like(lv1), Signal.like(lv1)
                with m.If(advance):
                    m.d.sync += [lv2.eq(lv1), lv3.eq(lv2)]
                m.d.sync += self.lane_valid.eq(lv3)
            entry2 = Signal.like(e0)
            # the beat's weights: the fold's block of the word (lane lists: the fold's base; each
            # lane's word index comes with its entry)
            m.d.comb += [inb2.eq(~zero2), entry2.eq(fb2 if c.lane_lists else fb2 + off.as_unsigned())]
        elif fc:
            m.d.comb += inb2.eq(1)
        else:
            row, col = Signal(signed(yb + 1)), Signal(signed(yb + 1))
            m.d.comb += [row.eq(ys2 + di), col.eq(xs2 + dj),
                         inb2.eq((row >= 0) & (row < c.height) & (col >= 0) & (col < c.width))]

        # ---- S3: the registered beat; stalls are decided here, on registered values --------
        v3, inb3, f3, l3, li3 = Signal(), Signal(), Signal(), Signal(), Signal()
        addr3 = Signal(signed(ab))
        e3, t3 = Signal.like(e0), Signal.like(t0)
        with m.If(advance):
            m.d.sync += [v3.eq(v2), inb3.eq(inb2), f3.eq(first2), l3.eq(last2), li3.eq(li2),
                         e3.eq(entry2 if events else e2),
                         t3.eq(t2), addr3.eq(addr2)]
        hold = Signal()
        hold_terms = []
        if c.trailing:
            limit = Signal(signed(ab))
            m.d.sync += limit.eq(slot_off + self.avail)
            hold_terms.append(~self.full & inb3 & (addr3 >= limit))
        if self.gap_needed:
            G = self.min_fold_gap
            gap = Signal(ctr(G + 1), init=G)
            with m.If(v3 & l3 & ~hold):
                m.d.sync += gap.eq(1)
            with m.Elif(gap != G):
                m.d.sync += gap.eq(gap + 1)
            hold_terms.append(l3 & (gap != G))
        if hold_terms:
            cond = hold_terms[0]
            for h in hold_terms[1:]:
                cond = cond | h
            m.d.comb += hold.eq(v3 & cond)
        m.d.comb += advance.eq(~hold)

        busy = running | v2 | v3 | self.valid
        for v in stage_valids:
            busy = busy | v
        m.d.comb += self.busy.eq(busy)

        # ---- S4: the beat ------------------------------------------------------------------
        m.d.sync += [
            self.valid.eq(v3 & ~hold),
            self.addr.eq(Mux(inb3, addr3, 0)[:self.addr_bits]),
            self.inb.eq(inb3),
            self.entry.eq(e3),
            self.first.eq(f3),
            self.last.eq(l3),
            self.last_item.eq(li3),
            self.beat_t.eq(t3),
        ]
        return m
