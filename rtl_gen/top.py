"""The accelerator top level: pixels in, per-step class scores and the class out."""

from __future__ import annotations

from amaranth import Module, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .buffers import FrameBuffer, SlotTracker
from .config import AcceleratorConfig, column_layout
from .current_engine import CurrentEngine
from .hdlif_layer import HDLIFLayerEngine
from .loader import PixelLoader
from .readout import ReadoutEngine, ScoreEmitter
from .stem import StemReplay, StemSynapse, cache_bits


class Accelerator(wiring.Component):
    """A whole HD-LIF network as one streaming block.

    Per image: ``features`` pixels arrive on ``pixels`` (``pixel_lanes`` per beat, C, H, W order,
    the first of a beat in its low bits); for each
    time step ``t = 0 .. T-1`` the step's class scores leave on ``scores`` (``classes`` beats,
    class 0 first); then the predicted class leaves on ``label``.  Every value equals the golden
    model's (:func:`golden.executor.run`).  A reset at any point returns to waiting for the
    first pixel of a new image.

    Inside, a chain of engines runs concurrently, each on its own item (image, step) and each
    handing whole frames to the next through a two-slot buffer: the pixel loader; the stem's
    synapse, once per image (:class:`rtl_gen.stem.StemSynapse`); the stem's neurons, every step
    (:class:`rtl_gen.stem.StemReplay`); every further HD-LIF layer
    (:class:`rtl_gen.hdlif_layer.HDLIFLayerEngine`); the readout and the score emitter.  So the
    next image loads while the current one computes, and layer ``l`` works on step ``t`` while
    layer ``l + 1`` works on step ``t - 1``.

    Members
    -------
    pixels : In(stream.Signature(unsigned(pixel_lanes * pixel_bits)))
    scores : Out(stream.Signature(signed(score_bits)))
    label : Out(stream.Signature(unsigned(label_bits)))
    """

    def __init__(self, config: AcceleratorConfig):
        if not isinstance(config, AcceleratorConfig):
            raise TypeError(f"Accelerator needs an AcceleratorConfig, not {config!r}")
        self.config = c = config
        self.label_bits = c.label_bits
        super().__init__({
            "pixels": In(stream.Signature(unsigned(c.pixel_lanes * c.pixel_bits))),
            "scores": Out(stream.Signature(signed(c.readout.score_bits))),
            "label": Out(stream.Signature(unsigned(self.label_bits))),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.config
        stem = c.layers[0]

        # pixels -> pixel buffer
        pl = c.pixel_layout
        m.submodules.loader = loader = PixelLoader(pl, features=c.features, lanes=c.pixel_lanes)
        m.submodules.pixbuf = pix = FrameBuffer(words=pl.words, lanes=pl.simd, bits=pl.entry_bits,
                                                lane_writes=not pl.lane_lists, events=pl.events,
                                                lane_lists=pl.lane_lists)
        wiring.connect(m, wiring.flipped(self.pixels), loader.pixels)
        m.d.comb += [pix.wr_addr.eq(loader.wr_addr), pix.wr_data.eq(loader.wr_data), pix.wr_en.eq(loader.wr_en),
                     loader.w_ready.eq(pix.w_ready), loader.w_slot.eq(pix.w_slot),
                     pix.w_acquire.eq(loader.w_acquire), pix.w_done.eq(loader.w_done)]
        if pl.lane_lists:
            # the stem's lanes skip zero pixels: each lane's list, and the counts
            m.d.comb += [pix.cnt_wr_en.eq(loader.cnt_wr_en), pix.cnt_wr_data.eq(loader.cnt_wr_data)]
        elif pl.events:
            # the stem skips zero pixel words: the loader lists the others, the stem walks the list
            m.d.comb += [getattr(pix, k).eq(getattr(loader, k))
                         for k in ("ev_wr_addr", "ev_wr_data", "ev_wr_en", "cnt_wr_en", "cnt_wr_data")]

        if stem.recompute:
            # the stem sweeps the held pixel frame at every step, like any layer
            m.submodules[stem.name] = sb = HDLIFLayerEngine(stem)
            m.d.comb += [pix.rd_addr.eq(sb.rd_addr), pix.rd_en.eq(sb.rd_en), sb.rd_data.eq(pix.rd_data),
                         sb.in_full.eq(pix.r_full),
                         sb.in_slot.eq(pix.r_slot), pix.r_release.eq(sb.in_release)]
            stem_reader = sb
        else:
            # the stem: synapse once per image -> cache -> neurons at every step
            m.submodules[f"{stem.name}_synapse"] = sa = StemSynapse(stem)
            lanes, bits = stem.neuron.lanes, cache_bits(stem)
            m.submodules[f"{stem.name}_cache"] = cache = FrameBuffer(
                words=sa.words, lanes=lanes, bits=bits, columns=column_layout(2 * sa.words, lanes * bits))
            m.submodules[f"{stem.name}_neurons"] = sb = StemReplay(stem)
            m.d.comb += [
                pix.rd_addr.eq(sa.rd_addr), pix.rd_en.eq(sa.rd_en), sa.rd_data.eq(pix.rd_data),
                sa.pix_started.eq(pix.r_started), sa.pix_full.eq(pix.r_full), sa.pix_slot.eq(pix.r_slot),
                sa.pix_avail.eq(loader.avail), pix.r_release.eq(sa.pix_release),
                cache.wr_addr.eq(sa.wr_addr), cache.wr_data.eq(sa.wr_data),
                cache.wr_en.eq(sa.wr_en),
                sa.cache_ready.eq(cache.w_ready),
                cache.w_acquire.eq(sa.cache_acquire), cache.w_done.eq(sa.cache_done),
                cache.rd_addr.eq(sb.rd_addr), cache.rd_en.eq(sb.rd_en), sb.rd_data.eq(cache.rd_data),
                sb.cache_full.eq(cache.r_full), sb.cache_slot.eq(cache.r_slot), cache.r_release.eq(sb.cache_release),
            ]
            stem_reader = sa
        if pl.lane_lists:
            m.d.comb += [stem_reader.in_count.eq(pix.r_count), stem_reader.in_lane_counts.eq(pix.r_lane_counts)]
        elif pl.events:
            m.d.comb += [stem_reader.in_count.eq(pix.r_count), pix.ev_rd_addr.eq(stem_reader.ev_rd_addr),
                         pix.ev_rd_en.eq(stem_reader.ev_rd_en), stem_reader.ev_rd_data.eq(pix.ev_rd_data)]

        # every further engine, then the buffers between them: each producer's codes to the
        # engines that read them (a graph's block conv and its shortcut share one, two readers),
        # and a graph's current frames (the residual stream, a shortcut's current)
        engines = {stem.name: sb}
        for layer in list(c.layers[1:]) + [c.readout]:
            if layer is c.readout:
                engine = ReadoutEngine(layer)
            elif not layer.has_neurons:
                engine = CurrentEngine(layer)
            else:
                engine = HDLIFLayerEngine(layer)
            m.submodules[layer.name] = engines[layer.name] = engine
        for layer in c.layers:
            if not layer.has_neurons:
                continue
            producer, o = engines[layer.name], layer.out
            readers = c.readers_of(layer.name)
            m.submodules[c.codes_buffer(layer.name)] = buf = FrameBuffer(words=o.words, lanes=o.simd, bits=o.code_bits, events=o.events,
                                                   readers=len(readers))
            m.d.comb += [buf.wr_addr.eq(producer.wr_addr), buf.wr_data.eq(producer.wr_data),
                         buf.wr_en.eq(producer.wr_en), producer.out_ready.eq(buf.w_ready),
                         buf.w_acquire.eq(producer.out_acquire),
                         buf.w_done.eq(producer.out_done)]
            if o.events:
                m.d.comb += [getattr(buf, k).eq(getattr(producer, k))
                             for k in ("ev_wr_addr", "ev_wr_data", "ev_wr_en", "cnt_wr_en", "cnt_wr_data")]
            for i, reader in enumerate(readers):
                engine, x = engines[reader.name], SlotTracker.reader_suffix(i)
                m.d.comb += [getattr(buf, f"rd_addr{x}").eq(engine.rd_addr), getattr(buf, f"rd_en{x}").eq(engine.rd_en),
                             engine.rd_data.eq(getattr(buf, f"rd_data{x}")),
                             engine.in_full.eq(getattr(buf, f"r_full{x}")), engine.in_slot.eq(getattr(buf, f"r_slot{x}")),
                             getattr(buf, f"r_release{x}").eq(engine.in_release)]
                if reader.synapse.skip_zero_inputs:
                    m.d.comb += [engine.in_count.eq(buf.r_count), buf.ev_rd_addr.eq(engine.ev_rd_addr),
                                 buf.ev_rd_en.eq(engine.ev_rd_en), engine.ev_rd_data.eq(buf.ev_rd_data)]
        for layer in c.layers:
            f = layer.stream
            if f is None:
                continue
            w, r = engines[f.source], engines[f.sink]
            m.submodules[f"{f.source}_stream"] = buf = FrameBuffer(words=f.words, lanes=f.lanes, bits=f.bits,
                                                                   slots=f.slots, ahead=True, registered_read=True)
            m.d.comb += [buf.wr_addr.eq(w.st_wr_addr), buf.wr_data.eq(w.st_wr_data),
                         buf.wr_en.eq(w.st_wr_en), w.st_ready.eq(buf.w_ready),
                         buf.w_acquire.eq(w.st_acquire), buf.w_done.eq(w.st_done),
                         buf.rd_addr.eq(r.res_rd_addr), buf.rd_en.eq(r.res_rd_en), r.res_rd_data.eq(buf.rd_data),
                         r.res_slot.eq(buf.r_slot),
                         buf.r_release.eq(r.res_release), buf.r_ahead.eq(r.res_ahead),
                         r.res_full_ahead.eq(buf.r_full_ahead)]
        producer = engines[c.readout.name]

        # readout -> scores and label
        m.submodules.emitter = em = ScoreEmitter(c.readout)
        ro = producer
        m.d.comb += [ro.out_ready.eq(em.w_ready), em.w_acquire.eq(ro.out_acquire),
                     em.score_valid.eq(ro.score_valid), em.score_value.eq(ro.score_value),
                     em.score_last.eq(ro.score_last)]
        wiring.connect(m, em.scores, wiring.flipped(self.scores))
        wiring.connect(m, em.label, wiring.flipped(self.label))
        return m
