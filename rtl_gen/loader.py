"""Pixel loader: the ``pixels`` stream into a slot of the pixel frame buffer, in the stem's layout."""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import OutputLayout, bits_for, check_pixel_lanes, log2_exact
from .hw import ctr


class PixelLoader(wiring.Component):
    """Accepts ``lanes`` pixels per beat (C, H, W order; pixel ``i`` of a beat in bits
    ``i*b .. i*b+b-1``) and writes them where the stem reads them.

    For an fc stem the pixels are packed ``simd`` per word in arrival order (a beat fills
    ``lanes`` lanes of one word: ``lanes`` divides ``simd``); for a conv stem (one pixel a beat)
    pixel ``(c, y, x)`` goes to word ``(y*W + x) * cf + c // simd``, lane ``c % simd`` (the H, W,
    C layout of every frame buffer).  ``avail`` counts the complete words of the slot being
    filled (exact when the pixels arrive in word order, i.e. one input channel or an fc stem),
    so the stem can start before the image is complete.  A new image starts when a slot is free.

    With ``layout.events`` (an fc stem that skips zero pixel words) the loader also lists, per
    slot, the words that hold a non-zero pixel and their count (``ev_wr_*``, ``cnt_wr_*``: the
    pixel buffer's event list, written in the clock of the word's last beat, the count with the
    image's last).

    With ``layout.lane_lists`` (an fc stem whose lanes skip zero pixels) pixel ``i`` belongs to
    lane ``i % simd`` and word ``m = i // simd``, and each lane keeps only its non-zero pixels:
    lane ``j``'s ``k``-th non-zero pixel is written, with its ``m``, at entry ``k`` of the lane's
    own memory (``wr_addr``: an address per lane).  A beat of ``lanes <= simd`` pixels touches
    each lane at most once: the beat's first lane rotates by ``lanes`` (mod ``simd``) a beat.
    The counts written with the image's last beat (``cnt_wr_data``): the longest list's, then
    every lane's.

    Members
    -------
    pixels : In(stream.Signature(unsigned(lanes * pixel_bits)))
    wr_addr, wr_data, wr_en : Out     the pixel buffer's write port
    w_ready, w_slot : In(1), w_acquire, w_done : Out(1)
    avail : Out
    ev_wr_addr, ev_wr_data, ev_wr_en, cnt_wr_en, cnt_wr_data : Out   with ``layout.events``
    """

    # ---- timing (beats at full rate, the first taken at ``first``): the slot is FULL at
    # first + features / lanes (``w_done`` with the last beat); word ``w`` is complete at
    # first + (w + 1) * simd / lanes - 1, ``avail`` says so a clock later, and a trailing window
    # (its ``limit`` register) lets a beat on it leave S3 one more clock later.

    @staticmethod
    def resources(layout: OutputLayout) -> dict:
        """ECP5 cost of the loader's counters and control; with lane lists, each lane's count,
        pixel multiplexer, address adder and compare with the longest list."""
        if not layout.lane_lists:
            return {"luts": 40, "ffs": 40}
        S, b, cb = layout.simd, layout.code_bits, bits_for(layout.words + 1)
        return {"luts": 60 + S * (3 * cb + 2 * b + 4), "ffs": 60 + (S + 1) * cb + S * (b + cb + 1)}

    @staticmethod
    def done_delay(layout: OutputLayout) -> int:
        """Clocks from the image's last beat to ``w_done``: one with lane lists (the beat is
        registered before it is written), else none."""
        return 1 if layout.lane_lists else 0

    @staticmethod
    def word_ready(layout: OutputLayout, features: int, first: int, word: int, lanes: int = 1) -> int:
        """The first clock a trailing read of ``word`` may leave the window's S3."""
        return min(first + (word + 1) * layout.simd // lanes + 1, first + features // lanes)

    def __init__(self, layout: OutputLayout, *, features: int, lanes: int = 1):
        if not isinstance(layout, OutputLayout):
            raise TypeError(f"PixelLoader needs an OutputLayout, not {layout!r}")
        check_pixel_lanes(lanes, features=features, layout=layout)
        self.layout = lo = layout
        self.features = features
        self.lanes = lanes
        if lo.events and not lo.packed:
            raise ValueError("PixelLoader: a list of non-zero pixel words needs an fc stem's packed layout")
        ev = {}
        ab = bits_for(2 * lo.words)
        cb = bits_for(lo.words + 1)
        if lo.lane_lists:
            ev = {"cnt_wr_en": Out(1), "cnt_wr_data": Out(unsigned((lo.simd + 1) * cb))}
        elif lo.events:
            ev = {"ev_wr_addr": Out(unsigned(bits_for(2 * lo.words))), "ev_wr_data": Out(unsigned(bits_for(lo.words))),
                  "ev_wr_en": Out(1), "cnt_wr_en": Out(1), "cnt_wr_data": Out(unsigned(bits_for(lo.words + 1)))}
        super().__init__({
            **ev,
            "pixels": In(stream.Signature(unsigned(lanes * lo.code_bits))),
            "wr_addr": Out(unsigned(ab * (lo.simd if lo.lane_lists else 1))),
            "wr_data": Out(unsigned(lo.simd * lo.entry_bits)),
            "wr_en": Out(unsigned(lo.simd)),
            "w_ready": In(1), "w_slot": In(1), "w_acquire": Out(1), "w_done": Out(1),
            "avail": Out(unsigned(bits_for(lo.words + 1))),
        })

    def elaborate(self, platform):
        m = Module()
        lo = self.layout
        S, P = lo.simd, self.lanes
        ls = 0 if lo.lane_lists else log2_exact(S)      # lane lists: any simd
        loading = Signal()
        take = Signal()
        m.d.comb += [self.pixels.ready.eq(loading | self.w_ready), take.eq(self.pixels.valid & self.pixels.ready),
                     self.w_acquire.eq(take & ~loading)]
        n = Signal(ctr(self.features))                  # the beat's first pixel
        last = n == self.features - P
        if lo.lane_lists:
            pass                                        # the lists' own counters (_lane_lists)
        elif lo.packed:
            word, lane = n >> ls, n & (S - 1)
        else:
            # arrival order C, H, W: pos runs fastest; the word of (pos, c) is pos * cf + c // simd
            c, pos = Signal(ctr(lo.channels)), Signal(ctr(lo.positions))
            pw = Signal(ctr(lo.words + 1))
            word, lane = pw + (c >> ls), c & (S - 1)
            with m.If(take):
                with m.If(pos == lo.positions - 1):
                    m.d.sync += [pos.eq(0), pw.eq(0), c.eq(Mux(last, 0, c + 1))]
                with m.Else():
                    m.d.sync += [pos.eq(pos + 1), pw.eq(pw + lo.cf)]
        with m.If(take):
            m.d.sync += [n.eq(Mux(last, 0, n + P)), loading.eq(~last)]
        if lo.lane_lists:
            self._lane_lists(m, take, last)
            return m
        m.d.comb += self.w_done.eq(take & last)
        m.d.comb += [self.wr_addr.eq(Mux(self.w_slot, lo.words, 0) + word),
                     self.wr_data.eq(self.pixels.payload.replicate(S // P)),
                     self.wr_en.eq(Mux(take, ((1 << P) - 1) << lane, 0))]
        with m.If(take):
            m.d.sync += self.avail.eq(Mux(last, 0, (n + P) >> ls))
        if lo.events:
            # a word is complete with its last lane's beat (or the image's last beat); it is an
            # event when any of its pixels is non-zero
            nzacc, k = Signal(), Signal(ctr(lo.words + 1))
            word_done = (lane == S - P) | last
            event = take & word_done & (nzacc | (self.pixels.payload != 0))
            with m.If(take):
                m.d.sync += nzacc.eq(Mux(word_done, 0, nzacc | (self.pixels.payload != 0)))
                with m.If(last):
                    m.d.sync += k.eq(0)
                with m.Elif(event):
                    m.d.sync += k.eq(k + 1)
            m.d.comb += [self.ev_wr_addr.eq(Mux(self.w_slot, lo.words, 0) + k), self.ev_wr_data.eq(word),
                         self.ev_wr_en.eq(event), self.cnt_wr_en.eq(take & last), self.cnt_wr_data.eq(k + event)]
        return m

    def _lane_lists(self, m, take, last) -> None:
        """Each lane's list of non-zero pixels (see the class): the beat's pixel ``q`` goes to
        lane ``(l0 + q) % simd``, ``l0`` the beat's first lane, into word ``w`` (or ``w + 1``
        past the last lane).  Each lane's pixel (its value, word index and whether it is
        non-zero) is registered at the take and written a clock later, so the handshake's path
        ends at a register, not at the lanes' counters; ``w_done`` follows the last write
        (:meth:`done_delay`)."""
        lo = self.layout
        S, P, b = lo.simd, self.lanes, lo.code_bits
        ab, cb, D = bits_for(2 * lo.words), bits_for(lo.words + 1), lo.words
        l0, w = Signal(ctr(S)), Signal(ctr(D + 1))
        with m.If(take):
            with m.If(last):
                m.d.sync += [l0.eq(0), w.eq(0)]
            with m.Elif(l0 + P >= S):
                m.d.sync += [l0.eq(l0 + P - S), w.eq(w + 1)]
            with m.Else():
                m.d.sync += l0.eq(l0 + P)
        # the beat's pixel of each lane (if any), whether it is non-zero, and its word index,
        # registered at the take: the lanes' writes and counters a clock later start at registers
        took, was_last = Signal(), Signal()
        m.d.sync += [took.eq(take), was_last.eq(take & last)]
        m.d.comb += self.w_done.eq(was_last)
        pix = Array(self.pixels.payload.word_select(q, b) for q in range(P))
        mb = lo.entry_bits - b
        ks = [Signal(ctr(D + 1), name=f"k{j}") for j in range(S)]
        kmax = Signal(ctr(D + 1))
        ens, hits = [], []
        slot = Mux(self.w_slot, D, 0)
        for j, k in enumerate(ks):
            # which pixel of the beat lane j takes (if any), and whether it is in the next word
            qj = Array(Const((j - l) % S, ctr(S)) for l in range(S))[l0]
            has = Array(Const(int((j - l) % S < P)) for l in range(S))[l0]
            wrap = Array(Const(int(j < l)) for l in range(S))[l0]
            value = Signal(unsigned(b), name=f"value{j}", reset_less=True)
            index = Signal(unsigned(mb), name=f"index{j}", reset_less=True)
            en = Signal(name=f"en{j}")
            pixel = pix[qj[:max(1, (P - 1).bit_length())]] if P > 1 else pix[0]
            m.d.sync += [value.eq(pixel), index.eq(w + wrap), en.eq(take & has & (pixel != 0))]
            ens.append(en)
            hits.append(en & (k == kmax))
            m.d.comb += [self.wr_addr.word_select(j, ab).eq(slot + k),
                         self.wr_data.word_select(j, lo.entry_bits).eq(Cat(value, index)),
                         self.wr_en[j].eq(en)]
            with m.If(took):
                m.d.sync += k.eq(Mux(was_last, 0, k + en))
        take, last = took, was_last
        # the longest list grows by one when a lane at its length takes a pixel
        grow = Signal()
        m.d.comb += grow.eq(Cat(*hits).any())
        with m.If(take):
            m.d.sync += kmax.eq(Mux(last, 0, kmax + grow))
        m.d.comb += [self.cnt_wr_en.eq(take & last),
                     self.cnt_wr_data.eq(Cat((kmax + grow)[:cb], *[(k + en)[:cb] for k, en in zip(ks, ens)]))]
