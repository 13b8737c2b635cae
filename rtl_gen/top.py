"""The accelerator top level: pixels in, per-step class scores and the class out."""

from __future__ import annotations

from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import AcceleratorConfig
from .hdlif_layer import HDLIFLayerEngine
from .readout import ReadoutEngine


class Accelerator(wiring.Component):
    """A whole HD-LIF network as one streaming block.

    Per image: ``features`` pixels arrive on ``pixels`` (one per beat, row-major); for each
    time step ``t = 0 .. T-1`` the layers run in order and the step's class scores leave on
    ``scores`` (``classes`` beats, class 0 first); then the predicted class leaves on
    ``label``.  The stem's current is computed once per image.  Every value equals the
    golden model's (:func:`golden.executor.run`).  A reset at any point returns to waiting
    for the first pixel of a new image.

    Members
    -------
    pixels : In(stream.Signature(unsigned(pixel_bits)))
    scores : Out(stream.Signature(signed(score_bits)))
    label : Out(stream.Signature(unsigned(label_bits)))
    """

    def __init__(self, config: AcceleratorConfig):
        if not isinstance(config, AcceleratorConfig):
            raise TypeError(f"Accelerator needs an AcceleratorConfig, not {config!r}")
        self.config = c = config
        self.label_bits = max(1, (c.readout.classes - 1).bit_length())
        super().__init__({
            "pixels": In(stream.Signature(unsigned(c.pixel_bits))),
            "scores": Out(stream.Signature(signed(c.readout.score_bits))),
            "label": Out(stream.Signature(unsigned(self.label_bits))),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.config
        engines = []
        for layer in c.layers:
            engine = HDLIFLayerEngine(layer)
            m.submodules[layer.name] = engine
            engines.append(engine)
        m.submodules[c.readout.name] = readout = ReadoutEngine(c.readout)
        engines.append(readout)

        t = Signal(range(c.T))
        for engine in engines:
            m.d.comb += engine.t.eq(t)
        for src, dst in zip(engines[:-2], engines[1:-1]):
            m.d.comb += [dst.wr_en.eq(src.out_valid), dst.wr_index.eq(src.out_index), dst.wr_code.eq(src.out_code)]
        last = engines[-2]
        m.d.comb += [readout.wr_en.eq(last.out_valid), readout.wr_index.eq(last.out_index),
                     readout.wr_code.eq(last.out_code)]

        stem = engines[0]
        pix_idx = Signal(range(c.features))
        cls = Signal(range(c.readout.classes))
        m.d.comb += [stem.wr_index.eq(pix_idx), stem.wr_code.eq(self.pixels.payload),
                     readout.score_index.eq(cls), self.scores.payload.eq(readout.score),
                     self.label.payload.eq(readout.label)]

        names = [layer.name for layer in c.layers] + [c.readout.name]
        with m.FSM(name="schedule"):
            with m.State("LOAD"):
                m.d.comb += [self.pixels.ready.eq(1), stem.wr_en.eq(self.pixels.valid)]
                with m.If(self.pixels.valid):
                    m.d.sync += pix_idx.eq(pix_idx + 1)
                    with m.If(pix_idx == c.features - 1):
                        m.d.sync += [pix_idx.eq(0), t.eq(0)]
                        m.next = f"{names[0]}_START"
            for i, (name, engine) in enumerate(zip(names, engines)):
                with m.State(f"{name}_START"):
                    m.d.comb += engine.start.eq(1)
                    m.next = f"{name}_WAIT"
                with m.State(f"{name}_WAIT"):
                    with m.If(~engine.busy):
                        m.next = f"{names[i + 1]}_START" if i + 1 < len(names) else "EMIT"
            with m.State("EMIT"):
                m.d.comb += self.scores.valid.eq(1)
                with m.If(self.scores.ready):
                    m.d.sync += cls.eq(cls + 1)
                    with m.If(cls == c.readout.classes - 1):
                        m.d.sync += cls.eq(0)
                        with m.If(t == c.T - 1):
                            m.next = "ARGMAX_START"
                        with m.Else():
                            m.d.sync += t.eq(t + 1)
                            m.next = f"{names[0]}_START"
            with m.State("ARGMAX_START"):
                m.d.comb += readout.argmax_start.eq(1)
                m.next = "ARGMAX_WAIT"
            with m.State("ARGMAX_WAIT"):
                with m.If(~readout.busy):
                    m.next = "LABEL"
            with m.State("LABEL"):
                m.d.comb += self.label.valid.eq(1)
                with m.If(self.label.ready):
                    m.next = "LOAD"
        return m
