"""Choosing the parallelism of every layer: by the user, by a lane count, or by a target.

The planning layer of the generator, with :mod:`rtl_gen.estimate`: :func:`from_bundle` turns a
bundle and the user's choice into the configs of every block (:func:`resolve`, then
:func:`rtl_gen.config.build`); :func:`input_activity` measures the share of non-zero input
words that the estimates of zero skipping need.  It imports no Amaranth (the estimates, which
need the gateware's timing, are imported where a target is searched).

A layer's folding (:class:`rtl_gen.config.Folding`) is ``pe`` output channels x ``simd`` input
lanes per clock and ``nl`` neuron lanes.  Legal values: ``pe`` divides the output channels,
``simd`` is a power of two no wider than the input channels need, ``nl`` is a power of two
dividing ``pe`` and the channels and no wider than the next layer's ``simd`` (``nl`` codes are
written per clock into one word of the next buffer); the readout has ``nl = 1``.  No layer has
more than :data:`MAX_LANES` MAC lanes (``pe x simd``), whichever way its folding is chosen.

An option is honoured or refused, never quietly changed.  The choices (:func:`resolve`; give
one of them, ``make rtl`` ``LANES=`` / ``FOLD=`` / ``TARGET=``):

* ``folding``: ``PExSIMD[/NL]`` for every layer, or one per layer (:func:`parse_folding`).
* ``lanes=N`` (an integer from 1 to :data:`MAX_LANES`): exactly ``N`` MAC lanes in every
  layer (or a list, one count per layer).  Of the foldings with ``pe x simd = N`` the widest
  ``simd`` is taken.  Where a layer cannot have exactly ``N`` lanes (``pe`` must divide its
  output channels, ``simd`` is a power of two at most the next power of two of its inputs) the
  choice is refused with the counts that layer allows (e.g. ``lanes=3`` on a layer of 10
  outputs and 12 inputs: 1, 2, 4, 5, 8, 10, 16, 20, ...).
* ``lanes=AtMost(N)``, and the default ``AtMost(16)`` when nothing is chosen: in every layer
  the largest legal lane count that is at most ``N`` (again the widest ``simd`` of that count);
  so the default never refuses a network.  ``make rtl`` without ``LANES=`` takes this default;
  ``LANES=16`` given on the command line is exact.
* ``target``, FINN-style, each layer on its own (the engines run concurrently, so the slowest
  one sets the interval between images), judged on the closed-form engine times of
  :func:`rtl_gen.estimate.engine_times` (the pixel loader's included):

  * ``"area"``: the smallest folding everywhere (one MAC lane, one neuron lane per layer).
  * ``"cycles=N"`` (or an int ``N``): for every engine the cheapest folding (by
    :func:`rtl_gen.estimate.resources`) whose clocks per image stay within ``N``.  When no
    folding gets every engine within ``N`` this is refused, naming the fastest interval that
    can be had; ``"fastest"`` takes that one instead.
  * ``"fastest"``: the shortest interval any folding reaches, and per layer the cheapest
    folding within it.
"""

from __future__ import annotations

import numbers
import re

import numpy as np

from golden.bundle import Bundle, HDLIFConvLayer

from .config import ROM_LOGIC_DEPTH, AcceleratorConfig, Folding, build, event_eligible, lane_list_lengths, nonzero_words, skip_pixels_mode

#: the most MAC lanes (``pe x simd``) of one layer: keeps every generated word (weights
#: ``lanes x weight bits``, sums ``pe x accumulator bits``) within what Amaranth builds
MAX_LANES = 4096

#: MAC lanes per layer when nothing is chosen (at most this many; see :class:`AtMost`)
DEFAULT_LANES = 16

#: the widest signal Amaranth builds (bits)
_MAX_WORD_BITS = 1 << 16


class AtMost(int):
    """A lane count read as "at most": every layer gets its largest legal count ``<= N``."""

    def __repr__(self) -> str:
        return f"AtMost({int(self)})"


def _geometry(layer) -> tuple[int, int]:
    """(input channels of the reduction, output channels)."""
    if isinstance(layer, HDLIFConvLayer):
        return layer.in_shape[0], layer.out_channels
    return layer.in_features, layer.out_features


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def pow2_upto(n: int) -> list[int]:
    out, p = [], 1
    while p <= n:
        out.append(p)
        p *= 2
    return out


def _max_simd(C: int) -> int:
    return 1 << (C - 1).bit_length()


def legal_nl(bundle: Bundle, idx: int, pe: int, next_simd: int | None) -> list[int]:
    layer = bundle.layers[idx]
    if layer.kind == "readout_fc":
        return [1]
    _, O = _geometry(layer)
    return [n for n in pow2_upto(pe) if pe % n == 0 and O % n == 0 and (next_simd is None or n <= next_simd)]


def lane_options(bundle: Bundle, idx: int) -> dict[int, tuple[int, int]]:
    """Every MAC lane count layer ``idx`` can have (at most :data:`MAX_LANES`) -> its
    ``(pe, simd)``, the widest ``simd`` of that count."""
    C, O = _geometry(bundle.layers[idx])
    out: dict[int, tuple[int, int]] = {}
    for simd in reversed(pow2_upto(_max_simd(C))):
        for pe in divisors(O):
            if pe * simd <= MAX_LANES:
                out.setdefault(pe * simd, (pe, simd))
    return dict(sorted(out.items()))


def _lane_count(value) -> int:
    """A lane count from an int (or ``AtMost``) or a decimal string; one clear error otherwise."""
    n = None
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        n = int(value)
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        n = int(value)
    shown = n if n is not None else repr(value)
    if n is None or not 1 <= n <= MAX_LANES:
        raise ValueError(f"lanes must be a whole number of MAC lanes per layer from 1 to {MAX_LANES}, not {shown}")
    return n


def _fmt_counts(counts: list[int]) -> str:
    if len(counts) <= 12:
        return ", ".join(map(str, counts))
    return ", ".join(map(str, counts[:10])) + f", ... {counts[-1]}"


def _describe(layer) -> str:
    C, O = _geometry(layer)
    if isinstance(layer, HDLIFConvLayer):
        return f"{C} input channel{'s' * (C != 1)}, {O} output channel{'s' * (O != 1)}"
    return f"{C} input{'s' * (C != 1)}, {O} output{'s' * (O != 1)}"


def _layer_lanes(bundle: Bundle, idx: int, n: int, exact: bool, asked: str) -> tuple[int, int]:
    """``(pe, simd)`` of layer ``idx`` with ``n`` lanes (``exact``) or the most up to ``n``."""
    opts = lane_options(bundle, idx)
    if not exact:
        return opts[max(k for k in opts if k <= n)]
    if n in opts:
        return opts[n]
    layer = bundle.layers[idx]
    below = [k for k in opts if k < n]
    above = [k for k in opts if k > n]
    nearest = " or ".join(str(k) for k in (below[-1:] + above[:1]))
    common = sorted(set.intersection(*(set(lane_options(bundle, i)) for i in range(len(bundle.layers)))))
    raise ValueError(f"{asked}: layer {layer.name} ({_describe(layer)}) cannot have exactly {n} MAC lanes "
                     f"(pe must divide {_geometry(layer)[1]}, simd be a power of two up to "
                     f"{_max_simd(_geometry(layer)[0])}); it can have {_fmt_counts(list(opts))} "
                     f"(nearest: {nearest}); every layer can have {_fmt_counts(common)}; "
                     f"or choose each layer's PExSIMD with a folding (FOLD=)")


def from_lanes(bundle: Bundle, lanes, stem: str = "cache") -> list[Folding]:
    """Exactly ``lanes`` MAC lanes per layer (the widest ``simd`` of that count), or refused;
    ``AtMost(n)``: per layer the most lanes up to ``n``.  A list or tuple gives one count per
    layer.  See the module docstring."""
    per_layer = isinstance(lanes, (list, tuple))
    values = list(lanes) if per_layer else [lanes] * len(bundle.layers)
    if per_layer and len(values) != len(bundle.layers):
        raise ValueError(f"lanes must give one count per synaptic layer {[layer.name for layer in bundle.layers]}, "
                         f"not {len(values)} ({list(lanes)!r})")
    counts = [_lane_count(v) for v in values]
    asked = f"lanes={','.join(map(str, counts)) if per_layer else counts[0]}"
    pes, simds = [], []
    for i, (v, n) in enumerate(zip(values, counts)):
        pe, simd = _layer_lanes(bundle, i, n, not isinstance(v, AtMost), asked)
        pes.append(pe)
        simds.append(simd)
    return _with_nl(bundle, pes, simds, stem)


def _with_nl(bundle: Bundle, pes: list[int], simds: list[int], stem: str = "cache") -> list[Folding]:
    """The smallest ``nl`` that lets the serializer keep up with the shortest fold."""
    out = []
    for i, (pe, simd) in enumerate(zip(pes, simds)):
        nxt = simds[i + 1] if i + 1 < len(simds) else None
        opts = legal_nl(bundle, i, pe, nxt)
        out.append(Folding(pe=pe, simd=simd, nl=opts[0]))
    cfg = build(bundle, out, stem=stem)
    syns = [layer.synapse for layer in cfg.layers] + [cfg.readout.synapse]
    final = []
    for i, (f, syn) in enumerate(zip(out, syns)):
        nxt = simds[i + 1] if i + 1 < len(simds) else None
        opts = legal_nl(bundle, i, f.pe, nxt)
        shortest = min(syn.fold_lengths())
        nl = next((n for n in opts if f.pe // n <= shortest), opts[-1])
        final.append(Folding(pe=f.pe, simd=f.simd, nl=nl))
    return final


def parse_folding(bundle: Bundle, folding) -> list[Folding]:
    """A Folding / string for every layer, or a list, or a dict by layer name (others: 1x1)."""
    names = [layer.name for layer in bundle.layers]
    if isinstance(folding, (Folding, str)):
        folding = [folding] * len(names)
    if isinstance(folding, dict):
        unknown = sorted(set(folding) - set(names))
        if unknown:
            raise ValueError(f"folding names unknown layer(s) {unknown}; the layers are {names}")
        folding = [folding.get(n, "1x1") for n in names]
    folding = list(folding)
    if len(folding) != len(names):
        raise ValueError(f"folding must give one entry per synaptic layer {names}, not {len(folding)}")
    return [f if isinstance(f, Folding) else Folding.parse(f) for f in folding]


def _search(bundle: Bundle, goal: int | None, *, skip_zero_weights: bool = False, stem: str = "cache",
            skip_zero_spikes: bool = False, activity: dict | None = None, event=None,
            pixel_lanes: int = 1, skip_zero_pixels: bool = False,
            rom_logic_depth: int = ROM_LOGIC_DEPTH,
            carry_cells: str | None = None, int8_lanes: str = "logic") -> list[Folding]:
    """Per layer (readout first), the cheapest folding whose engines need at most ``goal``
    clocks per image, where none does (or ``goal`` is None) the fastest, the cheapest of those."""
    from .estimate import engine_times, resources

    n = len(bundle.layers)
    chosen = [Folding() for _ in range(n)]
    # ``auto``: an eligible conv layer may be event-driven where that is the cheaper way to the goal
    auto = event == "auto"
    eligible = {layer.name for i, layer in enumerate(bundle.layers) if event_eligible(layer, i)}
    if auto:
        event = None
    # from the readout back to the stem: a layer's nl depends on the next layer's simd
    for i in reversed(range(n)):
        layer = bundle.layers[i]
        C, O = _geometry(layer)
        nxt = chosen[i + 1].simd if i + 1 < n else None
        names = [layer.name] if (i or stem == "recompute") else [f"{layer.name}_synapse", f"{layer.name}_neurons"]
        best = None
        modes = (False, True) if (auto and layer.name in eligible) else (False,)
        for pe, simd, ev in ((pe, simd, ev) for pe in divisors(O) for simd in pow2_upto(_max_simd(C)) for ev in modes):
            if pe * simd > MAX_LANES or (ev and simd != _max_simd(C)):
                continue
            for nl in legal_nl(bundle, i, pe, nxt):
                trial = chosen[:i] + [Folding(pe=pe, simd=simd, nl=nl, event=ev)] + chosen[i + 1:]
                if i > 0 and trial[i - 1].nl > simd:
                    trial[i - 1] = Folding(pe=trial[i - 1].pe, simd=trial[i - 1].simd, nl=1)
                try:
                    # pixels per beat constrain the stem's simd: the layers after it are chosen
                    # first (their times do not depend on the loader), the stem then within it
                    cfg = build(bundle, trial, skip_zero_weights=skip_zero_weights, stem=stem,
                                skip_zero_spikes=skip_zero_spikes, activity=activity, event=event,
                                pixel_lanes=pixel_lanes if i == 0 else 1, skip_zero_pixels=skip_zero_pixels,
                                rom_logic_depth=rom_logic_depth,
              carry_cells=carry_cells, int8_lanes=int8_lanes)
                except ValueError:
                    continue
                times = engine_times(cfg)
                worst = max(times[k] for k in names)
                parts = resources(cfg)["parts"]
                cost = sum(v.get("luts", 0) + 400 * v.get("dsps", 0) + 200 * v.get("brams", 0)
                           for k, v in parts.items() if k == layer.name or k.startswith(layer.name + "_"))
                met = goal is not None and worst <= goal
                key = (not met, cost if met else worst, cost)
                if best is None or key < best[0]:
                    best = (key, trial[i])
        chosen[i] = best[1]
    return chosen


def _times(bundle: Bundle, foldings: list[Folding], **kw) -> dict:
    from .estimate import engine_times

    return engine_times(build(bundle, foldings, **kw))


def _slowest(times: dict) -> tuple[str, int]:
    name = max(times, key=times.get)
    return name, times[name]


def fastest(bundle: Bundle, *, skip_zero_weights: bool = False, stem: str = "cache",
            skip_zero_spikes: bool = False, activity: dict | None = None, event=None,
            pixel_lanes: int = 1, skip_zero_pixels: bool = False,
            rom_logic_depth: int = ROM_LOGIC_DEPTH,
            carry_cells: str | None = None, int8_lanes: str = "logic") -> list[Folding]:
    """The shortest interval between images any folding reaches (the slowest engine of the
    fastest folding per layer), and per layer the cheapest folding within it."""
    kw = dict(skip_zero_weights=skip_zero_weights, stem=stem, skip_zero_spikes=skip_zero_spikes, activity=activity,
              event=event, pixel_lanes=pixel_lanes,
              skip_zero_pixels=skip_zero_pixels, rom_logic_depth=rom_logic_depth,
              carry_cells=carry_cells, int8_lanes=int8_lanes)
    quick = _search(bundle, None, **kw)
    _, best = _slowest(_times(bundle, quick, **kw))
    cheap = _search(bundle, best, **kw)
    return cheap if _slowest(_times(bundle, cheap, **kw))[1] <= best else quick


def for_target(bundle: Bundle, goal: int, *, skip_zero_weights: bool = False, stem: str = "cache",
               skip_zero_spikes: bool = False, activity: dict | None = None, event=None,
               pixel_lanes: int = 1, skip_zero_pixels: bool = False,
            rom_logic_depth: int = ROM_LOGIC_DEPTH,
            carry_cells: str | None = None, int8_lanes: str = "logic") -> list[Folding]:
    """Per layer, the cheapest folding whose engines need at most ``goal`` clocks per image
    (:func:`rtl_gen.estimate.engine_times`, the pixel loader's included); a ValueError naming
    the fastest reachable interval when no folding gets every engine within ``goal``."""
    if not (isinstance(goal, numbers.Integral) and not isinstance(goal, bool) and goal > 0):
        raise ValueError(f"a cycle target must be a positive integer, not {goal!r}")
    goal = int(goal)
    kw = dict(skip_zero_weights=skip_zero_weights, stem=stem, skip_zero_spikes=skip_zero_spikes, activity=activity,
              event=event, pixel_lanes=pixel_lanes,
              skip_zero_pixels=skip_zero_pixels, rom_logic_depth=rom_logic_depth,
              carry_cells=carry_cells, int8_lanes=int8_lanes)
    chosen = _search(bundle, goal, **kw)
    if _slowest(_times(bundle, chosen, **kw))[1] <= goal:
        return chosen
    quick = _search(bundle, None, **kw)
    engine, best = _slowest(_times(bundle, quick, **kw))
    if best <= goal:                    # reachable, though not layer by layer from the readout back
        return quick
    raise ValueError(f"cycles={goal} cannot be met: the fastest folding needs {best} clocks per image "
                     f"(its slowest engine, {engine}); ask for cycles={best} or more, or for target "
                     f"'fastest' (TARGET=fastest) to build that one")


def _check_words(bundle: Bundle, foldings: list[Folding], **kw) -> None:
    """Every layer within :data:`MAX_LANES` and every generated word within what Amaranth builds."""
    for layer, f in zip(bundle.layers, foldings):
        if f.lanes > MAX_LANES:
            raise ValueError(f"layer {layer.name}: folding {f} has {f.lanes} MAC lanes; a layer has at most {MAX_LANES}")
    cfg = build(bundle, foldings, **kw)
    for syn in [layer.synapse for layer in cfg.layers] + [cfg.readout.synapse]:
        f = syn.fold
        lanes = syn.event_lanes if syn.event else f.lanes
        for what, bits in (("weight word", lanes * syn.weight_bits), ("sum word", f.pe * syn.acc_bits),
                           ("input word", f.simd * (syn.in_bits + 1))):
            if bits > _MAX_WORD_BITS:
                raise ValueError(f"layer {syn.name}: folding {f} makes a {bits}-bit {what}; the generator "
                                 f"builds at most {_MAX_WORD_BITS} bits: choose fewer lanes")


def _parse_target(target):
    """'area' | 'fastest' | a cycle count, from ``target``; one clear error otherwise."""
    if isinstance(target, numbers.Integral) and not isinstance(target, bool):
        return int(target)
    if isinstance(target, str):
        t = target.strip()
        if t in ("area", "fastest"):
            return t
        if t.startswith("cycles="):
            v = t.split("=", 1)[1].strip()
            if not re.fullmatch(r"[+-]?\d+", v):
                raise ValueError(f"a cycle target is written cycles=N (N clocks per image, a positive integer), "
                                 f"not {target!r}")
            return int(v)
    raise ValueError(f"target must be 'area', 'fastest', 'cycles=N' or a cycle count, not {target!r}")


def resolve(bundle: Bundle, *, lanes=None, folding=None, target=None, skip_zero_weights: bool = False,
            stem: str = "cache", skip_zero_spikes: bool = False, activity: dict | None = None,
            event=None, pixel_lanes: int = 1, skip_zero_pixels: bool = False,
            rom_logic_depth: int = ROM_LOGIC_DEPTH,
            carry_cells: str | None = None, int8_lanes: str = "logic") -> list[Folding]:
    """The folding of every synaptic layer from the user's choice: one of ``folding``,
    ``target`` or ``lanes`` (none: ``AtMost(16)`` lanes); see the module docstring."""
    given = [k for k, v in (("lanes", lanes), ("folding", folding), ("target", target)) if v is not None]
    if len(given) > 1:
        raise ValueError(f"give one of lanes, folding or target (LANES=, FOLD=, TARGET=), not {' and '.join(given)}")
    kw = dict(skip_zero_weights=skip_zero_weights, stem=stem, skip_zero_spikes=skip_zero_spikes, activity=activity,
              event=event, pixel_lanes=pixel_lanes,
              skip_zero_pixels=skip_zero_pixels, rom_logic_depth=rom_logic_depth,
              carry_cells=carry_cells, int8_lanes=int8_lanes)
    if folding is not None:
        out = parse_folding(bundle, folding)
    elif target is not None:
        goal = _parse_target(target)
        if goal == "area":
            out = [Folding() for _ in bundle.layers]
        elif goal == "fastest":
            out = fastest(bundle, **kw)
        else:
            out = for_target(bundle, goal, **kw)
    else:
        out = from_lanes(bundle, AtMost(DEFAULT_LANES) if lanes is None else lanes, stem)
    _check_words(bundle, out, **kw)
    return out


def from_bundle(bundle: Bundle, lanes=None, *, folding=None, target=None,
                skip_zero_weights: bool = False, stem: str = "cache", skip_zero_spikes: bool = False,
                activity: dict | None = None, event=None, pixel_lanes: int = 1,
                skip_zero_pixels: bool = False, rom_logic_depth: int = ROM_LOGIC_DEPTH,
            carry_cells: str | None = None, int8_lanes: str = "logic") -> AcceleratorConfig:
    """Every block's config for a loaded bundle: the folding of each layer by :func:`resolve`,
    the configs by :func:`rtl_gen.config.build`.

    Give at most one of ``folding``, ``lanes`` and ``target``; each is honoured or refused with
    a ``ValueError``, never quietly changed (the rules are in this module's docstring):

    * ``folding``: a :class:`~rtl_gen.config.Folding` or ``"PExSIMD[/NL]"`` string for every
      layer, or a list of them (one per layer, readout last), or a dict by layer name (layers
      left out: ``1x1``); see :func:`parse_folding`.
    * ``lanes=N``: exactly ``N`` MAC lanes in every layer (or a list, one count per layer),
      refused naming the counts a layer can have; ``lanes=AtMost(N)``: per layer the largest
      legal count at most ``N``.  None of the three: ``AtMost(16)`` (:data:`DEFAULT_LANES`).
    * ``target``: ``"area"`` (one MAC lane and one neuron lane per layer), ``"fastest"``, or
      ``"cycles=N"`` / an int ``N``: per layer the cheapest folding within ``N`` clocks per
      image, refused (naming the fastest interval there is) when no folding meets ``N``.

    ``stem="cache"`` computes the stem's sums once per image and replays them (direct
    encoding); ``stem="recompute"`` sweeps the held pixel frame at every step instead: ``T``
    times the stem's MACs, but no cache (two slots of the stem's every neuron: the bulk of the
    block RAM of a conv stem).  ``skip_zero_weights`` drops the all-zero weight blocks from
    every layer's sweep.  ``skip_zero_spikes`` makes every fc layer after the stem walk only the
    non-zero words of its input (the producer lists them; such a layer does not also skip zero
    weights); ``activity`` (layer name -> fraction of its input words that are non-zero, e.g.
    from :func:`input_activity`) keeps the estimates honest then.  ``pixel_lanes`` pixels arrive
    per beat (an fc stem whose ``simd`` it divides, :func:`rtl_gen.config.check_pixel_lanes`):
    the loader's clocks per image are ``features / pixel_lanes``, and a search plans with that.
    ``skip_zero_pixels``: an fc stem walks only the pixel words that hold a non-zero pixel (the
    loader lists them; ``"lanes"``: each stem lane walks its own list of non-zero pixels);
    ``activity[stem]`` (:func:`pixel_activity`) is their expected share.  ``rom_logic_depth``:
    ROMs of at most that many words are LUT logic, deeper ones block RAM
    (:func:`rtl_gen.config.memory_attrs`).  ``carry_cells="ecp5"``: the event-driven layers'
    adders and the 8-bit multipliers' first adders are ECP5 carry cells with their operand logic
    in the cells' own LUTs (:mod:`rtl_gen.carry`; an ECP5 device only).  ``int8_lanes="dsp"``: the
    lanes of 8-bit weights (the stem's, the classifier's) multiply in a multiplier block each
    (:data:`rtl_gen.config.INT8_LANES`; LUTs for DSP blocks, where a device has blocks to spare).
    """
    kw = dict(skip_zero_weights=skip_zero_weights, stem=stem, skip_zero_spikes=skip_zero_spikes, activity=activity,
              event=event, pixel_lanes=pixel_lanes,
              skip_zero_pixels=skip_zero_pixels, rom_logic_depth=rom_logic_depth,
              carry_cells=carry_cells, int8_lanes=int8_lanes)
    foldings = resolve(bundle, lanes=lanes, folding=folding, target=target, **kw)
    cfg = build(bundle, foldings, **kw)
    if carry_cells and not any(layer.synapse.carry_cells for layer in list(cfg.layers) + [cfg.readout]):
        raise ValueError(f"carry_cells={carry_cells!r} hand-places the adders of event-driven layers and 8-bit "
                         f"multipliers in logic, and this network has neither (make a layer event-driven: a "
                         f"folding ending in e, or event=)")
    if int8_lanes != "logic" and not any(layer.synapse.int8_dsp for layer in list(cfg.layers) + [cfg.readout]):
        raise ValueError(f"int8_lanes={int8_lanes!r} places the lanes of 8-bit weights, and this network has none "
                         f"(its weights: {sorted({layer.weights for layer in bundle.layers})})")
    return cfg


def input_activity(bundle: Bundle, foldings: list, vectors: dict) -> dict:
    """Per fc layer after the stem: the mean fraction of its input words (``simd`` codes of the
    previous layer, in the buffers' H, W, C order) that hold a non-zero code, from a vector
    file's ``codes.<layer>`` traces."""
    out = {}
    for i, layer in enumerate(bundle.layers[1:], start=1):
        prev = bundle.layers[i - 1]
        key = f"codes.{prev.name}"
        if layer.kind == "hdlif_conv" or key not in vectors:
            continue
        codes = np.asarray(vectors[key])                       # [N, T, features] in C, H, W order
        if isinstance(prev, HDLIFConvLayer):
            C, H, W = prev.out_shape
            codes = codes.reshape(codes.shape[:2] + (C, H, W)).transpose(0, 1, 3, 4, 2).reshape(codes.shape)
        out[layer.name] = float(nonzero_words(codes, foldings[i].simd).mean())
    return out


def pixel_activity(bundle: Bundle, folding, vectors: dict, skip_zero_pixels=True) -> dict:
    """The stem's mean fraction of pixel words (``simd`` pixels in arrival order) that hold a
    non-zero pixel, from a vector file's images: ``{stem name: share}``; with
    ``skip_zero_pixels="lanes"``, the longest lane list's mean length over the words."""
    images = np.asarray(vectors["images"]).reshape(len(vectors["images"]), -1)
    simd = folding[0].simd
    if skip_pixels_mode(skip_zero_pixels) == "lanes":
        share = lane_list_lengths(images, simd).mean() / -(-images.shape[-1] // simd)
    else:
        share = nonzero_words(images, simd).mean()
    return {bundle.layers[0].name: float(share)}


def code_activity(bundle: Bundle, vectors: dict) -> dict:
    """Per layer after the stem: the mean fraction of its input codes that are non-zero (what
    an event-driven layer's cycles follow), from a vector file's ``codes.<layer>`` traces."""
    out = {}
    for i, layer in enumerate(bundle.layers[1:], start=1):
        key = f"codes.{bundle.layers[i - 1].name}"
        if key in vectors:
            out[layer.name] = float((np.asarray(vectors[key]) != 0).mean())
    return out
