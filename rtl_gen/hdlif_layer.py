"""HD-LIF layer engine: synapse -> requant -> neuron lanes -> max pool -> next layer's buffer."""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .buffers import RESIDUAL_ADD_LATENCY, RESIDUAL_READ_LATENCY, last_use, residual_ports, slot_offset, stream_ports
from .config import HDLIFLayerConfig, add_cost, bits_for, dsp_blocks, log2_exact
from .event_conv import EventConvSynapse
from .hw import DSP_LANDING, ctr, delay_line
from .neuron_core import HDLIFCore
from .pool import MaxPool, SumPool, global_sum
from .requant import Requant
from .seca import SecaStage, stage_adds
from .synapse import SynapseEngine


def pool_block(layer: HDLIFLayerConfig) -> type:
    """The pool of a layer's codes: 2 x 2, :class:`MaxPool` or :class:`SumPool` (average pooling),
    or the sum over every position (:func:`rtl_gen.pool.global_sum`)."""
    if layer.pool_op == "gsum":
        return global_sum(layer.synapse.positions)
    return SumPool if layer.pool_op == "sum" else MaxPool


def stream_bits(layer: HDLIFLayerConfig) -> int:
    """The width of the current after the requantizer and the residual adder (what a stream frame
    holds): a Mem-BN map's input, else the neurons' current."""
    return layer.membn.acc_bits if layer.membn is not None else layer.neuron.current_bits


def overlap_ok(layer: HDLIFLayerConfig) -> bool:
    """A stateful layer (HD-LIF vanilla, LIF) may start its next step before the previous one has
    left the neuron pipeline only when every lane holds more neurons than the pipeline's clocks
    (no read before the write of the same neuron)."""
    return not layer.neuron.stateful or layer.neuron.words_per_lane >= HDLIFCore.latency_of(layer.neuron) + 1


class NeuronStage(wiring.Component):
    """The neurons of one layer and the writer into the next layer's input buffer.

    Takes ``nl`` sums (or currents) per clock in sweep order (position, then channel group),
    requantizes them (``requant``), updates the HD-LIF neurons, max-pools the codes (pool 2)
    and writes them, ``nl`` codes per clock, into the next buffer in its layout
    (:class:`rtl_gen.config.OutputLayout`).  ``done`` pulses with the item's last write.

    Invariant (the writer's slot): items are written to the next buffer's slots 0, 1, 0, 1, ...
    in item order, the slot of every write is decided by the writer's own register, and that
    register flips in the same clock as an item's last write.  So the first write of the next
    item, even in the very next clock (a one-beat fold drained back to back, neurons that
    overlap two steps), lands in the other slot.  (The buffer's tracker learns of the item's
    end from ``done`` a clock later; a slot taken from the tracker would be one clock late.)

    Members
    -------
    in_valid, in_data, in_t, in_last : In
    wr_addr, wr_data, wr_en : Out      a write port of the next :class:`rtl_gen.buffers.FrameBuffer`
    done, busy : Out(1)
    """

    def __init__(self, layer: HDLIFLayerConfig, *, requant: bool):
        if not isinstance(layer, HDLIFLayerConfig):
            raise TypeError(f"NeuronStage needs an HDLIFLayerConfig, not {layer!r}")
        self.layer = c = layer
        self.requant = requant
        NL = c.neuron.lanes
        self.in_bits = c.requant.acc_bits if requant else c.seca.out_bits if c.seca is not None else \
            c.requant.out_bits
        self.latency = self.stage_latency(c, requant)
        o = c.out
        ev = {}
        if o.events:
            ev = {"ev_wr_addr": Out(unsigned(bits_for(2 * o.words))), "ev_wr_data": Out(unsigned(bits_for(o.words))),
                  "ev_wr_en": Out(1), "cnt_wr_en": Out(1), "cnt_wr_data": Out(unsigned(bits_for(o.words + 1)))}
        if stage_adds(c):
            ev.update(residual_ports(c.residual))
        if c.stream is not None:
            ev.update(stream_ports(c.stream))
        super().__init__({
            **ev,
            "in_valid": In(1),
            "in_data": In(unsigned(NL * self.in_bits)),
            "in_t": In(ctr(c.neuron.T)),
            "in_last": In(1),
            "wr_addr": Out(unsigned(bits_for(2 * o.words))),
            "wr_data": Out(unsigned(o.simd * o.code_bits)),
            "wr_en": Out(1),
            "done": Out(1),
            "busy": Out(1),
        })

    @staticmethod
    def resources(layer: HDLIFLayerConfig, requant: bool) -> dict:
        """ECP5 cost: the HD-LIF cores (a DSP for the leak and the membrane banks of a vanilla
        core), the tags riding along the pipeline, the requantizer, the max pool, the writer."""
        nc = layer.neuron
        NL = nc.lanes
        mb = nc.membrane_bits
        luts = NL * (8 * mb + 2) + 40
        ffs = NL * (16 * mb + 20) + 40
        dsps = brams = 0
        if nc.stateful:
            if HDLIFCore.multiplies(nc):
                # the leak product's blocks, its operands' and product's registers (HDLIFCore.leak_latency)
                dsps += NL * dsp_blocks(max(nc.lambda_bits, 2), mb)
                ffs += NL * (HDLIFCore.LEAK_APPROACH * (mb + max(nc.lambda_bits, 2)) + DSP_LANDING * nc.leak_bits)
            mem = HDLIFCore.membrane_cost(nc)       # each bank's register by its block RAM: its ffs
            luts, ffs, brams = luts + NL * mem["luts"], ffs + NL * mem["ffs"], brams + NL * mem["brams"]
        # the tags that ride along the requantizer, the cores and the pool: t, og, phase, last, addr
        stages = (Requant.latency if requant else 0) + HDLIFCore.latency_of(nc) + (MaxPool.latency if layer.pooled else 0)
        ffs += stages * (nc.T.bit_length() + (nc.channels // NL).bit_length() + 4 + nc.words_per_lane.bit_length())
        o = layer.out
        if o.simd > NL:
            # the whole-word writer: the lane groups held until their word's last, the wider
            # write register, a multiplexer per bit of the word
            ffs += 2 * (o.simd - NL) * o.code_bits
            luts += o.simd * o.code_bits
        if layer.pooled:
            pool = pool_block(layer).resources(groups=nc.channels // NL, lanes=NL, out_bits=layer.out.code_bits)
            luts, ffs = luts + pool["luts"], ffs + pool["ffs"]
        if stage_adds(layer):
            # the read data delayed to the requantizer's output, the adder and its register
            rb = layer.residual.bits
            luts += NL * (stream_bits(layer) + 2) + 10
            ffs += NL * (rb * (Requant.latency - RESIDUAL_READ_LATENCY) + stream_bits(layer)) + 10
        if layer.stream is not None:
            luts += 20
            ffs += NL * layer.stream.bits + 20
        if layer.membn is not None:
            ffs += Requant.latency * (nc.T.bit_length() + (nc.channels // NL).bit_length() + 4 +
                                      nc.words_per_lane.bit_length())
        cost = {"luts": luts + 40, "ffs": ffs + 40, "brams": brams, "dsps": dsps}
        if layer.membn is not None:
            cost = add_cost(cost, Requant.resources(layer.membn, acc_regs=2, param_regs=2))
        if requant:
            cost = add_cost(cost, Requant.resources(layer.requant, acc_regs=3, param_regs=2))
        return cost

    #: clocks of the residual adder (a registered sum) between the requantizer and the cores
    ADD_LATENCY = RESIDUAL_ADD_LATENCY

    #: clocks a current waits for its residual when there is no requantizer to wait in (the read)
    RES_ALIGN = RESIDUAL_READ_LATENCY

    @classmethod
    def stream_point(cls, layer: HDLIFLayerConfig, requant: bool) -> int:
        """Clocks from a group's ``in_valid`` to its current after the requantizer and the
        residual adder: the stream is written there."""
        if not stage_adds(layer):
            return Requant.latency if requant else 0
        return (Requant.latency if requant else cls.RES_ALIGN) + cls.ADD_LATENCY

    @classmethod
    def current_latency(cls, layer: HDLIFLayerConfig, requant: bool) -> int:
        """Clocks from a group's ``in_valid`` to its current at the cores' input: the requantizer,
        the residual adder and a Mem-BN neuron's input map (a second requantizer)."""
        return cls.stream_point(layer, requant) + (Requant.latency if layer.membn is not None else 0)

    @classmethod
    def stage_latency(cls, layer: HDLIFLayerConfig, requant: bool) -> int:
        """Clocks from an item's last ``in_valid`` to its ``done``: the requantizer, the residual
        adder, the Mem-BN map, the neuron cores, the max pool and the registered write."""
        return cls.current_latency(layer, requant) + HDLIFCore.latency_of(layer.neuron) + \
            (MaxPool.latency if layer.pooled else 0) + 1

    @classmethod
    def stream_latency(cls, layer: HDLIFLayerConfig, requant: bool) -> int:
        """Clocks from an item's last ``in_valid`` to ``st_done``, the last write of the current
        into its stream frame (:attr:`rtl_gen.config.HDLIFLayerConfig.stream`)."""
        return cls.stream_point(layer, requant) + 1

    def elaborate(self, platform):
        m = Module()
        c = self.layer
        nc = c.neuron
        NL, K = nc.lanes, nc.channels // nc.lanes
        G = nc.words_per_lane

        # Counters of the incoming groups: channel group, pooling phase, membrane word.
        og, phase, addr = Signal(ctr(K)), Signal(ctr(pool_block(c).phases)), Signal(ctr(G))
        with m.If(self.in_valid):
            with m.If(self.in_last):
                m.d.sync += [og.eq(0), phase.eq(0), addr.eq(0)]
            with m.Else():
                m.d.sync += addr.eq(addr + 1)
                with m.If(og == K - 1):
                    m.d.sync += [og.eq(0), phase.eq(phase + 1)]
                with m.Else():
                    m.d.sync += og.eq(og + 1)

        # Invariant (busy): ``busy`` is high while any group of an item is anywhere in the
        # stage, so an engine that must not overlap two steps (too few neurons per lane, see
        # :func:`overlap_ok`) can wait for it.  Every register that carries a valid bit is made
        # by ``delay`` below, which records it; ``busy`` ORs them all.  (Listing them by hand
        # once missed the requantizer's inner stages: a stem replaying cached sums started its
        # next step while the previous one was still in the requantizer.)
        valids = [self.in_valid]

        def delay(sig, n, name, *, valid=False):
            return delay_line(m, sig, n, name, valids if valid else None)

        tags = dict(v=self.in_valid, t=self.in_t, og=og, phase=phase, last=self.in_last, addr=addr)
        if self.requant:
            m.submodules.requant = rq = Requant(c.requant)
            m.d.comb += [rq.in_acc.eq(self.in_data), rq.in_t.eq(self.in_t), rq.in_og.eq(og)]
            currents = rq.out_value
            tags = {k: delay(s, Requant.latency, f"rq_{k}", valid=k == "v") for k, s in tags.items()}
            cb = c.requant.out_bits
        else:
            currents = self.in_data
            cb = self.in_bits

        if stage_adds(c):
            # the shortcut's current of this group, read when the group arrives (the slot is this
            # item's: it is released with the item's last group, of the image's last step for a
            # frame per image), delayed to the requantizer's
            # output and added there, one registered clock (without a requantizer, the current
            # waits for its registered read instead, RES_ALIGN)
            f = c.residual
            m.d.comb += [self.res_rd_addr.eq(slot_offset(self.res_slot, f.words, f.slots) + addr),
                         self.res_rd_en.eq(self.in_valid),
                         self.res_release.eq(self.in_valid & self.in_last & last_use(f, self.in_t, c.neuron.T))]
            if self.requant:
                res = delay(self.res_rd_data, Requant.latency - RESIDUAL_READ_LATENCY, "res")
            else:
                res = self.res_rd_data
                currents = delay(currents, self.RES_ALIGN, "align")
                tags = {k: delay(sig, self.RES_ALIGN, f"align_{k}", valid=k == "v") for k, sig in tags.items()}
            ab = stream_bits(c)
            summed = Signal(unsigned(NL * ab))
            m.d.sync += summed.eq(Cat(*[(currents.word_select(j, cb).as_signed() + res.word_select(j, f.bits).as_signed())
                                        [:ab] for j in range(NL)]))
            currents, cb = summed, ab
            tags = {k: delay(sig, self.ADD_LATENCY, f"add_{k}", valid=k == "v") for k, sig in tags.items()}

        if c.stream is not None:
            # the neurons' input current, also into its stream frame (its own slot register, like
            # the codes writer's below)
            f = c.stream
            sv = tags["v"] & ((tags["t"] == 0) if f.per_image else 1)     # a frame per image: step 0
            sslot = Signal(unsigned(bits_for(f.slots)))
            with m.If(sv & tags["last"]):
                m.d.sync += sslot.eq(Mux(sslot == f.slots - 1, 0, sslot + 1))
            assert f.bits == cb, (c.name, f.bits, cb)
            m.d.sync += [self.st_wr_addr.eq(slot_offset(sslot, f.words, f.slots) + tags["addr"]),
                         self.st_wr_data.eq(currents), self.st_wr_en.eq(sv),
                         self.st_done.eq(sv & tags["last"])]
            valids.append(self.st_wr_en)

        if c.membn is not None:
            # a Mem-BN neuron's input map: (x * mult[t, c] + bias[t, c]) >> shift, the requantizer's
            # arithmetic on the current (after the stream: the next block adds the unmapped one)
            assert c.membn.acc_bits == cb, (c.name, c.membn.acc_bits, cb)
            m.submodules.membn = mb = Requant(c.membn)
            m.d.comb += [mb.in_acc.eq(currents), mb.in_t.eq(tags["t"]), mb.in_og.eq(tags["og"])]
            currents, cb = mb.out_value, c.membn.out_bits
            tags = {k: delay(sig, Requant.latency, f"bn_{k}", valid=k == "v") for k, sig in tags.items()}

        codes = []
        for j in range(NL):
            core = HDLIFCore(nc, lane=j)
            m.submodules[f"core{j}"] = core
            m.d.comb += [core.in_valid.eq(tags["v"]), core.in_addr.eq(tags["addr"]), core.in_t.eq(tags["t"]),
                         core.in_og.eq(tags["og"]), core.in_current.eq(currents.word_select(j, cb).as_signed())]
            codes.append(core.out_code)
        code_bits = nc.code_bits
        for i in range(HDLIFCore.latency_of(nc)):
            tags = {k: delay(s, 1, f"nc{i}_{k}", valid=k == "v") for k, s in tags.items()
                    if k in ("v", "phase", "last")}
        codes_flat = Signal(unsigned(NL * code_bits))
        m.d.comb += codes_flat.eq(Cat(*codes))

        if c.pooled:
            m.submodules.pool = mp = pool_block(c)(groups=K, lanes=NL, code_bits=code_bits, out_bits=c.out.code_bits)
            m.d.comb += [mp.in_valid.eq(tags["v"]), mp.in_codes.eq(codes_flat), mp.in_phase.eq(tags["phase"])]
            w_valid, w_codes = mp.out_valid, mp.out_codes
            w_last = delay(tags["last"], MaxPool.latency, "pool_last")
            delay(tags["v"], MaxPool.latency, "pool_v", valid=True)
        else:
            w_valid, w_codes, w_last = tags["v"], codes_flat, tags["last"]

        # Writer: NL codes per clock into the next buffer's word, lanes aligned to NL.
        o = c.out
        S, ls = o.simd, log2_exact(o.simd)
        if o.packed:
            e = Signal(ctr(o.channels * o.positions + NL))
            word, lane0 = e >> ls, e & (S - 1)
            with m.If(w_valid):
                m.d.sync += e.eq(Mux(w_last, 0, e + NL))
        else:
            ce = Signal(ctr(o.channels + NL))
            pw = Signal(ctr(o.words + o.cf))
            word, lane0 = pw + (ce >> ls), ce & (S - 1)
            with m.If(w_valid):
                with m.If(w_last):
                    m.d.sync += [ce.eq(0), pw.eq(0)]
                with m.Elif(ce == o.channels - NL):
                    m.d.sync += [ce.eq(0), pw.eq(pw + o.cf)]
                with m.Else():
                    m.d.sync += ce.eq(ce + NL)
        slot = Signal()                                  # the slot of the item being written
        with m.If(w_valid & w_last):
            m.d.sync += slot.eq(~slot)
        slot_off = Mux(slot, o.words, 0)
        # A word is written once, whole, with its last lane group (the item's last group, or a
        # position's last channels in the unpacked layout, may leave it partly filled: the rest
        # is zero, as lanes that no neuron owns always are).  The groups before it wait in
        # ``held``.  Per-lane write enables would cost block RAM: Yosys gives every separately
        # enabled lane its own 9-bit byte of a DP16KD, so 4-bit codes took twice the blocks.
        # Readers never see the delay: a slot is read only after its last word (``done``).
        G, gb = S // NL, NL * o.code_bits
        word_end = (lane0 == S - NL) | w_last
        if not o.packed:
            word_end |= ce == o.channels - NL
        held = Signal(unsigned((G - 1) * gb))
        merged = Cat(*[Mux(lane0 == g * NL, w_codes, held.word_select(g, gb) if g < G - 1 else 0)
                       for g in range(G)])
        with m.If(w_valid):
            m.d.sync += held.eq(Mux(word_end, 0, merged[:len(held)]))
        m.d.sync += [
            self.wr_addr.eq(slot_off + word),
            self.wr_data.eq(merged),
            self.wr_en.eq(w_valid & word_end),
            self.done.eq(w_valid & w_last),
        ]
        if o.events:
            # list the words that hold a non-zero code, and count them, for a consumer that skips
            # zero words (packed layout: a word is complete when its last lane is written)
            nzacc, n = Signal(), Signal(ctr(o.words + 1))
            nz = w_codes != 0
            word_done = (lane0 == S - NL) | w_last
            event = w_valid & word_done & (nzacc | nz)
            with m.If(w_valid):
                m.d.sync += nzacc.eq(Mux(word_done, 0, nzacc | nz))
                with m.If(w_last):
                    m.d.sync += n.eq(0)
                with m.Elif(event):
                    m.d.sync += n.eq(n + 1)
            m.d.sync += [self.ev_wr_addr.eq(slot_off + n), self.ev_wr_data.eq(word), self.ev_wr_en.eq(event),
                         self.cnt_wr_en.eq(w_valid & w_last), self.cnt_wr_data.eq(n + event)]
        busy = self.done | (self.wr_en != 0)
        for v in valids:
            busy = busy | v
        m.d.comb += self.busy.eq(busy)
        return m


class HDLIFLayerEngine(wiring.Component):
    """One HD-LIF layer after the stem: its items (image, step) in order, one at a time.

    An item starts when the input slot is full (the previous layer finished this step), the
    output slot is empty (the next layer finished the step before the previous one) and, for
    layers too small to overlap two steps in the neuron pipeline, the previous item has left
    it.  ``in_release`` frees the input slot as soon as the sweep has read it (a stem that
    recomputes, :attr:`rtl_gen.config.HDLIFLayerConfig.recompute`, reads its pixel slot at every
    step and frees it after the last).

    Members
    -------
    rd_addr, rd_en : Out, rd_data : In, in_full : In(1), in_slot : In(1), in_release : Out(1)
    wr_addr, wr_data, wr_en : Out, out_ready : In(1), out_acquire, out_done : Out(1)
    busy : Out(1)
    """

    @staticmethod
    def resources(layer: HDLIFLayerConfig) -> dict:
        """The synapse (dense or event-driven) and the neuron stage (:meth:`SynapseEngine.resources`,
        :meth:`EventConvSynapse.resources`, :meth:`NeuronStage.resources`)."""
        syn = EventConvSynapse if layer.synapse.event else SynapseEngine
        if layer.seca is not None:
            return add_cost(syn.resources(layer.synapse), SecaStage.resources(layer), NeuronStage.resources(layer, False))
        return add_cost(syn.resources(layer.synapse), NeuronStage.resources(layer, True))

    def __init__(self, layer: HDLIFLayerConfig):
        if not isinstance(layer, HDLIFLayerConfig):
            raise TypeError(f"HDLIFLayerEngine needs an HDLIFLayerConfig, not {layer!r}")
        self.layer = c = layer
        self.synapse = EventConvSynapse(c.synapse) if c.synapse.event else SynapseEngine(c.synapse)
        self.seca = None
        if c.seca is not None:
            self.seca = SecaStage(c)        # requantizer (and SECA_II's add) and attention, before the neurons
        self.stage = NeuronStage(c, requant=c.seca is None)
        syn = c.synapse
        super().__init__({
            **event_ports(self.synapse, self.stage),
            **graph_ports(c),
            "rd_addr": Out(unsigned(len(self.synapse.rd_addr))), "rd_en": Out(1),
            "rd_data": In(unsigned(syn.fold.simd * syn.in_bits)),
            "in_full": In(1), "in_slot": In(1), "in_release": Out(1),
            "wr_addr": Out(unsigned(len(self.stage.wr_addr))), "wr_data": Out(unsigned(len(self.stage.wr_data))),
            "wr_en": Out(unsigned(len(self.stage.wr_en))),
            "out_ready": In(1), "out_acquire": Out(1), "out_done": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.layer
        T = c.neuron.T
        m.submodules.synapse = syn = self.synapse
        m.submodules.neurons = st = self.stage
        t, t_cur = Signal(ctr(T)), Signal(ctr(T))
        busy = syn.busy | st.busy
        if self.seca is not None:
            m.submodules.seca = sc = self.seca
            busy = busy | sc.busy
        idle = ~syn.sweeping & (~busy if not overlap_ok(c) else 1)
        start = Signal()
        m.d.comb += start.eq(idle & self.in_full & self.out_ready & graph_ready(self, t) &
                             (sc.ready if self.seca is not None else 1))
        with m.If(start):
            m.d.sync += [t.eq(Mux(t == T - 1, 0, t + 1)), t_cur.eq(t)]
        connect_graph(m, self, sc if (self.seca is not None and not stage_adds(c)) else st, start, t)
        feed = syn
        if self.seca is not None:
            m.d.comb += [sc.in_valid.eq(syn.out_valid), sc.in_data.eq(syn.out_data), sc.in_t.eq(syn.out_t),
                         sc.in_last.eq(syn.out_last), sc.acquire.eq(start)]
            feed = sc
        release = syn.done & (t_cur == T - 1) if c.recompute else syn.done
        m.d.comb += [
            syn.start.eq(start), syn.t.eq(t), syn.slot_off.eq(Mux(self.in_slot, c.synapse.words, 0)),
            syn.full.eq(1),
            self.rd_addr.eq(syn.rd_addr), self.rd_en.eq(syn.rd_en), syn.rd_data.eq(self.rd_data),
            self.in_release.eq(release),
            self.out_acquire.eq(start),
            st.in_valid.eq(feed.out_valid), st.in_data.eq(feed.out_data), st.in_t.eq(feed.out_t),
            st.in_last.eq(feed.out_last),
            self.wr_addr.eq(st.wr_addr), self.wr_data.eq(st.wr_data), self.wr_en.eq(st.wr_en),
            self.out_done.eq(st.done),
            self.busy.eq(busy),
        ]
        connect_events(m, self, syn, st)
        return m


def event_ports(synapse=None, stage=None) -> dict:
    """The zero-skipping ports of an engine: the input slot's list (``in_count``, ``ev_rd_*``)
    when its synapse skips zero words, and the output list (``ev_wr_*``, ``cnt_wr_*``) when its
    neurons feed a consumer that does."""
    out = {}
    if synapse is not None and synapse.config.lane_lists:
        w = synapse.window
        out.update({"in_count": In(len(w.count)), "in_lane_counts": In(len(w.lane_counts))})
    elif synapse is not None and synapse.config.skip_zero_inputs:
        w = synapse.window
        out.update({"in_count": In(len(w.count)), "ev_rd_addr": Out(len(w.ev_addr)), "ev_rd_en": Out(1),
                    "ev_rd_data": In(len(w.ev_data))})
    if stage is not None and stage.layer.out.events:
        out.update({k: Out(len(getattr(stage, k))) for k in ("ev_wr_addr", "ev_wr_data", "ev_wr_en", "cnt_wr_en",
                                                               "cnt_wr_data")})
    return out


def connect_events(m, engine, synapse=None, stage=None) -> None:
    if synapse is not None and synapse.config.lane_lists:
        m.d.comb += [synapse.count.eq(engine.in_count), synapse.lane_counts.eq(engine.in_lane_counts)]
    elif synapse is not None and synapse.config.skip_zero_inputs:
        m.d.comb += [synapse.count.eq(engine.in_count), engine.ev_rd_addr.eq(synapse.ev_addr),
                     engine.ev_rd_en.eq(synapse.ev_en), synapse.ev_data.eq(engine.ev_rd_data)]
    if stage is not None and stage.layer.out.events:
        m.d.comb += [getattr(engine, k).eq(getattr(stage, k)) for k in ("ev_wr_addr", "ev_wr_data", "ev_wr_en",
                                                                          "cnt_wr_en", "cnt_wr_data")]


class ResidualSlots:
    """The start-side view of a residual frame: an engine starts an item only when *that item's*
    slot is full.  The stage releases a slot with the item's last group, which may come after
    the engine has started the next item (the synapse pipeline), so the tracker's ``r_slot`` may
    still point at an earlier item: the engine counts its items in flight (started, not yet
    released) and asks for the slot that many ahead."""

    @staticmethod
    def connect(m, engine, start, t) -> None:
        """(``t``: the step of the item ``start`` starts; a frame per image counts images, entered
        at step 0.)"""
        f = engine.layer.residual
        enter = start & ((t == 0) if f.per_image else 1)
        inflight = Signal(unsigned(bits_for(f.slots + 1)), name="res_inflight")
        with m.If(enter & ~engine.res_release):
            m.d.sync += inflight.eq(inflight + 1)
        with m.Elif(~enter & engine.res_release):
            m.d.sync += inflight.eq(inflight - 1)
        m.d.comb += engine.res_ahead.eq(inflight)



def graph_ports(layer) -> dict:
    """An engine's ports to the current frames of a graph: the residual it adds and the stream
    it writes (:class:`rtl_gen.config.CurrentFrame`)."""
    out = {}
    if layer.residual is not None:
        out.update(residual_ports(layer.residual, engine=True))
    if layer.stream is not None:
        out.update(stream_ports(layer.stream, engine=True))
    return out


def graph_ready(engine, t):
    """The current frames' part of an engine's start condition (``t``: the step of the item it
    would start): its item's residual slot full (:class:`ResidualSlots`), its stream slot empty;
    a frame per image is checked at step 0 (later steps use the image's slot)."""
    ok = 1
    for f, sig in ((engine.layer.residual, "res_full_ahead"), (engine.layer.stream, "st_ready")):
        if f is not None:
            ok = ok & (getattr(engine, sig) | ((t != 0) if f.per_image else 0))
    return ok


def connect_graph(m, engine, stage, start, t) -> None:
    """Pass a stage's current-frame ports through its engine (``stage``: the one that adds the
    residual; the neuron stage writes the stream; ``t``: the step of the item ``start`` starts)."""
    layer = engine.layer
    if layer.residual is not None:
        m.d.comb += [engine.res_rd_addr.eq(stage.res_rd_addr), engine.res_rd_en.eq(stage.res_rd_en),
                     stage.res_rd_data.eq(engine.res_rd_data),
                     stage.res_slot.eq(engine.res_slot), engine.res_release.eq(stage.res_release)]
        ResidualSlots.connect(m, engine, start, t)
    stage = getattr(engine, "stage", stage)
    if layer.stream is not None:
        m.d.comb += [engine.st_wr_addr.eq(stage.st_wr_addr), engine.st_wr_data.eq(stage.st_wr_data),
                     engine.st_wr_en.eq(stage.st_wr_en), engine.st_done.eq(stage.st_done),
                     engine.st_acquire.eq(start & ((t == 0) if layer.stream.per_image else 1))]
