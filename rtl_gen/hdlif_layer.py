"""HD-LIF layer engine: synapse -> requant -> (stem current cache) -> neuron core."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from .config import HDLIFLayerConfig
from .neuron_core import HDLIFCore
from .requant import Requant
from .synapse import Synapse


class HDLIFLayerEngine(wiring.Component):
    """One fully connected HD-LIF layer, run once per time step by the top level.

    A ``start`` pulse at step ``t`` computes every neuron's current, updates its membrane and
    writes its spike code out through ``out_*`` (into the next layer's input buffer).  For the
    stem (``direct``) the currents of step 0 are kept in a cache and replayed at later steps,
    one neuron per clock, so the pixels are read once per image (direct encoding).

    Members
    -------
    wr_en, wr_index, wr_code : In     the layer's input codes
    t : In(range(T)), start : In(1), busy : Out(1)
    out_valid, out_index, out_code : Out
    """

    def __init__(self, config: HDLIFLayerConfig):
        if not isinstance(config, HDLIFLayerConfig):
            raise TypeError(f"HDLIFLayerEngine needs an HDLIFLayerConfig, not {config!r}")
        self.config = c = config
        syn, nc = c.synapse, c.neuron
        super().__init__({
            "wr_en": In(1),
            "wr_index": In(range(syn.in_features)),
            "wr_code": In(unsigned(syn.in_bits)),
            "t": In(range(nc.T)),
            "start": In(1),
            "busy": Out(1),
            "out_valid": Out(1),
            "out_index": Out(range(syn.out_features)),
            "out_code": Out(unsigned(nc.code_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.config
        N = c.synapse.out_features
        m.submodules.synapse = syn = Synapse(c.synapse)
        m.submodules.requant = rq = Requant(mult=c.mult, bias=c.bias, shift=c.shift,
                                            acc_bits=c.synapse.acc_bits, product_bits=c.product_bits,
                                            out_bits=c.neuron.current_bits)
        m.submodules.core = core = HDLIFCore(c.neuron)
        m.d.comb += [
            syn.wr_en.eq(self.wr_en), syn.wr_index.eq(self.wr_index), syn.wr_code.eq(self.wr_code),
            rq.in_valid.eq(syn.out_valid), rq.in_index.eq(syn.out_index), rq.in_acc.eq(syn.out_acc),
            core.t.eq(self.t),
            self.out_valid.eq(core.out_valid), self.out_index.eq(core.out_index),
            self.out_code.eq(core.out_code),
        ]
        busy = syn.busy | rq.out_valid | core.busy
        if not c.direct:
            m.d.comb += [
                syn.start.eq(self.start),
                core.in_valid.eq(rq.out_valid), core.in_index.eq(rq.out_index),
                core.in_current.eq(rq.out_value),
            ]
        else:
            # Stem: compute at t = 0 (and cache), replay the cache at t > 0.
            m.submodules.cache = cache = memory.Memory(shape=signed(c.neuron.current_bits), depth=N, init=[])
            cache_wr, cache_rd = cache.write_port(), cache.read_port()
            m.d.comb += [cache_wr.en.eq(rq.out_valid & (self.t == 0)), cache_wr.addr.eq(rq.out_index),
                         cache_wr.data.eq(rq.out_value)]
            replay, r_idx = Signal(), Signal(range(N))
            r_valid, r_out_idx = Signal(), Signal(range(N))
            with m.If(replay):
                m.d.sync += r_idx.eq(r_idx + 1)
                with m.If(r_idx == N - 1):
                    m.d.sync += [replay.eq(0), r_idx.eq(0)]
            with m.Elif(self.start & (self.t != 0)):
                m.d.sync += [replay.eq(1), r_idx.eq(0)]
            m.d.comb += [syn.start.eq(self.start & (self.t == 0)), cache_rd.addr.eq(r_idx)]
            m.d.sync += [r_valid.eq(replay), r_out_idx.eq(r_idx)]
            m.d.comb += [
                core.in_valid.eq(Mux(r_valid, 1, rq.out_valid)),
                core.in_index.eq(Mux(r_valid, r_out_idx, rq.out_index)),
                core.in_current.eq(Mux(r_valid, cache_rd.data, rq.out_value)),
            ]
            busy = busy | replay | r_valid
        m.d.comb += self.busy.eq(busy)
        return m
