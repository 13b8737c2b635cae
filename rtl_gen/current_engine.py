"""Current engine: synapse -> requant -> a current frame (a residual block's shortcut convolution)."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .buffers import slot_offset, stream_ports
from .config import CurrentLayerConfig, add_cost, bits_for
from .hw import ctr
from .requant import Requant
from .synapse import SynapseEngine


class CurrentEngine(wiring.Component):
    """A synapse on spike codes whose requantized current is written, ``nl`` currents per word in
    sweep order (position, then channel group), into a current frame that a later engine adds to
    its own current (:attr:`rtl_gen.config.HDLIFLayerConfig.residual`): the 1 x 1 strided
    shortcut of a residual block, exactly :func:`golden.executor.synapse` and
    :func:`golden.executor.requant`.

    An item (image, step) starts when its input slot is full and the frame's next slot is
    empty; it has no neurons, so items always overlap in the pipeline.

    Members
    -------
    rd_addr, rd_en : Out, rd_data : In, in_full : In(1), in_slot : In(1), in_release : Out(1)
    st_wr_addr, st_wr_data, st_wr_en, st_done : Out, st_ready : In(1), st_acquire : Out(1)
    busy : Out(1)
    """

    @classmethod
    def stream_latency(cls, layer: CurrentLayerConfig) -> int:
        """Clocks from an item's last synapse output to ``st_done``: the requantizer and the
        registered write."""
        return Requant.latency + 1

    @staticmethod
    def resources(layer: CurrentLayerConfig) -> dict:
        """The synapse, the requantizer and the writer (its tags and address)."""
        NL = layer.stream.lanes
        tags = Requant.latency * (layer.stream.words.bit_length() + 3)
        writer = {"luts": 30 + layer.stream.words.bit_length(), "ffs": tags + NL * layer.stream.bits + 30}
        return add_cost(SynapseEngine.resources(layer.synapse),
                        Requant.resources(layer.requant, acc_regs=3, param_regs=2), writer)

    def __init__(self, layer: CurrentLayerConfig):
        if not isinstance(layer, CurrentLayerConfig):
            raise TypeError(f"CurrentEngine needs a CurrentLayerConfig, not {layer!r}")
        self.layer = c = layer
        self.synapse = SynapseEngine(c.synapse)
        syn = c.synapse
        super().__init__({
            **stream_ports(c.stream, engine=True),
            "rd_addr": Out(unsigned(len(self.synapse.rd_addr))), "rd_en": Out(1),
            "rd_data": In(unsigned(syn.fold.simd * syn.in_bits)),
            "in_full": In(1), "in_slot": In(1), "in_release": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.layer
        f = c.stream
        T = c.synapse.T
        K = c.synapse.out_channels // f.lanes
        m.submodules.synapse = syn = self.synapse
        t = Signal(ctr(T))
        start = Signal()
        m.d.comb += start.eq(~syn.sweeping & self.in_full & self.st_ready)
        with m.If(start):
            m.d.sync += t.eq(Mux(t == T - 1, 0, t + 1))
        m.d.comb += [
            syn.start.eq(start), syn.t.eq(t), syn.slot_off.eq(Mux(self.in_slot, c.synapse.words, 0)),
            syn.full.eq(1), self.rd_addr.eq(syn.rd_addr), self.rd_en.eq(syn.rd_en), syn.rd_data.eq(self.rd_data),
            self.in_release.eq(syn.done), self.st_acquire.eq(start),
        ]

        # the group's channel group (the requantizer's parameters) and its word in the frame
        og, addr = Signal(ctr(K)), Signal(ctr(f.words))
        with m.If(syn.out_valid):
            m.d.sync += [og.eq(Mux(syn.out_last | (og == K - 1), 0, og + 1)),
                         addr.eq(Mux(syn.out_last, 0, addr + 1))]
        m.submodules.requant = rq = Requant(c.requant)
        m.d.comb += [rq.in_acc.eq(syn.out_data), rq.in_t.eq(syn.out_t), rq.in_og.eq(og)]
        v, last, a = syn.out_valid, syn.out_last, addr
        busy = syn.busy
        for i in range(Requant.latency):
            v2, last2, a2 = Signal(name=f"rq_v{i}"), Signal(name=f"rq_last{i}"), Signal.like(addr, name=f"rq_addr{i}")
            m.d.sync += [v2.eq(v), last2.eq(last), a2.eq(a)]
            v, last, a = v2, last2, a2
            busy = busy | v

        slot = Signal(unsigned(bits_for(f.slots)))
        with m.If(v & last):
            m.d.sync += slot.eq(Mux(slot == f.slots - 1, 0, slot + 1))
        m.d.sync += [self.st_wr_addr.eq(slot_offset(slot, f.words, f.slots) + a), self.st_wr_data.eq(rq.out_value),
                     self.st_wr_en.eq(v), self.st_done.eq(v & last)]
        m.d.comb += self.busy.eq(busy | self.st_wr_en)
        return m
