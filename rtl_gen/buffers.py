"""Two-slot buffers between engines: a frame of codes per slot, handed over slot by slot.

Every engine processes its items (image, time step) in the same order, so a buffer between a
producer and a consumer is a two-entry FIFO of frames (double buffering): the producer fills
one slot while the consumer reads the other.  :class:`SlotTracker` keeps the slot states
(``EMPTY -> FILLING -> FULL -> EMPTY``) and :class:`FrameBuffer` adds the memory.
"""

from __future__ import annotations

from amaranth import Array, Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import bits_for, memory_cost
from .hw import make_memory

EMPTY, FILLING, FULL = 0, 1, 2


class SlotTracker(wiring.Component):
    """Slot states of a two-slot buffer.

    The producer checks ``w_ready`` (the next slot is empty) and pulses ``w_acquire`` when it
    starts an item, and pulses ``w_done`` when the item's last word is written (``w_slot`` is
    the slot being written).  The consumer reads slot ``r_slot`` once ``r_full`` (or, reading
    behind the writer, once ``r_started``), and pulses ``r_release`` when it no longer needs
    it; a slot released before it is complete becomes empty only when it is complete.

    Members
    -------
    w_ready : Out(1), w_acquire : In(1), w_done : In(1), w_slot : Out(1)
    r_full : Out(1), r_started : Out(1), r_release : In(1), r_slot : Out(1)
    """

    #: clocks from ``w_done`` to the slot FULL (``r_full``)
    FULL_AFTER_DONE = 1
    #: clocks from ``r_release`` of a full slot to that slot EMPTY (``w_ready``); a slot
    #: released before it is full becomes EMPTY one clock after it is FULL
    EMPTY_AFTER_RELEASE = 2

    @classmethod
    def empty_at(cls, release: int, full: int) -> int:
        """The clock a slot is EMPTY again, released at ``release`` and FULL from ``full``."""
        return max(release + cls.EMPTY_AFTER_RELEASE, full + 1)

    def __init__(self):
        super().__init__({
            "w_ready": Out(1), "w_acquire": In(1), "w_done": In(1), "w_slot": Out(1),
            "r_full": Out(1), "r_started": Out(1), "r_release": In(1), "r_slot": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        state = Array(Signal(2, name=f"state{i}") for i in range(2))
        pending = Array(Signal(name=f"pending{i}") for i in range(2))
        wa, wd, rs = Signal(), Signal(), Signal()
        m.d.comb += [
            self.w_ready.eq(state[wa] == EMPTY), self.w_slot.eq(wd), self.r_slot.eq(rs),
            self.r_full.eq(state[rs] == FULL), self.r_started.eq(state[rs] != EMPTY),
        ]
        for i in range(2):
            with m.If(pending[i] & (state[i] == FULL)):
                m.d.sync += [state[i].eq(EMPTY), pending[i].eq(0)]
        with m.If(self.w_acquire):
            m.d.sync += [state[wa].eq(FILLING), wa.eq(~wa)]
        with m.If(self.w_done):
            m.d.sync += [state[wd].eq(FULL), wd.eq(~wd)]
        with m.If(self.r_release):
            m.d.sync += [pending[rs].eq(1), rs.eq(~rs)]
        return m


class FrameBuffer(wiring.Component):
    """Two slots of ``words`` words, ``lanes`` codes of ``bits`` bits per word, and their tracker.

    Addresses are absolute (slot 1 starts at ``words``); a write enables any subset of the
    lanes of a word; a read returns the word one clock later.  With ``events``, each slot also
    holds the list of its words that contain a non-zero code and their count (written by the
    producer with the slot's last word), for a consumer that skips zero words.

    Members
    -------
    wr_addr, wr_data, wr_en : In       one word, ``wr_en`` one bit per lane
    rd_addr : In, rd_data : Out
    tracker : the :class:`SlotTracker` ports, flattened (``w_ready`` ... ``r_slot``)
    """

    @staticmethod
    def resources(*, words: int, lanes: int, bits: int) -> dict:
        """ECP5 cost of the two slots (the tracker and the event list are not counted)."""
        return memory_cost(2 * words, lanes * bits)

    def __init__(self, *, words: int, lanes: int, bits: int, events: bool = False, name: str = "buffer"):
        for k, v in (("words", words), ("lanes", lanes), ("bits", bits)):
            if not (isinstance(v, int) and v > 0):
                raise ValueError(f"FrameBuffer {k} must be a positive integer, not {v!r}")
        self.words, self.lanes, self.bits, self.events = words, lanes, bits, events
        self.addr_bits = bits_for(2 * words)
        ev = {}
        if events:
            ev = {"ev_wr_addr": In(unsigned(self.addr_bits)), "ev_wr_data": In(unsigned(bits_for(words))),
                  "ev_wr_en": In(1), "cnt_wr_en": In(1), "cnt_wr_data": In(unsigned(bits_for(words + 1))),
                  "ev_rd_addr": In(unsigned(self.addr_bits)), "ev_rd_en": In(1),
                  "ev_rd_data": Out(unsigned(bits_for(words))),
                  "r_count": Out(unsigned(bits_for(words + 1)))}
        super().__init__({
            **ev,
            "wr_addr": In(unsigned(self.addr_bits)), "wr_data": In(unsigned(lanes * bits)),
            "wr_en": In(unsigned(lanes)),
            "rd_addr": In(unsigned(self.addr_bits)), "rd_data": Out(unsigned(lanes * bits)),
            "w_ready": Out(1), "w_acquire": In(1), "w_done": In(1), "w_slot": Out(1),
            "r_full": Out(1), "r_started": Out(1), "r_release": In(1), "r_slot": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = make_memory(shape=unsigned(self.lanes * self.bits), depth=2 * self.words)
        m.submodules.tracker = tr = SlotTracker()
        wr = mem.write_port(granularity=self.bits)
        rd = mem.read_port()
        m.d.comb += [wr.addr.eq(self.wr_addr), wr.data.eq(self.wr_data), wr.en.eq(self.wr_en),
                     rd.addr.eq(self.rd_addr), self.rd_data.eq(rd.data)]
        for name in ("w_acquire", "w_done", "r_release"):
            m.d.comb += getattr(tr, name).eq(getattr(self, name))
        for name in ("w_ready", "w_slot", "r_full", "r_started", "r_slot"):
            m.d.comb += getattr(self, name).eq(getattr(tr, name))
        if self.events:
            m.submodules.events = ev = make_memory(shape=unsigned(bits_for(self.words)), depth=2 * self.words)
            ewr, erd = ev.write_port(), ev.read_port()
            m.d.comb += [ewr.addr.eq(self.ev_wr_addr), ewr.data.eq(self.ev_wr_data), ewr.en.eq(self.ev_wr_en),
                         erd.addr.eq(self.ev_rd_addr), erd.en.eq(self.ev_rd_en), self.ev_rd_data.eq(erd.data)]
            counts = Array(Signal(unsigned(bits_for(self.words + 1)), name=f"count{i}") for i in range(2))
            with m.If(self.cnt_wr_en):
                m.d.sync += counts[tr.w_slot].eq(self.cnt_wr_data)
            m.d.comb += self.r_count.eq(counts[tr.r_slot])
        return m
