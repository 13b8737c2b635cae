"""Buffers between engines: a frame of codes (or currents) per slot, handed over slot by slot.

Every engine processes its items (image, time step) in the same order, so a buffer between a
producer and a consumer is a two-entry FIFO of frames (double buffering): the producer fills
one slot while the consumer reads the other.  :class:`SlotTracker` keeps the slot states
(``EMPTY -> FILLING -> FULL -> EMPTY``) and :class:`FrameBuffer` adds the memory.
"""

from __future__ import annotations

from amaranth import Array, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import COLUMN_BITS, CurrentFrame, add_cost, bits_for, bram_shape, memory_attrs, memory_cost
from .hw import make_memory, no_collision

EMPTY, FILLING, FULL = 0, 1, 2


class SlotTracker(wiring.Component):
    """Slot states of a buffer of ``slots`` slots (two: double buffering) read by ``readers``
    consumers.

    The producer checks ``w_ready`` (the next slot is empty) and pulses ``w_acquire`` when it
    starts an item, and pulses ``w_done`` when the item's last word is written (``w_slot`` is
    the slot being written).  Each consumer reads slot ``r_slot`` once ``r_full`` (or, reading
    behind the writer, once ``r_started``), and pulses ``r_release`` when it no longer needs
    it; a slot is EMPTY again once every reader has released it, and a slot released before it
    is complete becomes empty only when it is complete.

    Slots are taken in turn, ``0, 1, .., slots - 1, 0, ..``.  More than two slots let a producer
    run further ahead of a consumer that is several engines downstream (a residual stream that
    skips engines, :mod:`rtl_gen.graph`); several readers let two engines read one frame (a
    block's conv and its shortcut read the same spike codes).

    Members
    -------
    w_ready : Out(1), w_acquire : In(1), w_done : In(1), w_slot : Out(slot bits)
    r_full : Out(1), r_started : Out(1), r_release : In(1), r_slot : Out(slot bits)
        reader 0; reader ``i > 0`` has the same ports named ``r_full_i`` ... ``r_slot_i``
    """

    #: clocks from ``w_done`` to the slot FULL (``r_full``)
    FULL_AFTER_DONE = 1
    #: clocks from ``r_release`` of a full slot (by its last reader) to that slot EMPTY
    #: (``w_ready``); a slot released before it is full becomes EMPTY one clock after it is FULL
    EMPTY_AFTER_RELEASE = 2

    @classmethod
    def empty_at(cls, release: int, full: int) -> int:
        """The clock a slot is EMPTY again, released (by its last reader) at ``release`` and
        FULL from ``full``."""
        return max(release + cls.EMPTY_AFTER_RELEASE, full + 1)

    @staticmethod
    def reader_suffix(i: int) -> str:
        """The suffix of reader ``i``'s port names: none for reader 0, ``_i`` for the others."""
        return "" if i == 0 else f"_{i}"

    def __init__(self, slots: int = 2, readers: int = 1, *, ahead: bool = False):
        if not (isinstance(slots, int) and slots >= 2):
            raise ValueError(f"SlotTracker slots must be an integer >= 2, not {slots!r}")
        if not (isinstance(readers, int) and readers >= 1):
            raise ValueError(f"SlotTracker readers must be a positive integer, not {readers!r}")
        self.slots, self.readers, self.ahead = slots, readers, ahead
        sb = unsigned(bits_for(slots))
        ports = {"w_ready": Out(1), "w_acquire": In(1), "w_done": In(1), "w_slot": Out(sb)}
        if ahead:
            # reader 0's look-ahead: is the slot r_ahead after r_slot full (r_ahead < slots)?
            ports.update({"r_ahead": In(unsigned(bits_for(slots + 1))), "r_full_ahead": Out(1)})
        for i in range(readers):
            x = self.reader_suffix(i)
            ports.update({f"r_full{x}": Out(1), f"r_started{x}": Out(1), f"r_release{x}": In(1),
                          f"r_slot{x}": Out(sb)})
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        N, R = self.slots, self.readers
        sb = unsigned(bits_for(N))
        state = Array(Signal(2, name=f"state{i}") for i in range(N))
        # pending[i] bit r: reader r has released slot i (it empties once every reader has and it is FULL)
        pending = Array(Signal(R, name=f"pending{i}") for i in range(N))
        wa, wd = Signal(sb), Signal(sb)

        def nxt(p):
            return (~p)[0] if N == 2 else Mux(p == N - 1, 0, p + 1)

        m.d.comb += [self.w_ready.eq(state[wa] == EMPTY), self.w_slot.eq(wd)]
        for i in range(N):
            with m.If((pending[i] == (1 << R) - 1) & (state[i] == FULL)):
                m.d.sync += [state[i].eq(EMPTY), pending[i].eq(0)]
        with m.If(self.w_acquire):
            m.d.sync += [state[wa].eq(FILLING), wa.eq(nxt(wa))]
        with m.If(self.w_done):
            m.d.sync += [state[wd].eq(FULL), wd.eq(nxt(wd))]
        for r in range(R):
            x = self.reader_suffix(r)
            rs = Signal(sb, name=f"rs{x}")
            m.d.comb += [getattr(self, f"r_slot{x}").eq(rs), getattr(self, f"r_full{x}").eq(state[rs] == FULL),
                         getattr(self, f"r_started{x}").eq(state[rs] != EMPTY)]
            if r == 0 and self.ahead:
                at = Signal(unsigned(bits_for(2 * N)), name="r_at")
                m.d.comb += [at.eq(rs + self.r_ahead),
                             self.r_full_ahead.eq((self.r_ahead < N) & (state[Mux(at >= N, at - N, at)] == FULL))]
            with m.If(getattr(self, f"r_release{x}")):
                m.d.sync += rs.eq(nxt(rs))
                if R == 1:
                    m.d.sync += pending[rs].eq(1)
                else:
                    for i in range(N):
                        with m.If(rs == i):
                            m.d.sync += pending[i][r].eq(1)
        return m


class FrameBuffer(wiring.Component):
    """``slots`` slots (two unless a stream skips engines) of ``words`` words, ``lanes`` codes
    (or currents) of ``bits`` bits per word, read by ``readers`` consumers, and their tracker.

    Addresses are absolute (slot ``s`` starts at ``s * words``); a write writes a whole word
    (``lane_writes``: any subset of its lanes, which costs block RAM, see
    :func:`rtl_gen.config.bram_layout`).  A reader reads only a full slot, which the writer does
    not write, so a whole-word buffer's memory needs no read-during-write logic
    (:func:`rtl_gen.hw.no_collision` asserts it; the lane-written pixel buffer, read behind its
    writer, keeps Yosys's).  A read returns the word one clock later, or
    :data:`RESIDUAL_READ_LATENCY` later with ``registered_read`` (:func:`banked_read`: the memory
    is split into one bank per row of block RAMs, each bank's output registered, then gathered by
    registered ORs, so no path runs from a DP16KD's slow clock-to-out through a multiplexer).  Each reader has its own
    read port (``rd_addr_i`` / ``rd_data_i`` for reader ``i > 0``; the memory is replicated per
    reader).
    With ``events``, each slot also holds the list of its words that contain a non-zero code and
    their count (written by the producer with the slot's last word), for a consumer that skips
    zero words.  With ``lane_lists`` (the pixels of an fc stem whose lanes skip zeros) each lane
    is a memory of its own with its own write address (``wr_addr``: ``lanes`` addresses, lane
    ``j``'s at ``j * addr_bits``): the lane's list of non-zero entries; the counts written with
    the slot's last entry are the longest list's (``r_count``) and every lane's
    (``r_lane_counts``).

    Members
    -------
    wr_addr, wr_data, wr_en : In       one word, ``wr_en`` one bit (per lane with ``lane_writes``)
    rd_addr, rd_en : In, rd_data : Out (and ``rd_addr_i`` ... per further reader; ``rd_en``: the read is used)
    tracker : the :class:`SlotTracker` ports, flattened (``w_ready`` ... ``r_slot``)
    """

    @staticmethod
    def banks(depth: int, width: int) -> list[int]:
        """The depths of a registered read's banks: one per row of block RAMs (the DP16KD aspect
        :func:`rtl_gen.config.bram_shape` picks), or the whole memory where it is not block RAM."""
        if memory_attrs(depth, width, rom=False).get("ram_style") != "block":
            return [depth]
        d = bram_shape(depth, width)[0]
        return [min(d, depth - a) for a in range(0, depth, d)]

    @staticmethod
    def resources(*, words: int, lanes: int, bits: int, slots: int = 2, readers: int = 1,
                  lane_writes: bool = False, registered_read: bool = False, events: bool = False,
                  columns: bool = False) -> dict:
        """ECP5 cost of the slots, once per reader (the tracker is not counted); a registered read
        adds its banks' output registers and the row multiplexer; ``events``, the list of
        non-zero words (two slots of word indices)."""
        depth, width = slots * words, lanes * bits
        if columns:
            one = add_cost(*(memory_cost(depth, min(COLUMN_BITS, width - lo)) for lo in range(0, width, COLUMN_BITS)))
        elif not registered_read:
            one = memory_cost(depth, width, lane_bits=bits if lane_writes else None)
        else:
            banks = FrameBuffer.banks(depth, width)
            n, groups = len(banks), -(-len(banks) // READ_GROUP)
            # the banks' two registers (with their enables), the groups' registers, the ORs (LUT4s)
            ors = sum(-(-(min(READ_GROUP, n - g) - 1) // 3) for g in range(0, n, READ_GROUP)) + -(-(groups - 1) // 3)
            one = add_cost(*(memory_cost(d, width) for d in banks),
                           {"ffs": (2 * n + groups) * width + (2 * n if n > 1 else 0),
                            "luts": ors * width + (n if n > 1 else 0)})
        cost = {k: v * readers for k, v in one.items()}
        return add_cost(cost, memory_cost(2 * words, bits_for(words))) if events else cost

    @staticmethod
    def lane_lists_resources(*, words: int, lanes: int, bits: int) -> dict:
        """ECP5 cost of a buffer of per-lane lists: a memory per lane, the count registers."""
        cb = bits_for(words + 1)
        return add_cost(*(memory_cost(2 * words, bits) for _ in range(lanes)),
                        {"ffs": 2 * (lanes + 1) * cb, "luts": (lanes + 1) * cb / 2})

    def __init__(self, *, words: int, lanes: int, bits: int, events: bool = False, slots: int = 2,
                 readers: int = 1, ahead: bool = False, lane_writes: bool = False, registered_read: bool = False,
                 lane_lists: bool = False, columns: bool = False):
        for k, v in (("words", words), ("lanes", lanes), ("bits", bits)):
            if not (isinstance(v, int) and v > 0):
                raise ValueError(f"FrameBuffer {k} must be a positive integer, not {v!r}")
        if events and (slots != 2 or readers != 1):
            raise ValueError("FrameBuffer events: a list of non-zero words needs two slots and one reader")
        self.words, self.lanes, self.bits, self.events = words, lanes, bits, events
        self.slots, self.readers, self.ahead, self.lane_writes = slots, readers, ahead, lane_writes
        self.registered_read = registered_read
        if registered_read and lane_writes:
            raise ValueError("FrameBuffer: a registered read takes whole-word writes")
        if lane_lists and not (events and not lane_writes and not registered_read):
            raise ValueError("FrameBuffer lane_lists: lists per lane are events (not lane_writes or registered_read)")
        self.lane_lists = lane_lists
        if columns and (lane_writes or registered_read or lane_lists):
            raise ValueError("FrameBuffer columns: a column layout takes whole-word writes and a plain read")
        # the memory as COLUMN_BITS-bit columns (rtl_gen.config.column_layout)
        self.columns = columns
        self.addr_bits = bits_for(slots * words)
        sb = unsigned(bits_for(slots))
        ev = {}
        cb = bits_for(words + 1)
        if lane_lists:
            ev = {"cnt_wr_en": In(1), "cnt_wr_data": In(unsigned((lanes + 1) * cb)),
                  "r_count": Out(unsigned(cb)), "r_lane_counts": Out(unsigned(lanes * cb))}
        elif events:
            ev = {"ev_wr_addr": In(unsigned(self.addr_bits)), "ev_wr_data": In(unsigned(bits_for(words))),
                  "ev_wr_en": In(1), "cnt_wr_en": In(1), "cnt_wr_data": In(unsigned(bits_for(words + 1))),
                  "ev_rd_addr": In(unsigned(self.addr_bits)), "ev_rd_en": In(1),
                  "ev_rd_data": Out(unsigned(bits_for(words))),
                  "r_count": Out(unsigned(bits_for(words + 1)))}
        rd = {}
        for i in range(readers):
            x = SlotTracker.reader_suffix(i)
            # rd_en: the reader uses this clock's read (only the collision assertion looks at it;
            # one left unconnected counts every read)
            rd.update({f"rd_addr{x}": In(unsigned(self.addr_bits)), f"rd_en{x}": In(1, init=1),
                       f"rd_data{x}": Out(unsigned(lanes * bits)),
                       f"r_full{x}": Out(1), f"r_started{x}": Out(1), f"r_release{x}": In(1), f"r_slot{x}": Out(sb)})
        super().__init__({
            **ev,
            "wr_addr": In(unsigned(self.addr_bits * (lanes if lane_lists else 1))),
            "wr_data": In(unsigned(lanes * bits)),
            "wr_en": In(unsigned(lanes if lane_writes or lane_lists else 1)),
            "w_ready": Out(1), "w_acquire": In(1), "w_done": In(1), "w_slot": Out(sb),
            **rd,
            **({"r_ahead": In(unsigned(bits_for(slots + 1))), "r_full_ahead": Out(1)} if ahead else {}),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.tracker = tr = SlotTracker(self.slots, self.readers, ahead=self.ahead)
        if self.ahead:
            m.d.comb += [tr.r_ahead.eq(self.r_ahead), self.r_full_ahead.eq(tr.r_full_ahead)]
        for name in ("w_acquire", "w_done"):
            m.d.comb += getattr(tr, name).eq(getattr(self, name))
        for name in ("w_ready", "w_slot"):
            m.d.comb += getattr(self, name).eq(getattr(tr, name))
        for i in range(self.readers):
            x = SlotTracker.reader_suffix(i)
            rd_addr, rd_data = getattr(self, f"rd_addr{x}"), getattr(self, f"rd_data{x}")
            if not self.lane_writes and not self.lane_lists:      # lane lists: checked per lane
                # a reader uses words of a full slot only, which the writer never writes
                no_collision(m, wr_addr=self.wr_addr, wr_en=self.wr_en, rd_addr=rd_addr,
                             live=getattr(self, f"rd_en{x}"), what=f"frame buffer reader {i}")
            if self.lane_lists:
                self._lane_lists(m, rd_addr, rd_data, getattr(self, f"rd_en{x}"), tr)
            elif self.registered_read:
                self._banked(m, x, rd_addr, rd_data)
            elif self.columns:
                width = self.lanes * self.bits
                for lo in range(0, width, COLUMN_BITS):
                    cw = min(COLUMN_BITS, width - lo)
                    mem = make_memory(shape=unsigned(cw), depth=self.slots * self.words, no_rw_check=True)
                    m.submodules[f"mem{x}_col{lo // COLUMN_BITS}"] = mem
                    wr, rd = mem.write_port(), mem.read_port()
                    m.d.comb += [wr.addr.eq(self.wr_addr), wr.data.eq(self.wr_data[lo:lo + cw]), wr.en.eq(self.wr_en),
                                 rd.addr.eq(rd_addr), rd_data[lo:lo + cw].eq(rd.data)]
            else:
                mem = make_memory(shape=unsigned(self.lanes * self.bits), depth=self.slots * self.words,
                                  no_rw_check=not self.lane_writes)
                m.submodules[f"mem{x}"] = mem
                wr = mem.write_port(granularity=self.bits) if self.lane_writes else mem.write_port()
                rd = mem.read_port()
                m.d.comb += [wr.addr.eq(self.wr_addr), wr.data.eq(self.wr_data), wr.en.eq(self.wr_en),
                             rd.addr.eq(rd_addr), rd_data.eq(rd.data)]
            m.d.comb += tr_port(tr, self, "r_release", x, into_tracker=True)
            for name in ("r_full", "r_started", "r_slot"):
                m.d.comb += tr_port(tr, self, name, x)
        if self.events and not self.lane_lists:
            m.submodules.events = ev = make_memory(shape=unsigned(bits_for(self.words)), depth=2 * self.words)
            ewr, erd = ev.write_port(), ev.read_port()
            m.d.comb += [ewr.addr.eq(self.ev_wr_addr), ewr.data.eq(self.ev_wr_data), ewr.en.eq(self.ev_wr_en),
                         erd.addr.eq(self.ev_rd_addr), erd.en.eq(self.ev_rd_en), self.ev_rd_data.eq(erd.data)]
            counts = Array(Signal(unsigned(bits_for(self.words + 1)), name=f"count{i}") for i in range(2))
            with m.If(self.cnt_wr_en):
                m.d.sync += counts[tr.w_slot].eq(self.cnt_wr_data)
            m.d.comb += self.r_count.eq(counts[tr.r_slot])
        return m

    def _lane_lists(self, m, rd_addr, rd_data, rd_en, tr) -> None:
        """A memory per lane, written at its own address, read at one; the counts per slot."""
        ab, b, S = self.addr_bits, self.bits, self.lanes
        for j in range(S):
            mem = make_memory(shape=unsigned(b), depth=self.slots * self.words, no_rw_check=True)
            m.submodules[f"lane{j}"] = mem
            wr, rd = mem.write_port(), mem.read_port()
            addr = self.wr_addr.word_select(j, ab)
            no_collision(m, wr_addr=addr, wr_en=self.wr_en[j], rd_addr=rd_addr, live=rd_en,
                         what=f"pixel list of lane {j}")
            m.d.comb += [wr.addr.eq(addr), wr.data.eq(self.wr_data.word_select(j, b)), wr.en.eq(self.wr_en[j]),
                         rd.addr.eq(rd_addr), rd_data.word_select(j, b).eq(rd.data)]
        cb = bits_for(self.words + 1)
        counts = Array(Signal(unsigned((S + 1) * cb), name=f"counts{i}") for i in range(2))
        with m.If(self.cnt_wr_en):
            m.d.sync += counts[tr.w_slot].eq(self.cnt_wr_data)
        m.d.comb += [self.r_count.eq(counts[tr.r_slot][:cb]), self.r_lane_counts.eq(counts[tr.r_slot][cb:])]

    def _banked(self, m, x: str, rd_addr, rd_data) -> None:
        """A registered read (:func:`banked_read`) of the whole buffer."""
        m.d.comb += rd_data.eq(banked_read(m, f"mem{x}", depth=self.slots * self.words, width=self.lanes * self.bits,
                                           wr_addr=self.wr_addr, wr_data=self.wr_data, wr_en=self.wr_en,
                                           rd_addr=rd_addr))


#: banks whose registers one registered OR gathers in a :func:`banked_read`
READ_GROUP = 4


def banked_read(m, name: str, *, depth: int, width: int, wr_addr, wr_data, wr_en, rd_addr):
    """A memory of ``depth`` words whose read takes :data:`RESIDUAL_READ_LATENCY` (four) clocks
    (:meth:`FrameBuffer.banks`): bank ``b`` holds addresses ``b * D ..``.  Clock 1: the block RAMs
    read, and a one-hot enable per bank is registered from the address; clock 2: each bank's word
    is registered as it is, a register free to sit by its block RAM; clock 3: registered again,
    or zero where its (delayed) enable is off (the flip-flops' synchronous reset); clock 4: the
    registers of every :data:`READ_GROUP` banks are ORed into one register; the groups'
    registers are then ORed (returned: the word of the address given four clocks earlier).
    (With one register a bank, the placer put it by the group's OR: on the LFE5U-85F with 200
    of 208 block RAMs in use, a SECA frame's bank was 6.6 ns of routing away on top of the
    DP16KD's 5.8 ns clock-to-out.)

    No path runs from a DP16KD's slow clock-to-out through a multiplexer, and no wide
    multiplexer with a shared select gathers every bank in one place: each group's OR sits by
    its banks, and only a group's word travels (the stem's residual stream of 25 banks, read by
    one multiplexer, was the plain ResNet's routing congestion on the LFE5U-85F).  The banks take
    ``no_rw_check``: the caller asserts that no read it uses hits the word written in the same
    clock (:func:`rtl_gen.hw.no_collision`)."""
    banks = FrameBuffer.banks(depth, width)
    D = banks[0]
    shift = (D - 1).bit_length() if len(banks) > 1 else 0
    assert len(banks) == 1 or D == 1 << shift, (D, banks)
    regs = []
    for b, d in enumerate(banks):
        mem = make_memory(shape=unsigned(width), depth=d, no_rw_check=True)
        m.submodules[f"{name}_{b}"] = mem
        wr, rd = mem.write_port(), mem.read_port()
        near = Signal(unsigned(width), name=f"{name}_{b}_near", reset_less=True)
        q = Signal(unsigned(width), name=f"{name}_{b}_q")
        hit = ((wr_addr >> shift) == b) if len(banks) > 1 else 1
        m.d.comb += [wr.addr.eq(wr_addr), wr.data.eq(wr_data), wr.en.eq(wr_en & hit), rd.addr.eq(rd_addr)]
        m.d.sync += near.eq(rd.data)
        if len(banks) > 1:
            en = Signal(name=f"{name}_{b}_en")
            en2 = Signal(name=f"{name}_{b}_en2")
            m.d.sync += [en.eq((rd_addr >> shift) == b), en2.eq(en)]
            with m.If(en2):
                m.d.sync += q.eq(near)
            with m.Else():
                m.d.sync += q.eq(0)
        else:
            m.d.sync += q.eq(near)
        regs.append(q)
    groups = []
    for g in range(0, len(regs), READ_GROUP):
        gq = Signal(unsigned(width), name=f"{name}_g{g // READ_GROUP}")
        acc = regs[g]
        for q in regs[g + 1:g + READ_GROUP]:
            acc = acc | q
        m.d.sync += gq.eq(acc)
        groups.append(gq)
    out = groups[0]
    for gq in groups[1:]:
        out = out | gq
    return out


def tr_port(tracker, buffer, name: str, suffix: str, *, into_tracker: bool = False):
    """Connect a tracker port to the buffer's port of the same name (``into_tracker``: an input)."""
    a, b = getattr(tracker, name + suffix), getattr(buffer, name + suffix)
    return a.eq(b) if into_tracker else b.eq(a)


def slot_offset(slot, words: int, slots: int):
    """The first address of slot ``slot`` of a buffer of ``slots`` slots of ``words`` words."""
    return Mux(slot, words, 0) if slots == 2 else slot * words


#: clocks of a residual adder (one registered sum) wherever a residual current is added
RESIDUAL_ADD_LATENCY = 1
#: clocks from a current frame's read address to its data (a registered read, :func:`banked_read`)
RESIDUAL_READ_LATENCY = 4


def last_use(f, t, T: int):
    """Whether an item of step ``t`` is the last to read frame ``f``'s slot (every item, or the
    image's last step for a frame per image)."""
    return (t == T - 1) if f.per_image else 1


def residual_ports(f: CurrentFrame, *, engine: bool = False) -> dict:
    """The ports that read a residual current frame: the stage's read port and release (an
    engine adds the start-side view: the item's slot full, :attr:`res_ahead` slots ahead)."""
    out = {"res_rd_addr": Out(unsigned(bits_for(f.slots * f.words))), "res_rd_en": Out(1),
           "res_rd_data": In(unsigned(f.lanes * f.bits)),
           "res_slot": In(unsigned(bits_for(f.slots))), "res_release": Out(1)}
    if engine:
        out.update({"res_ahead": Out(unsigned(bits_for(f.slots + 1))), "res_full_ahead": In(1)})
    return out


def stream_ports(f: CurrentFrame, *, engine: bool = False) -> dict:
    """The ports that write a current frame (an engine adds the slot hand-over)."""
    out = {"st_wr_addr": Out(unsigned(bits_for(f.slots * f.words))), "st_wr_data": Out(unsigned(f.lanes * f.bits)),
           "st_wr_en": Out(1), "st_done": Out(1)}
    if engine:
        out.update({"st_ready": In(1), "st_acquire": Out(1)})
    return out
