"""Choosing the parallelism of every layer: by the user, by a lane count, or by a target.

A layer's folding (:class:`rtl_gen.config.Folding`) is ``pe`` output channels x ``simd`` input
lanes per clock and ``nl`` neuron lanes.  Legal values: ``pe`` divides the output channels,
``simd`` is a power of two no wider than the input channels need, ``nl`` is a power of two
dividing ``pe`` and the channels and no wider than the next layer's ``simd`` (``nl`` codes are
written per clock into one word of the next buffer); the readout has ``nl = 1``.

Targets (FINN-style, each layer on its own, since the engines run concurrently and the
slowest one sets the interval between images):

* ``"area"``: the smallest folding everywhere (one MAC lane, one neuron lane per layer).
* ``"cycles=N"`` (or an int ``N``): for every engine the cheapest folding (by
  :func:`rtl_gen.estimate.resources`) whose cycles per image stay within ``N``.
"""

from __future__ import annotations

from golden.bundle import Bundle, HDLIFConvLayer

from .config import Folding


def _geometry(layer) -> tuple[int, int]:
    """(input channels of the reduction, output channels)."""
    if isinstance(layer, HDLIFConvLayer):
        return layer.in_shape[0], layer.out_channels
    return layer.in_features, layer.out_features


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _pow2_upto(n: int) -> list[int]:
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
    return [n for n in _pow2_upto(pe) if pe % n == 0 and O % n == 0 and (next_simd is None or n <= next_simd)]


def from_lanes(bundle: Bundle, lanes: int) -> list[Folding]:
    """About ``lanes`` MAC lanes per layer: ``simd`` as wide as the inputs allow, then ``pe``."""
    if not (isinstance(lanes, int) and lanes > 0):
        raise ValueError(f"lanes must be a positive integer, not {lanes!r}")
    pes, simds = [], []
    for layer in bundle.layers:
        C, O = _geometry(layer)
        simd = min(1 << (lanes.bit_length() - 1), _max_simd(C))
        pe = max(d for d in _divisors(O) if d <= max(1, lanes // simd))
        pes.append(pe)
        simds.append(simd)
    return _with_nl(bundle, pes, simds)


def _with_nl(bundle: Bundle, pes: list[int], simds: list[int]) -> list[Folding]:
    """The smallest ``nl`` that lets the serializer keep up with the shortest fold."""
    from .config import build

    out = []
    for i, (pe, simd) in enumerate(zip(pes, simds)):
        nxt = simds[i + 1] if i + 1 < len(simds) else None
        opts = legal_nl(bundle, i, pe, nxt)
        out.append(Folding(pe=pe, simd=simd, nl=opts[0]))
    cfg = build(bundle, out)
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


def for_target(bundle: Bundle, goal: int, *, skip_zero_weights: bool = False) -> list[Folding]:
    """Per layer, the cheapest folding whose engines need at most ``goal`` clocks per image
    (:func:`rtl_gen.estimate.engine_times`); where none does, the fastest."""
    from .config import build
    from .estimate import engine_times, resources

    if not (isinstance(goal, int) and goal > 0):
        raise ValueError(f"a cycle target must be a positive integer, not {goal!r}")
    n = len(bundle.layers)
    chosen = [Folding() for _ in range(n)]
    # from the readout back to the stem: a layer's nl depends on the next layer's simd
    for i in reversed(range(n)):
        layer = bundle.layers[i]
        C, O = _geometry(layer)
        nxt = chosen[i + 1].simd if i + 1 < n else None
        names = [layer.name] if i else [f"{layer.name}_synapse", f"{layer.name}_neurons"]
        best = None
        for pe in _divisors(O):
            for simd in _pow2_upto(_max_simd(C)):
                for nl in legal_nl(bundle, i, pe, nxt):
                    trial = chosen[:i] + [Folding(pe=pe, simd=simd, nl=nl)] + chosen[i + 1:]
                    if i > 0 and trial[i - 1].nl > simd:
                        trial[i - 1] = Folding(pe=trial[i - 1].pe, simd=trial[i - 1].simd, nl=1)
                    try:
                        cfg = build(bundle, trial, skip_zero_weights=skip_zero_weights)
                    except ValueError:
                        continue
                    times = engine_times(cfg)
                    worst = max(times[k] for k in names)
                    parts = resources(cfg)["parts"]
                    cost = sum(v.get("luts", 0) + 400 * v.get("dsps", 0) + 200 * v.get("brams", 0) for k, v in parts.items()
                               if k == layer.name or k.startswith(layer.name + "_"))
                    key = (worst > goal, cost if worst <= goal else worst, cost)
                    if best is None or key < best[0]:
                        best = (key, trial[i])
        chosen[i] = best[1]
    return chosen


def resolve(bundle: Bundle, *, lanes=None, folding=None, target=None, skip_zero_weights: bool = False) -> list[Folding]:
    """The folding of every synaptic layer from the user's choice (see :func:`rtl_gen.config.from_bundle`)."""
    if folding is not None:
        return parse_folding(bundle, folding)
    if target is not None:
        if target == "area":
            return [Folding() for _ in bundle.layers]
        if isinstance(target, str) and target.startswith("cycles="):
            try:
                goal = int(target.split("=", 1)[1])
            except ValueError:
                raise ValueError(f"a cycle target is written cycles=N, not {target!r}") from None
            return for_target(bundle, goal, skip_zero_weights=skip_zero_weights)
        if isinstance(target, int) and not isinstance(target, bool):
            return for_target(bundle, target, skip_zero_weights=skip_zero_weights)
        raise ValueError(f"target must be 'area', 'cycles=N' or a cycle count, not {target!r}")
    if isinstance(lanes, (list, tuple)):
        if len(lanes) != len(bundle.layers):
            raise ValueError(f"lanes must give one value per synaptic layer ({len(bundle.layers)}), not {list(lanes)!r}")
        per = [from_lanes(bundle, int(n))[i] for i, n in enumerate(lanes)]
        return _with_nl(bundle, [f.pe for f in per], [f.simd for f in per])
    return from_lanes(bundle, 16 if lanes is None else lanes)
