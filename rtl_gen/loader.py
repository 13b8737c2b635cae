"""Pixel loader: the ``pixels`` stream into a slot of the pixel frame buffer, in the stem's layout."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, unsigned
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
        """ECP5 cost of the loader's counters and control."""
        return {"luts": 40, "ffs": 40}

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
        if lo.events:
            ev = {"ev_wr_addr": Out(unsigned(bits_for(2 * lo.words))), "ev_wr_data": Out(unsigned(bits_for(lo.words))),
                  "ev_wr_en": Out(1), "cnt_wr_en": Out(1), "cnt_wr_data": Out(unsigned(bits_for(lo.words + 1)))}
        super().__init__({
            **ev,
            "pixels": In(stream.Signature(unsigned(lanes * lo.code_bits))),
            "wr_addr": Out(unsigned(bits_for(2 * lo.words))),
            "wr_data": Out(unsigned(lo.simd * lo.code_bits)),
            "wr_en": Out(unsigned(lo.simd)),
            "w_ready": In(1), "w_slot": In(1), "w_acquire": Out(1), "w_done": Out(1),
            "avail": Out(unsigned(bits_for(lo.words + 1))),
        })

    def elaborate(self, platform):
        m = Module()
        lo = self.layout
        S, ls, P = lo.simd, log2_exact(lo.simd), self.lanes
        loading = Signal()
        take = Signal()
        m.d.comb += [self.pixels.ready.eq(loading | self.w_ready), take.eq(self.pixels.valid & self.pixels.ready),
                     self.w_acquire.eq(take & ~loading)]
        n = Signal(ctr(self.features))                  # the beat's first pixel
        last = n == self.features - P
        if lo.packed:
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
        m.d.comb += [self.wr_addr.eq(Mux(self.w_slot, lo.words, 0) + word),
                     self.wr_data.eq(self.pixels.payload.replicate(S // P)),
                     self.wr_en.eq(Mux(take, ((1 << P) - 1) << lane, 0)),
                     self.w_done.eq(take & last)]
        with m.If(take):
            m.d.sync += [n.eq(Mux(last, 0, n + P)), loading.eq(~last),
                         self.avail.eq(Mux(last, 0, (n + P) >> ls))]
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
