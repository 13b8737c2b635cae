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
arriving (``trailing``): a beat whose word has not arrived yet stalls the sweep.

Pipeline: S0 counters and schedule-ROM address, S1 ROM data, S2 registered ROM data and
position (address and bounds computed), S3 the registered beat (a stall holds S0 .. S3 here,
decided on registered values only), S4 the beat on the outputs.  A beat therefore leaves 4
clocks after its S0 cycle; :attr:`WindowGenerator.latency` is 4.

Members
-------
start : In(1)                   begin an item (ignored while ``running``)
t : In(ctr(T))                the item's time step, latched at ``start``
slot_off : In                   word offset of the input slot, latched at ``start``
avail : In                      trailing only: words of the slot written so far
full : In(1)                    trailing only: the slot is complete
running : Out(1)                the sweep has beats left to issue
busy : Out(1)                   beats in S0 .. S4
valid, addr, inb, entry, first, last, last_item, beat_t : Out   the beat at S4
"""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import SynapseConfig, bits_for, ctr, make_memory


class WindowGenerator(wiring.Component):
    latency = 4   # S0 -> S4

    def __init__(self, config: SynapseConfig, *, min_fold_gap: int = 1):
        if not isinstance(config, SynapseConfig):
            raise TypeError(f"WindowGenerator needs a SynapseConfig, not {config!r}")
        if not (isinstance(min_fold_gap, int) and min_fold_gap >= 1):
            raise ValueError(f"WindowGenerator min_fold_gap must be a positive integer, not {min_fold_gap!r}")
        self.config = c = config
        self.schedule = c.schedule()
        self.min_fold_gap = min_fold_gap
        self.gap_needed = min_fold_gap > 1 and min(c.fold_lengths()) < min_fold_gap
        self.addr_bits = bits_for(2 * c.words)
        super().__init__({
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
        # A dense fc schedule is a plain count (word sf of every fold): counters, no ROM.
        counted = fc and not c.skip_zero_weights
        if not counted:
            m.submodules.schedule = rom = make_memory(shape=unsigned(ob + 2 * db + 2), depth=E, init=words, rom=True)
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
        if c.pool == 2:
            x_last = xc == c.out_width - 1
            y_last = yc == c.out_height - 1
            pos_last = dx & dy & x_last & y_last
        else:
            x_last = xc == c.conv_width - 1
            y_last = yc == c.conv_height - 1
            pos_last = x_last & y_last
        e_last = e0 == E - 1
        m.d.comb += self.running.eq(running)
        if not counted:
            m.d.comb += [rd.addr.eq(e0), rd.en.eq(advance)]

        slot_off = Signal.like(self.slot_off)
        with m.If(running & advance):
            m.d.sync += e0.eq(e0 + 1)
            if counted:
                m.d.sync += sf.eq(Mux(sf == Kw - 1, 0, sf + 1))
            with m.If(e_last):
                m.d.sync += e0.eq(0)
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
                            m.d.sync += [dx.eq(0), dy.eq(0), xc.eq(xc + 1), xs0.eq(xs0 + s),
                                         ys0.eq(ys0 - s), base0.eq(base0 + sx - rowstep)]
                        with m.Else():                        # next row of windows
                            m.d.sync += [dx.eq(0), dy.eq(0), xc.eq(0), yc.eq(yc + 1), xs0.eq(0),
                                         ys0.eq(ys0 + s), base0.eq(base0 + rowstep - (2 * c.out_width - 1) * sx)]
                    else:
                        with m.If(~x_last):
                            m.d.sync += [xc.eq(xc + 1), xs0.eq(xs0 + s), base0.eq(base0 + sx)]
                        with m.Else():
                            m.d.sync += [xc.eq(0), yc.eq(yc + 1), xs0.eq(0), ys0.eq(ys0 + s),
                                         base0.eq(base0 + rowstep - (c.conv_width - 1) * sx)]
        with m.If(~running & self.start):
            if counted:
                m.d.sync += sf.eq(0)
            m.d.sync += [running.eq(1), e0.eq(0), t0.eq(self.t), base0.eq(self.slot_off),
                         slot_off.eq(self.slot_off), xs0.eq(0), ys0.eq(0), xc.eq(0), yc.eq(0),
                         dx.eq(0), dy.eq(0)]

        # ---- S1: ROM data; position registered ---------------------------------------------
        v1, li1 = Signal(), Signal()
        e1, t1 = Signal.like(e0), Signal.like(t0)
        base1, ys1, xs1 = Signal.like(base0), Signal.like(ys0), Signal.like(xs0)
        with m.If(advance):
            m.d.sync += [v1.eq(running), li1.eq(e_last & pos_last), e1.eq(e0), t1.eq(t0),
                         base1.eq(base0), ys1.eq(ys0), xs1.eq(xs0)]

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
        if fc:
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
            m.d.sync += [v3.eq(v2), inb3.eq(inb2), f3.eq(first2), l3.eq(last2), li3.eq(li2), e3.eq(e2),
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

        m.d.comb += self.busy.eq(running | v1 | v2 | v3 | self.valid)

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
