"""A residual network's integer graph onto the accelerator's engine chain.

A spiking ResNet (:class:`golden.graph.Graph`) is lowered onto the blocks a sequential network
uses, with two additions (``docs/accelerator.md``, "Residual networks"):

* every ``current`` node on spike codes is an engine (synapse -> requantizer -> neurons,
  :class:`rtl_gen.hdlif_layer.HDLIFLayerEngine`); the stem's current node is the stem;
* the residual stream is kept in **current frames** (:class:`rtl_gen.config.CurrentFrame`): the
  engine whose current is the stream writes it as its neurons read it, and the engine that
  owns the block's ``add`` reads it back, in the same sweep order, and adds it to its own
  requantized current before its neurons (the next block's first neurons).  A 1 x 1 strided
  shortcut is a :class:`rtl_gen.current_engine.CurrentEngine` (synapse -> requantizer ->
  frame).  A codes buffer read by a block's conv and its shortcut has two readers.

Which input of an ``add`` is the stream: the one computed earlier in the chain (the shallower
engine); the other must be a current used by nothing else, and its engine owns the add.  A frame
has two slots plus one per engine the stream skips, so the writer never waits for the reader.

Also lowered: ``maxpool`` / ``sumpool`` after a neuron (the engine's 2 x 2 pool), and a
``gsum`` (global sum pooling of codes) before the readout: the head engine's neuron stage sums
each channel over its positions (:func:`rtl_gen.pool.global_sum`) and writes one value per
channel for the readout.  A Mem-BN neuron's ``affine`` input map is a second requantizer in its
engine, after the stream is written (the next block adds the unmapped current); a ``seca``
node is a two-pass stage in its engine (:class:`rtl_gen.seca.SecaStage`: SECA_I scales a conv's
current, before the add on a block's second conv; SECA_II the block's sum).  Refused, each with
one line naming the node: a current read by a synapse (the authors' shortcut), a ``gsum`` of a
current, and shapes the engines cannot take.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from golden.bundle import BundleError
from golden.graph import INPUT, Graph, widths

from .config import (AcceleratorConfig, CurrentFrame, CurrentLayerConfig, Folding, HDLIFLayerConfig, NeuronConfig,
                     OutputLayout, ReadoutConfig, RequantConfig, SecaConfig, SynapseConfig, _hwc_columns)
from .folding import AtMost, DEFAULT_LANES, MAX_LANES, _lane_count, _max_simd, divisors, pow2_upto


def engine_name(node: str) -> str:
    """An engine's name (a Verilog identifier) from its graph node's."""
    return node.replace(".", "_")


class _Plan:
    """The engines of a graph, before foldings: which node each computes and how they connect."""

    def __init__(self, g: Graph):
        self.g = g
        self.nodes = {n.name: n for n in g.nodes}
        users = defaultdict(list)
        for n in g.nodes:
            for i in n.inputs:
                users[i].append(n.name)
        self.users = users
        self.currents = [n for n in g.nodes if n.kind == "current"]
        self.engines = {}           # engine name -> dict(current, neuron, pool, source, stream, residual)
        self.owner = {}             # current-valued node -> the engine that computes it
        self.codes_of = {}          # codes-valued node (neuron / pool) -> the engine that writes it
        self._lower()

    def fail(self, node: str, what: str):
        raise BundleError(f"graph {self.g.name!r}, node {node!r}: {what} (the RTL generator takes ResNets whose "
                          f"synapses read spike codes: see rtl_gen/graph.py)")

    def _lower(self):
        g, nodes, users = self.g, self.nodes, self.users
        depth = {}                  # engine -> its place in the chain (the stem 0)
        for n in g.nodes:
            if n.kind == "seca":
                name = self.owner.get(n.input)
                e = self.engines.get(name)
                if e is None or e["value"] != n.input or e["seca"] is not None or users[n.input] != [n.name] \
                        or e["source"] is None:
                    self.fail(n.name, "channel attention reads an engine's last current (not the stem's), and is "
                                      "its only reader")
                e["seca"], e["seca_before_add"], e["value"] = n.name, e["residual"] is None, n.name
                self.owner[n.name] = name
            elif n.kind == "affine":
                name = self.owner.get(n.input)
                e = self.engines.get(name)
                if e is None or e["value"] != n.input or e["affine"] is not None or \
                        any(nodes[u].kind != "neuron" for u in users[n.name]):
                    self.fail(n.name, "a Mem-BN map reads an engine's last current and feeds its neurons")
                e["affine"] = n.name
                self.owner[n.name] = name
            elif n.kind == "current":
                if n.input == INPUT:
                    if self.engines:
                        self.fail(n.name, "the stem must be the first current node and the only one on pixels")
                    src = None
                elif nodes[n.input].kind in ("neuron", "maxpool", "sumpool"):
                    src = self.codes_of[n.input]
                else:
                    self.fail(n.name, f"a synapse reads spike codes (a neuron or its pool), not the current "
                                      f"{n.input!r} (the authors' shortcut)")
                if src is None and not self.engines and n.input != INPUT:
                    self.fail(n.name, "the first current node must be the stem, on the pixels")
                name = engine_name(n.name)
                self.engines[name] = {"current": n.name, "neuron": None, "pool": None, "source": src,
                                      "stream": None, "residual": None, "value": n.name, "affine": None,
                                      "seca": None, "seca_before_add": True}
                depth[name] = 0 if src is None else depth[src] + 1
                self.owner[n.name] = name
            elif n.kind == "add":
                x, y = n.a, n.b
                dx, dy = depth[self.owner[x]], depth[self.owner[y]]
                # the deeper input owns the add (the other is the stream it reads back)
                own, other = (x, y) if (dx, g.nodes.index(nodes[x])) > (dy, g.nodes.index(nodes[y])) else (y, x)
                e = self.engines[self.owner[own]]
                if nodes[own].kind not in ("current", "seca") or users[own] != [n.name] or e["value"] != own:
                    self.fail(n.name, f"the later input {own!r} of an add must be a block's current used by nothing "
                                      f"else")
                if depth[self.owner[own]] == depth[self.owner[other]]:
                    self.fail(n.name, "the two inputs of an add come from the same depth of the chain")
                e["residual"], e["value"] = other, n.name
                self.owner[n.name] = self.owner[own]
            elif n.kind == "neuron":
                name = self.owner[n.input]
                e = self.engines[name]
                if e["neuron"] is not None or n.input not in (e["value"], e["affine"]) or \
                        (e["affine"] is not None and n.input != e["affine"]):
                    self.fail(n.name, f"neurons on {n.input!r}: an engine runs one neuron, on its last value")
                e["neuron"] = n.name
                self.codes_of[n.name] = name
            elif n.kind in ("maxpool", "sumpool"):
                if nodes[n.input].kind != "neuron" or users[n.input] != [n.name]:
                    self.fail(n.name, "a pool reads a neuron's codes, and is their only reader")
                name = self.codes_of[n.input]
                self.engines[name]["pool"] = n.name
                self.codes_of[n.name] = name
            elif n.kind == "gsum":
                if n.input not in self.codes_of or nodes[n.input].kind != "neuron" or users[n.input] != [n.name]:
                    self.fail(n.name, "a gsum sums a neuron's codes, and is their only reader (not a current: the "
                                      "authors' head is not in the RTL generator)")
                name = self.codes_of[n.input]
                self.engines[name]["pool"] = n.name
                self.codes_of[n.name] = name
        self.depth = depth
        for name, e in self.engines.items():
            r = e["residual"]
            if r is None:
                continue
            src = self.owner[r]
            if self.engines[src]["value"] != r or self.engines[src]["stream"] is not None:
                self.fail(r, "a residual must be the last value of its engine, read by one add")
            self.engines[src]["stream"] = name
        for name, e in self.engines.items():
            if e["neuron"] is None and e["stream"] is None:
                self.fail(e["current"], "a current that feeds neither neurons nor an add")
            if e["neuron"] is None and (e["residual"] is not None or e["seca"] is not None):
                self.fail(e["current"], "an add or channel attention that feeds no neurons")
            for u in users[e["value"]]:
                if nodes[u].kind not in ("neuron", "add", "affine", "seca"):
                    self.fail(u, f"a current is read by neurons or adds, not by a {nodes[u].kind} node")
        ro = g.readout
        src = nodes[ro.input]
        if src.name not in self.codes_of:
            self.fail(ro.name, "the readout reads spike codes (a neuron, its pool, or their global sum)")
        self.readout_source = self.codes_of[src.name]


def _requant_config(node, lanes: int, T: int, w: dict, out_bits: int | None = None) -> RequantConfig:
    O = node.weight.shape[0]
    return RequantConfig(channels=O, lanes=lanes, T=T, mult=np.asarray(node.mult, np.int64),
                         bias=np.asarray(node.bias, np.int64), shift=node.shift, acc_bits=w["acc_bits"],
                         product_bits=w["product_bits"], out_bits=w["current_bits"] if out_bits is None else out_bits)


def _lane_options(C: int, O: int) -> dict:
    """Every lane count an engine of ``C`` inputs (per position) and ``O`` outputs can have ->
    its ``(pe, simd)``, the widest ``simd`` of that count."""
    opts = {}
    for simd in reversed(pow2_upto(_max_simd(C))):
        for pe in divisors(O):
            if pe * simd <= MAX_LANES:
                opts.setdefault(pe * simd, (pe, simd))
    return opts


def _fold_choice(C: int, O: int, lanes, exact: bool, name: str) -> tuple[int, int]:
    """``(pe, simd)`` with ``lanes`` MAC lanes (``exact``) or the most up to it, widest ``simd``."""
    opts = _lane_options(C, O)
    if exact:
        if lanes not in opts:
            raise ValueError(f"lanes={lanes}: engine {name} ({C} inputs, {O} outputs) cannot have exactly {lanes} MAC "
                             f"lanes; it can have {', '.join(map(str, sorted(opts)[:12]))}, ...")
        return opts[lanes]
    return opts[max(k for k in opts if k <= lanes)]


def from_graph(g: Graph, *, lanes=None, folding=None, stem: str = "cache") -> AcceleratorConfig:
    """The accelerator configs of graph ``g``.  ``lanes``: MAC lanes per engine (an int: exactly,
    :class:`rtl_gen.folding.AtMost`: at most; default ``AtMost(16)``); ``folding``: a
    :class:`Folding` or ``PExSIMD/NL`` string per synaptic engine in the graph's order of current
    nodes, the readout last (a list, or a dict by engine name, others from ``lanes``).

    With "at most" lanes the readout, whose work a global sum has shrunk to one value per
    channel, takes the fewest lanes that keep it within the slowest engine's clocks per image
    (:func:`rtl_gen.estimate.engine_times`): its int8 multipliers are the costliest lanes.

    The stem's stream is held per image (:func:`image_streams`: two slots of images instead of
    one slot of items per engine it skips, a third of its block RAM at ``T = 4``) unless that
    costs cycles per inference: the estimate replays both."""
    cfg = _from_graph_lanes(g, lanes=lanes, folding=folding, stem=stem, per_image=True)
    if any(layer.stream is not None and layer.stream.per_image for layer in cfg.layers):
        from .estimate import cycles

        items = _from_graph_lanes(g, lanes=lanes, folding=folding, stem=stem, per_image=False)
        if cycles(cfg)["cycles_per_inference"] > cycles(items)["cycles_per_inference"]:
            return items
    return cfg


def _from_graph_lanes(g: Graph, *, lanes, folding, stem: str, per_image: bool) -> AcceleratorConfig:
    """:func:`_from_graph`, with the readout's lanes chosen as :func:`from_graph` says."""
    cfg = _from_graph(g, lanes=lanes, folding=folding, stem=stem, per_image=per_image)
    rname = cfg.readout.name
    if isinstance(lanes, str) and lanes.strip().isdigit():
        lanes = int(lanes)
    exact = lanes is not None and not isinstance(lanes, AtMost)
    given = _given_foldings(folding, [layer.name for layer in cfg.layers] + [rname])
    if exact or rname in given:
        return cfg
    from .estimate import engine_times

    times = engine_times(cfg)
    slowest = max(v for k, v in times.items() if k not in (rname, "emitter", "loader"))
    syn = cfg.readout.synapse
    for n in sorted(_lane_options(syn.channels, syn.out_channels)):
        if n >= syn.fold.lanes:
            break
        pe, simd = _lane_options(syn.channels, syn.out_channels)[n]
        trial = _from_graph(g, lanes=lanes, folding={**given, rname: Folding(pe=pe, simd=simd, nl=1)}, stem=stem,
                            per_image=per_image)
        if engine_times(trial)[rname] <= slowest:
            return trial
    return cfg


def image_streams(g: Graph, plan: "_Plan") -> set:
    """The engines whose stream is the same at every time step of an image: the stem's current
    (direct encoding), unless its requantizer changes with the step or attention scales it."""
    out = set()
    for name, e in plan.engines.items():
        node = plan.nodes[e["current"]]
        if e["source"] is None and e["stream"] is not None and g.T > 1 and e["value"] == e["current"] and \
                np.asarray(node.mult).ndim == 1:
            out.add(name)
    return out


def _from_graph(g: Graph, *, lanes=None, folding=None, stem: str = "cache", per_image: bool = True) -> AcceleratorConfig:
    if not isinstance(g, Graph):
        raise TypeError(f"from_graph needs a golden.graph.Graph, not {type(g).__name__}")
    if stem not in ("cache", "recompute"):
        raise ValueError(f"stem must be 'cache' or 'recompute', not {stem!r}")
    plan = _Plan(g)
    T, wid, nodes = g.T, widths(g), plan.nodes
    names = list(plan.engines) + [engine_name(g.readout.name)]
    given = _given_foldings(folding, names)
    n_lanes = AtMost(DEFAULT_LANES) if lanes is None else lanes
    exact = not isinstance(n_lanes, AtMost)
    n_lanes = _lane_count(n_lanes)

    def in_geometry(node):
        return tuple(nodes[node.input].out_shape) if node.input in nodes else tuple(g.input.shape)

    # (pe, simd) per engine
    ps = {}
    for name in names:
        node = nodes[plan.engines[name]["current"]] if name in plan.engines else g.readout
        shape = in_geometry(node)
        is_conv = getattr(node, "kernel", None) is not None
        C = shape[0] if is_conv else int(np.prod(shape))
        O = node.weight.shape[0]
        if name in given:
            f = given[name]
            if O % f.pe or f.simd > _max_simd(C) or f.pe * f.simd > MAX_LANES:
                raise ValueError(f"folding {f} of engine {name}: pe must divide {O}, simd be at most {_max_simd(C)}")
            ps[name] = (f.pe, f.simd)
        else:
            ps[name] = _fold_choice(C, O, n_lanes, exact, name)
    # the readers of one codes buffer share its words: the narrowest simd of them
    readers = defaultdict(list)
    for name in names:
        src = plan.engines[name]["source"] if name in plan.engines else plan.readout_source
        if src is not None:
            readers[src].append(name)
    for src, rs in readers.items():
        simd = min(ps[r][1] for r in rs)
        for r in rs:
            if ps[r][1] != simd:
                if r in given:
                    raise ValueError(f"folding of engine {r}: it reads {src}'s codes with "
                                     f"{', '.join(readers[src])}, so their simd must be equal ({simd})")
                pe, s = ps[r]
                ps[r] = (pe, simd)
    # nl: one per group of engines joined by current frames; at most pe, a divisor of the
    # channels, no wider than its consumers' simd; the smallest that keeps up with the folds
    groups = {name: {name} for name in plan.engines}
    for name, e in plan.engines.items():
        if e["stream"] is not None:
            merged = groups[name] | groups[e["stream"]]
            for x in merged:
                groups[x] = merged
    nls = {}
    for name in plan.engines:
        if name in nls:
            continue
        members = sorted(groups[name])
        cap = min(_nl_cap(plan, m, ps, readers) for m in members)
        want = max(_nl_want(plan, m, ps) for m in members)
        explicit = {given[m].nl for m in members if m in given}
        if len(explicit) > 1:
            raise ValueError(f"folding: engines {', '.join(members)} share current frames, so their nl must be equal")
        nl = explicit.pop() if explicit else min(cap, want)
        if nl > cap:
            raise ValueError(f"folding of engine(s) {', '.join(m for m in members if m in given)}: nl={nl} is more "
                             f"than {cap} (pe, channels, the consumers' simd and the engines sharing its current "
                             f"frames allow)")
        for m in members:
            nls[m] = nl
    nls[names[-1]] = 1
    folds = {n: Folding(pe=ps[n][0], simd=ps[n][1], nl=nls[n]) for n in names}

    def out_max(engine: str) -> int:
        """The largest value engine ``engine`` writes into its codes buffer: a code, a 2 x 2 sum
        (4 codes) or a global sum (a code per position)."""
        e = plan.engines[engine]
        top = nodes[e["neuron"]].max_code
        kind = nodes[e["pool"]].kind if e["pool"] else None
        if kind == "sumpool":
            return 4 * top
        if kind == "gsum":
            return top * int(np.prod(nodes[e["pool"]].in_shape[1:]))
        return top

    # the engines' synapses
    syns = {}
    for name in names:
        node = nodes[plan.engines[name]["current"]] if name in plan.engines else g.readout
        src = plan.engines[name]["source"] if name in plan.engines else plan.readout_source
        e = plan.engines.get(name)
        in_bits = g.input.bits if src is None else out_max(src).bit_length()
        if node is g.readout:
            shape = in_geometry(node)
            weight = _hwc_columns(np.asarray(node.weight, np.int64), shape)[:, :, None, None]
            geo = dict(channels=int(np.prod(shape)), out_channels=weight.shape[0])
        elif node.kernel is None:
            shape = in_geometry(node)
            weight = _hwc_columns(np.asarray(node.weight, np.int64), shape)[:, :, None, None]
            geo = dict(channels=int(np.prod(shape)), out_channels=weight.shape[0])
        else:
            C, H, W = in_geometry(node)
            weight = np.asarray(node.weight, np.int64)
            geo = dict(channels=C, height=H, width=W, out_channels=weight.shape[0], kernel=node.kernel,
                       stride=node.stride, padding=node.padding)
        if e is not None and e["pool"] is not None and nodes[e["pool"]].kind != "gsum":
            if node.kernel is None:
                plan.fail(e["pool"], "a pool after an fc synapse")
            geo["pool"] = 2
        trailing = src is None and stem == "cache" and (len(g.input.shape) == 1 or g.input.shape[0] == 1)
        syns[name] = SynapseConfig(name=name, **geo, weight=weight, weight_kind=node.weights, in_bits=in_bits,
                                   acc_bits=wid[node.name]["acc_bits"], fold=folds[name], T=T, trailing=trailing)

    def consumer_layout(src: str, channels: int, positions: int, code_bits: int) -> OutputLayout:
        rs = readers[src]
        packed = {syns[r].is_fc for r in rs}
        if len(packed) != 1:
            if positions != 1:
                plan.fail(plan.engines[src]["neuron"], "codes read both by a conv and an fc synapse")
            packed = {False}            # one position: both layouts put channel c in word c // simd
        return OutputLayout(simd=syns[rs[0]].fold.simd, packed=packed.pop(), channels=channels, positions=positions,
                            code_bits=code_bits)

    # current frames
    frames = {}
    held_streams = image_streams(g, plan) if per_image else set()
    for name, e in plan.engines.items():
        if e["stream"] is None:
            continue
        sink = e["stream"]
        syn = syns[name]
        value = e["value"]
        bits = wid[value]["current_bits"]
        held = name in held_streams
        frames[name] = CurrentFrame(source=name, sink=sink, lanes=nls[name],
                                    words=syn.positions * syn.out_channels // nls[name], bits=bits,
                                    slots=2 if held else 1 + plan.depth[sink] - plan.depth[name], per_image=held)

    layers = []
    # the chain's order: by depth (an engine after the engines whose codes and currents it reads)
    order = sorted(plan.engines, key=lambda n: plan.depth[n])
    for name in order:
        e = plan.engines[name]
        node = nodes[e["current"]]
        syn = syns[name]
        src = "" if e["source"] is None else e["source"]
        w = wid[node.name]
        nl = nls[name]
        if e["neuron"] is None:
            layers.append(CurrentLayerConfig(name=name, synapse=syn, requant=_requant_config(node, nl, T, w),
                                             stream=frames[name], source=src))
            continue
        nn = nodes[e["neuron"]]
        nw = wid[nn.name]
        O = syn.out_channels
        current_bits = wid[e["affine"] or e["value"]]["current_bits"]
        membn = None
        if e["affine"] is not None:
            a = nodes[e["affine"]]
            aw = wid[a.name]
            membn = RequantConfig(channels=O, lanes=nl, T=T, mult=np.asarray(a.mult, np.int64),
                                  bias=np.asarray(a.bias, np.int64), shift=a.shift,
                                  acc_bits=wid[e["value"]]["current_bits"], product_bits=aw["product_bits"],
                                  out_bits=aw["current_bits"])
        residual = frames[plan.owner[e["residual"]]] if e["residual"] is not None else None
        seca = None
        if e["seca"] is not None:
            sn, sw = nodes[e["seca"]], wid[e["seca"]]
            seca = SecaConfig(channels=O, lanes=nl, words=syn.positions * O // nl, T=T,
                              taps=np.asarray(sn.taps, np.int64), zmult=int(sn.zmult), zshift=int(sn.zshift),
                              table=np.asarray(sn.table, np.int64), q=int(sn.q),
                              in_bits=wid[sn.input]["current_bits"], sum_bits=sw["sum_bits"], z_bits=sw["z_bits"],
                              z_product_bits=sw["z_product_bits"], product_bits=sw["product_bits"],
                              out_bits=sw["current_bits"], before_add=e["seca_before_add"])
        pool_kind = nodes[e["pool"]].kind if e["pool"] else None
        out_pos = 1 if pool_kind == "gsum" else syn.out_height * syn.out_width
        if name not in readers:
            plan.fail(nn.name, "spike codes nobody reads")
        per_step = np.asarray(node.mult).ndim == 2
        cache = "current"
        if src == "":
            cache = "acc" if (per_step or w["acc_bits"] < w["current_bits"]) else "current"
            if stem == "recompute":
                cache = "none"
        nc = NeuronConfig(channels=O, neurons=syn.positions * O, lanes=nl, T=T,
                          lambda_t=np.asarray(nn.lambda_t, np.int64), theta_t=np.asarray(nn.theta_t, np.int64),
                          lambda_frac=nn.lambda_frac, frac=nn.frac, max_code=nn.max_code, current_bits=current_bits,
                          membrane_bits=nw["membrane_bits"], leak_bits=nw["leak_bits"], kind=nn.neuron,
                          **(dict(reset=nn.reset, v_reset=int(nn.v_reset)) if nn.neuron == "lif" else {}))
        layers.append(HDLIFLayerConfig(
            name=name, synapse=syn, requant=_requant_config(node, nl, T, w), neuron=nc, pool=syn.pool,
            direct=src == "", out=consumer_layout(name, O, out_pos, out_max(name).bit_length()), cache=cache,
            pool_op={"sumpool": "sum", "gsum": "gsum"}.get(pool_kind, "max"),
            source="" if src == "" else src, residual=residual, stream=frames.get(name), membn=membn, seca=seca))
    ro = g.readout
    rname = names[-1]
    rw = wid[ro.name]
    rq = RequantConfig(channels=ro.out_features, lanes=1, T=T, mult=np.asarray(ro.mult, np.int64),
                       bias=np.asarray(ro.bias, np.int64), shift=0, acc_bits=rw["acc_bits"],
                       product_bits=rw["score_bits"], out_bits=rw["score_bits"])
    readout = ReadoutConfig(name=rname, synapse=syns[rname], requant=rq, score_bits=rw["score_bits"],
                            sum_bits=rw["sum_bits"], T=T, source=plan.readout_source)
    st = syns[names[0]]
    pixel_layout = OutputLayout(simd=st.fold.simd, packed=st.is_fc, channels=st.channels if not st.is_fc else 1,
                                positions=st.height * st.width if not st.is_fc else st.channels,
                                code_bits=g.input.bits)
    return AcceleratorConfig(name=g.name, T=T, pixel_bits=g.input.bits, input_shape=tuple(g.input.shape),
                             features=g.input.features, layers=tuple(layers), readout=readout,
                             pixel_layout=pixel_layout, neuron_nodes={n: plan.engines[n]["neuron"] for n in plan.engines
                                                                      if plan.engines[n]["neuron"]})


def _given_foldings(folding, names: list) -> dict:
    """Explicit foldings by engine name: a list (one per synaptic engine, the readout last), a
    dict by name, or one folding (string) for every engine."""
    if folding is None:
        return {}
    if isinstance(folding, dict):
        unknown = [k for k in folding if k not in names]
        if unknown:
            raise ValueError(f"folding names unknown engine {unknown[0]!r}; the engines are {names}")
        return {k: v if isinstance(v, Folding) else Folding.parse(v) for k, v in folding.items()}
    if isinstance(folding, (str, Folding)):
        f = folding if isinstance(folding, Folding) else Folding.parse(folding)
        return {n: (f if n != names[-1] else Folding(pe=f.pe, simd=f.simd, nl=1)) for n in names}
    items = list(folding)
    if len(items) != len(names):
        raise ValueError(f"folding must give one entry per synaptic engine ({len(names)}: {', '.join(names)}), "
                         f"not {len(items)}")
    return {n: v if isinstance(v, Folding) else Folding.parse(v) for n, v in zip(names, items)}


def _nl_cap(plan: _Plan, name: str, ps: dict, readers: dict) -> int:
    node = plan.nodes[plan.engines[name]["current"]]
    O = node.weight.shape[0]
    pe = ps[name][0]
    cap = max(n for n in pow2_upto(pe) if pe % n == 0 and O % n == 0)
    for r in readers.get(name, []):
        cap = min(cap, ps[r][1])
    return cap


def _nl_want(plan: _Plan, name: str, ps: dict) -> int:
    """The smallest nl whose serializer keeps up with the fold (``pe / nl`` clocks per fold of
    at least ``k x k x cf`` beats)."""
    node = plan.nodes[plan.engines[name]["current"]]
    pe, simd = ps[name]
    C = node.in_shape[0] if node.kernel is not None else int(np.prod(node.in_shape))
    beats = (node.kernel or 1) ** 2 * -(-C // simd)
    nl = 1
    while pe // nl > beats:
        nl *= 2
    return nl
