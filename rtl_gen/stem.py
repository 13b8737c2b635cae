"""The stem (the first layer, fed with pixels): accumulated once per image, replayed at every step.

Direct encoding gives the stem the same input at every time step (``docs/integer-semantics.md``),
so its synapse runs once per image (:class:`StemSynapse`, reading the pixel frame while it
arrives) into a two-slot cache of currents (or of sums when the requantizer changes with the
step, Mem-BN), and :class:`StemReplay` feeds the cache to the stem's neurons at every step.
The two run concurrently: the synapse works on image ``i + 1`` while the neurons replay image
``i``, so loading the pixels, the stem's MACs and the network's time steps overlap.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import HDLIFLayerConfig, add_cost, bits_for
from .hdlif_layer import NeuronStage, connect_events, connect_graph, event_ports, graph_ports, graph_ready, overlap_ok
from .hw import ctr
from .requant import Requant
from .synapse import SynapseEngine


def cache_bits(layer: HDLIFLayerConfig) -> int:
    return layer.requant.acc_bits if layer.cache == "acc" else layer.requant.out_bits


class StemSynapse(wiring.Component):
    """Sweeps the pixel frame once per image; writes ``nl`` currents (or sums) per cache word.

    Members
    -------
    rd_addr, rd_en : Out, rd_data : In                      the pixel buffer's read port
    pix_started, pix_full, pix_slot : In(1), pix_avail : In, pix_release : Out(1)
    wr_addr, wr_data : Out, wr_en : Out(1)           the cache's write port (whole words)
    cache_ready : In(1), cache_acquire, cache_done : Out(1)
    in_count : In, ev_rd_addr, ev_rd_en : Out, ev_rd_data : In   skipping zero pixel words only

    The cache slot of every write is the synapse's own register, flipped in the clock of an
    image's last write (see :class:`rtl_gen.hdlif_layer.NeuronStage`: the tracker's write
    slot changes a clock later, too late for a next image whose first sums follow at once).
    busy : Out(1)
    """

    def __init__(self, layer: HDLIFLayerConfig):
        if not (isinstance(layer, HDLIFLayerConfig) and layer.direct):
            raise TypeError(f"StemSynapse needs the stem's HDLIFLayerConfig, not {layer!r}")
        self.layer = c = layer
        self.synapse = SynapseEngine(c.synapse)
        self.words = c.synapse.groups_per_item
        nl = c.neuron.lanes
        self.latency = self.synapse.latency + (Requant.latency if c.cache == "current" else 0) + 1
        syn = c.synapse
        super().__init__({
            "rd_addr": Out(unsigned(self.synapse.window.addr_bits)), "rd_en": Out(1),
            "rd_data": In(unsigned(syn.fold.simd * syn.entry_bits)),
            "pix_started": In(1), "pix_full": In(1), "pix_slot": In(1),
            "pix_avail": In(unsigned(bits_for(syn.words + 1))), "pix_release": Out(1),
            "wr_addr": Out(unsigned(bits_for(2 * self.words))),
            "wr_data": Out(unsigned(nl * cache_bits(c))), "wr_en": Out(1),
            "cache_ready": In(1), "cache_acquire": Out(1), "cache_done": Out(1),
            "busy": Out(1),
            **event_ports(self.synapse),          # skipping zero pixel words: the loader's list
        })

    @staticmethod
    def resources(layer: HDLIFLayerConfig) -> dict:
        """The synapse and, when caching currents, its requantizer lanes (with their parameter ROMs)."""
        cost = SynapseEngine.resources(layer.synapse)
        if layer.cache == "current":
            cost = add_cost(cost, Requant.resources(layer.requant))
        return cost

    @staticmethod
    def done_delay(layer: HDLIFLayerConfig) -> int:
        """Clocks from the sweep's last beat leaving S3 to ``cache_done`` (the image's last
        cache write): the synapse's last group, the requantizer when caching currents, the
        registered write."""
        syn = layer.synapse
        return SynapseEngine.out_delay(syn, syn.groups_per_fold - 1) + \
            (Requant.latency if layer.cache == "current" else 0) + 1

    def elaborate(self, platform):
        m = Module()
        c = self.layer
        K = c.neuron.channels // c.neuron.lanes
        m.submodules.synapse = syn = self.synapse
        ready = self.pix_started if c.synapse.trailing else self.pix_full
        start = Signal()
        m.d.comb += [
            start.eq(~syn.sweeping & ready & self.cache_ready),
            syn.start.eq(start), syn.t.eq(0), syn.slot_off.eq(Mux(self.pix_slot, c.synapse.words, 0)),
            syn.avail.eq(self.pix_avail), syn.full.eq(self.pix_full),
            self.rd_addr.eq(syn.rd_addr), self.rd_en.eq(syn.rd_en), syn.rd_data.eq(self.rd_data),
            self.pix_release.eq(syn.done),
            self.cache_acquire.eq(start),
        ]
        connect_events(m, self, syn)
        v, last, data = syn.out_valid, syn.out_last, syn.out_data
        busy = syn.busy
        if c.cache == "current":
            og = Signal(ctr(K))
            with m.If(syn.out_valid):
                m.d.sync += og.eq(Mux(syn.out_last | (og == K - 1), 0, og + 1))
            m.submodules.requant = rq = Requant(c.requant)
            m.d.comb += [rq.in_acc.eq(syn.out_data), rq.in_t.eq(0), rq.in_og.eq(og)]
            for i in range(Requant.latency):
                v2, last2 = Signal(name=f"rq_v{i}"), Signal(name=f"rq_last{i}")
                m.d.sync += [v2.eq(v), last2.eq(last)]
                v, last = v2, last2
                busy = busy | v
            data = rq.out_value
        g = Signal(ctr(self.words))
        with m.If(v):
            m.d.sync += g.eq(Mux(last, 0, g + 1))
        slot = Signal()
        with m.If(v & last):
            m.d.sync += slot.eq(~slot)
        m.d.sync += [self.wr_addr.eq(Mux(slot, self.words, 0) + g), self.wr_data.eq(data),
                     self.wr_en.eq(v), self.cache_done.eq(v & last)]
        m.d.comb += self.busy.eq(busy | self.wr_en)
        return m


class StemReplay(wiring.Component):
    """The stem's neurons: at every step, replays the image's cache word by word into them.

    Members
    -------
    rd_addr, rd_en : Out, rd_data : In, cache_full, cache_slot : In(1), cache_release : Out(1)
    st_* : a graph's stem also writes its current into a stream frame (:func:`graph_ports`)
    wr_addr, wr_data, wr_en : Out, out_ready : In(1), out_acquire, out_done : Out(1)
    busy : Out(1)
    """

    #: clocks from the read of a cache word to the stage's input: the block RAM's own read, its
    #: word registered beside the RAM (a wide cache spans block RAM columns across the die, and
    #: the RAM's 5.8 ns clock-to-out leaves no time to route far: conv_fmnist_event's critical
    #: path at 89.9 MHz), then registered at the stage
    read_latency = 3

    # ---- timing (what :mod:`rtl_gen.estimate` adds up), a step started at ``start``:
    # words are read at start + 1 .. start + G (the cache slot released with the last read of
    # the image's last step), enter the neuron stage read_latency clocks later; the next step
    # may start at start + G + 1 (or, without overlap, once the stage is empty: done + 1).

    @classmethod
    def resources(cls, layer: HDLIFLayerConfig) -> dict:
        """The stem's neuron stage (requantizing when the cache holds sums) and the word's
        registers of the read pipeline (the block RAM's own read is not a flip-flop)."""
        words = (cls.read_latency - 1) * layer.neuron.lanes * cache_bits(layer)
        return add_cost(NeuronStage.resources(layer, layer.cache == "acc"), {"ffs": words})

    @classmethod
    def step_timing(cls, layer: HDLIFLayerConfig, start: int) -> dict:
        """``release`` (the cache slot, at the last step), ``next`` (the earliest next start
        when steps may overlap), ``done`` and ``stream_done`` (a graph's stem writing its
        current frame) of a step started at ``start``."""
        G = layer.synapse.groups_per_item
        last_in = start + G + cls.read_latency
        requant = layer.cache == "acc"
        return {"release": start + G, "next": start + G + 1,
                "done": last_in + NeuronStage.stage_latency(layer, requant),
                "stream_done": last_in + NeuronStage.stream_latency(layer, requant)}

    def __init__(self, layer: HDLIFLayerConfig):
        if not (isinstance(layer, HDLIFLayerConfig) and layer.direct):
            raise TypeError(f"StemReplay needs the stem's HDLIFLayerConfig, not {layer!r}")
        self.layer = c = layer
        self.stage = NeuronStage(c, requant=c.cache == "acc")
        self.words = c.synapse.groups_per_item
        super().__init__({
            **event_ports(None, self.stage),
            **graph_ports(c),
            "rd_addr": Out(unsigned(bits_for(2 * self.words))), "rd_en": Out(1),
            "rd_data": In(unsigned(c.neuron.lanes * cache_bits(c))),
            "cache_full": In(1), "cache_slot": In(1), "cache_release": Out(1),
            "wr_addr": Out(unsigned(len(self.stage.wr_addr))), "wr_data": Out(unsigned(len(self.stage.wr_data))),
            "wr_en": Out(unsigned(len(self.stage.wr_en))),
            "out_ready": In(1), "out_acquire": Out(1), "out_done": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.layer
        T, G = c.neuron.T, self.words
        m.submodules.neurons = st = self.stage
        sweeping = Signal()
        g = Signal(ctr(G))
        t, t_s = Signal(ctr(T)), Signal(ctr(T))
        # the read pipeline, one (valid, last, step) per clock of read_latency
        v = [Signal(name=f"v{i}") for i in range(1, self.read_latency + 1)]
        lst = [Signal(name=f"l{i}") for i in range(1, self.read_latency + 1)]
        ts = [Signal(ctr(T), name=f"t{i}") for i in range(1, self.read_latency + 1)]
        in_flight = Cat(*v).any()
        # Invariant (membrane hazards): a lane with too few neurons to overlap two steps
        # (:func:`rtl_gen.hdlif_layer.overlap_ok`) starts a step only when nothing of the
        # previous one is left anywhere: in the sweep, in the read pipeline or in the
        # neuron stage.  (Checking the stage alone let a one-word step start while the previous
        # one was still in the read registers: its membrane was read before it was written.)
        idle = ~sweeping & (1 if overlap_ok(c) else ~(in_flight | st.busy))
        start = Signal()
        m.d.comb += [start.eq(idle & self.cache_full & self.out_ready & graph_ready(self, t)), self.out_acquire.eq(start)]
        connect_graph(m, self, st, start, t)
        with m.If(start):
            m.d.sync += [sweeping.eq(1), g.eq(0), t_s.eq(t), t.eq(Mux(t == T - 1, 0, t + 1))]
        last = sweeping & (g == G - 1)
        with m.If(sweeping):
            m.d.sync += g.eq(g + 1)
            with m.If(g == G - 1):
                m.d.sync += [sweeping.eq(0), g.eq(0)]
        m.d.comb += [self.rd_addr.eq(Mux(self.cache_slot, G, 0) + g), self.rd_en.eq(sweeping),
                     self.cache_release.eq(last & (t_s == T - 1))]
        # the word, registered read_latency - 1 times after the RAM's own read: first beside the
        # RAM, last at the stage
        word = [Signal.like(self.rd_data, name=f"word{i}") for i in range(2, self.read_latency + 1)]
        m.d.sync += [v[0].eq(sweeping), lst[0].eq(last), ts[0].eq(t_s), word[0].eq(self.rd_data)]
        m.d.sync += [a.eq(b) for x in (v, lst, ts, word) for a, b in zip(x[1:], x[:-1])]
        m.d.comb += [
            st.in_valid.eq(v[-1]), st.in_data.eq(word[-1]), st.in_t.eq(ts[-1]), st.in_last.eq(lst[-1]),
            self.wr_addr.eq(st.wr_addr), self.wr_data.eq(st.wr_data), self.wr_en.eq(st.wr_en),
            self.out_done.eq(st.done),
            self.busy.eq(sweeping | in_flight | st.busy),
        ]
        connect_events(m, self, None, st)
        return m
