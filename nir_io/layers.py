"""A chain of NIR nodes as the integer model's layers, still in floating point.

Each integer layer is one synapse (``Affine`` / ``Linear`` or ``Conv2d``) followed by one neuron
node (``LIF``, ``IF``, ``CubaLIF``); the last neuron layer is read out by spike count when it has
one neuron per class, and a final ``Affine`` / ``Linear`` without a neuron is a score readout.
Between them:

* ``Flatten`` to one dimension (C, H, W order, as the bundle's fc layers read a conv output).
* Two synapses in a row without a neuron between (``Affine`` then ``Affine``) are one synapse
  (``W2 @ W1``, ``W2 @ b1 + b2``): exact in the float network.
* ``SumPool2d`` / ``AvgPool2d`` (no padding) are linear, so they are folded into a synapse,
  where that is exact: after a ``Conv2d`` (before its neuron) into that convolution (kernel
  ``k + (K-1) s``, stride ``s S``), and on spikes or pixels into the next synapse (an
  ``Affine`` reads the unpooled map; a ``Conv2d`` becomes kernel ``(k-1) S + K``, stride ``s S``,
  exact without padding, or with ``K = S`` dividing the map).  Every fold is checked on random
  inputs against the two operations in sequence.  The integer model's own pooling (2x2 max of
  spike codes) is the NIR pattern ``SumPool2d`` 2x2 stride 2 -> ``IF`` (or ``LIF``) firing on one
  spike of the window and resetting to 0, right after a conv layer's neurons: that layer gets
  ``pool = 2``.

A neuron's parameters are per neuron in NIR; the integer model has them per output channel,
so a conv layer's neurons must share them across the feature map.  Anything else is refused
with one line naming the node, its type and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .discretize import Neuron, discretize, reset_for
from .graph import NIRImportError, input_shape, supported_text, type_name

#: the integer model's conv geometry limits (golden.bundle's loader)
MAX_KERNEL, MAX_STRIDE = 15, 8


@dataclass(frozen=True, kw_only=True)
class Synapse:
    """``y = W x + b`` (fc, ``x`` flattened in C, H, W order) or a 2-D convolution, in float64."""
    kind: str                   # fc | conv
    weight: np.ndarray          # [O, I] or [O, C, k, k]
    bias: np.ndarray            # [O]
    in_shape: tuple             # what it reads: (C, H, W) for conv, the unflattened input for fc
    stride: int = 1
    padding: int = 0
    nodes: tuple = ()           # the NIR nodes folded into it

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[0])

    @property
    def out_shape(self) -> tuple:
        if self.kind == "fc":
            return (self.out_channels,)
        _, H, W = self.in_shape
        k = self.weight.shape[-1]
        return (self.out_channels, (H + 2 * self.padding - k) // self.stride + 1,
                (W + 2 * self.padding - k) // self.stride + 1)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Float64 forward of a batch ``[B, *in_shape]`` (for the fold checks)."""
        if self.kind == "fc":
            return x.reshape(len(x), -1) @ self.weight.T + self.bias
        return conv2d_float(x, self.weight, self.stride, self.padding) + self.bias[None, :, None, None]


@dataclass(frozen=True, kw_only=True)
class Layer:
    """One integer layer: a synapse and its neurons, their parameters per output channel, and
    the integer model's 2x2 max pooling of its spikes (``pool = 2``, from the NIR pattern
    ``SumPool2d`` -> ``IF`` that fires on any spike of the window)."""
    synapse: Synapse
    neuron: Neuron
    leak: np.ndarray            # [O]
    gain: np.ndarray            # [O]
    threshold: np.ndarray       # [O]
    pool: int = 1
    pool_nodes: tuple = ()

    @property
    def out_shape(self) -> tuple:
        if self.pool == 1:
            return self.synapse.out_shape
        O, H, W = self.synapse.out_shape
        return (O, H // self.pool, W // self.pool)


@dataclass(frozen=True, kw_only=True)
class Network:
    input_shape: tuple          # as the graph's Input node declares it
    layers: tuple
    readout: Synapse | None     # a score readout, or None: count the last layer's spikes
    framework: str
    reset_setting: str | None   # RESET= (None: each node's own, nir_io.discretize.reset_for)
    dt: float | None
    dt_how: str
    nodes: tuple = field(default=())   # the chain's node names, Input to Output

    @property
    def classes(self) -> int:
        return self.readout.out_channels if self.readout is not None else self.layers[-1].synapse.out_channels

    @property
    def mode(self) -> str:
        return "score" if self.readout is not None else "count"

    @property
    def reset(self) -> str:
        """``value``, ``subtract``, or ``mixed`` when the layers differ."""
        kinds = {layer.neuron.reset for layer in self.layers}
        return kinds.pop() if len(kinds) == 1 else "mixed"


# ---------------------------------------------------------------------------------------------
# Float helpers (the fold checks)

def conv2d_float(x: np.ndarray, w: np.ndarray, stride: int, padding: int) -> np.ndarray:
    O, C, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("bchwij,ocij->bohw", win, w)


def pool_float(x: np.ndarray, K: int, S: int, kind: str) -> np.ndarray:
    win = np.lib.stride_tricks.sliding_window_view(x, (K, K), axis=(2, 3))[:, :, ::S, ::S]
    s = win.sum(axis=(4, 5))
    return s / (K * K) if kind == "avg" else s


def _ints(v, n: int = 2) -> tuple:
    a = np.asarray(v).reshape(-1)
    return tuple(int(x) for x in (np.repeat(a, n) if a.size == 1 else a))


@dataclass(frozen=True)
class _Pool:
    node: str
    kind: str                   # sum | avg
    K: int
    S: int
    in_shape: tuple             # (C, H, W) before pooling

    @property
    def out_shape(self) -> tuple:
        C, H, W = self.in_shape
        return (C, (H - self.K) // self.S + 1, (W - self.K) // self.S + 1)

    @property
    def scale(self) -> float:
        return 1.0 / (self.K * self.K) if self.kind == "avg" else 1.0

    def apply(self, x):
        return pool_float(x.reshape((len(x),) + self.in_shape), self.K, self.S, self.kind)


def _check_fold(name: str, node, first, second, folded, in_shape: tuple, why: str) -> None:
    """The folded operation equals ``second(first(x))`` on random inputs, or a refusal."""
    rng = np.random.default_rng(0)
    x = rng.random((3,) + tuple(in_shape))
    want = second(first(x)).reshape(3, -1)
    got = folded(x).reshape(3, -1)
    if want.shape != got.shape or not np.allclose(want, got, rtol=1e-9, atol=1e-9 * (np.abs(want).max() + 1)):
        raise NIRImportError(f"node '{name}' ({type_name(node)}): folding the pooling into the synapse is not exact "
                             f"here ({why})")


def _geometry_ok(name, node, k: int, s: int, p: int, what: str) -> None:
    if k > MAX_KERNEL or s > MAX_STRIDE or p >= k:
        raise NIRImportError(f"node '{name}' ({type_name(node)}): {what} gives kernel {k}, stride {s}, padding {p}; "
                             f"the integer model's conv takes kernel <= {MAX_KERNEL}, stride <= {MAX_STRIDE}, "
                             f"padding < kernel")


# ---------------------------------------------------------------------------------------------
# Folds

def _fold_pool_into_conv(syn: Synapse, pool: _Pool, name, node) -> Synapse:
    """conv(k, s, p) then pool(K, S): one conv, kernel k + (K-1) s, stride s S (exact)."""
    O, C, k, _ = syn.weight.shape
    s, K, S = syn.stride, pool.K, pool.S
    k2 = k + (K - 1) * s
    w = np.zeros((O, C, k2, k2))
    for a in range(K):
        for b in range(K):
            w[:, :, a * s:a * s + k, b * s:b * s + k] += syn.weight
    folded = replace(syn, weight=w * pool.scale, bias=syn.bias * (K * K) * pool.scale, stride=s * S,
                     nodes=syn.nodes + (pool.node,))
    _geometry_ok(name, node, k2, s * S, syn.padding, "folding it into the convolution")
    _check_fold(name, node, syn.apply, lambda y: pool_float(y, K, S, pool.kind), folded.apply, syn.in_shape,
                "conv then pool")
    return folded


def _fold_pool_into_next(pool: _Pool, name, node, syn: Synapse) -> Synapse:
    """pool(K, S) on spikes or pixels, then ``syn``: ``syn`` reading the unpooled map."""
    K, S, sc = pool.K, pool.S, pool.scale
    C, H, W = pool.in_shape
    _, Hp, Wp = pool.out_shape
    if syn.kind == "fc":
        O = syn.out_channels
        w = syn.weight.reshape(O, C, Hp, Wp)
        out = np.zeros((O, C, H, W))
        for i in range(K):
            for j in range(K):
                out[:, :, i:i + S * (Hp - 1) + 1:S, j:j + S * (Wp - 1) + 1:S] += w * sc
        folded = replace(syn, weight=out.reshape(O, -1), in_shape=pool.in_shape, nodes=(pool.node,) + syn.nodes)
    else:
        O, _, k, _ = syn.weight.shape
        s, p = syn.stride, syn.padding
        if p and not (K == S and H % S == 0 and W % S == 0):
            raise NIRImportError(f"node '{name}' ({type_name(node)}): a padded convolution after a pooling is folded "
                                 f"only when the pooling tiles the map (kernel = stride dividing {H}x{W}); here "
                                 f"kernel {K}, stride {S}")
        k2 = (k - 1) * S + K
        w = np.zeros((O, C, k2, k2))
        for a in range(k):
            for b in range(k):
                w[:, :, a * S:a * S + K, b * S:b * S + K] += syn.weight[:, :, a:a + 1, b:b + 1] * sc
        _geometry_ok(name, node, k2, s * S, p * S, "folding the pooling before it")
        folded = replace(syn, weight=w, stride=s * S, padding=p * S, in_shape=pool.in_shape,
                         nodes=(pool.node,) + syn.nodes)
    _check_fold(name, node, pool.apply, syn.apply, folded.apply, pool.in_shape, "pool then synapse")
    return folded


def _compose_fc(first: Synapse, second: Synapse) -> Synapse:
    return replace(first, weight=second.weight @ first.weight, bias=second.weight @ first.bias + second.bias,
                   nodes=first.nodes + second.nodes)


# ---------------------------------------------------------------------------------------------
# The walk

def _per_channel(layer_name: str, node, values: np.ndarray, shape: tuple, out_shape: tuple, key: str) -> np.ndarray:
    """A neuron parameter broadcast to the tensor NIR applies it to, then one value per channel."""
    try:
        full = np.broadcast_to(values, shape).reshape(out_shape)
    except ValueError:
        raise NIRImportError(f"node '{layer_name}' ({type_name(node)}): parameters of shape {list(values.shape)} do "
                             f"not fit its input {list(shape)}") from None
    per = full.reshape(out_shape[0], -1)
    if not np.allclose(per, per[:, :1], rtol=1e-6, atol=0):
        raise NIRImportError(f"node '{layer_name}' ({type_name(node)}): {key} differs within a channel's feature map; "
                             f"the integer model has one value per output channel")
    return per[:, 0].copy()


def _max_pool(pool: _Pool, prev: Layer | None, neuron: Neuron) -> str | None:
    """Why ``pool`` -> ``neuron`` is not the integer model's 2x2 max pool of ``prev``'s spikes (None: it is).

    On binary spikes a 2x2 window's sum is 0 or at least 1; a neuron that fires on any sum >= 1
    and on nothing else, and is at 0 again after every step (reset to 0: it fires, or it received
    0), outputs the window's maximum."""
    if prev is None or prev.synapse.kind != "conv" or prev.pool != 1 or pool.in_shape != prev.synapse.out_shape:
        return "it does not pool a conv layer's spikes"
    if (pool.K, pool.S) != (2, 2):
        return f"the pooling is {pool.K}x{pool.K} stride {pool.S}, the integer model's is 2x2 stride 2"
    if neuron.reset != "value" or neuron.v_reset != 0.0:
        return "the neuron does not reset to 0"
    t = neuron.threshold / (neuron.gain * pool.scale)          # in spikes of the window
    ok = (t > 0) & ((t < 1) if neuron.strict else (t <= 1))
    if not np.all(ok):
        return f"the neuron does not fire on exactly one spike of the window (threshold {float(t.max()):.4g} spikes)"
    return None


def build_network(nodes, *, framework: str, reset: str | None, dt: float | None, dt_how: str) -> Network:
    """The chain ``nodes`` (:func:`nir_io.graph.chain`) as integer-model layers in float.  ``reset``:
    ``RESET=`` for every neuron node, or None for each node's own (:func:`nir_io.discretize.reset_for`)."""
    import nir

    layers: list[Layer] = []
    shape = input_shape(nodes[0][1])
    in_shape0 = shape
    pending: Synapse | None = None     # a synapse waiting for its neuron (the values are currents)
    pool: _Pool | None = None          # a pooling of spikes / pixels waiting for the next synapse
    view = shape                       # the values' shape as the integer model holds them (before flatten)

    def new_synapse(syn: Synapse, name, node) -> Synapse:
        nonlocal pool
        if pending is not None:
            if pending.kind == "fc" and syn.kind == "fc":
                return _compose_fc(pending, syn)
            raise NIRImportError(f"node '{name}' ({type_name(node)}) follows the synapse '{pending.nodes[-1]}' "
                                 f"without a neuron between; only two Affine / Linear in a row are merged")
        if pool is not None:
            syn = _fold_pool_into_next(pool, name, node, syn)
            pool = None
        return syn

    for name, node in nodes[1:]:
        if isinstance(node, nir.Output):
            break
        if isinstance(node, nir.Input):
            raise NIRImportError(f"node '{name}' (nir.Input) in the middle of the chain")
        if isinstance(node, nir.Flatten):
            start, end = int(node.start_dim), int(node.end_dim)
            n = len(shape)
            start, end = start + n if start < 0 else start, end + n if end < 0 else end
            new = shape[:start] + (int(np.prod(shape[start:end + 1])),) + shape[end + 1:]
            if len(new) != 1:
                raise NIRImportError(f"node '{name}' (nir.Flatten) turns {list(shape)} into {list(new)}; only a "
                                     f"flatten to one dimension is supported")
            shape = new
        elif isinstance(node, (nir.Affine, nir.Linear)):
            w = np.asarray(node.weight, np.float64)
            if w.ndim != 2:
                raise NIRImportError(f"node '{name}' ({type_name(node)}): weight of shape {list(w.shape)}; "
                                     f"only [out, in] is supported")
            b = np.asarray(node.bias, np.float64).reshape(-1) if isinstance(node, nir.Affine) \
                else np.zeros(w.shape[0])
            if shape != (w.shape[1],):
                raise NIRImportError(f"node '{name}' ({type_name(node)}) takes [{w.shape[1]}] but its input is "
                                     f"{list(shape)}" + (" (a Flatten before it is needed)" if len(shape) > 1 else ""))
            syn = Synapse(kind="fc", weight=w, bias=b, in_shape=tuple(pool.out_shape if pool is not None else view),
                          nodes=(name,))
            pending = new_synapse(syn, name, node)
            shape = view = (w.shape[0],)
        elif isinstance(node, nir.Conv2d):
            w = np.asarray(node.weight, np.float64)
            stride, dil = _ints(node.stride), _ints(node.dilation)
            groups = int(np.asarray(node.groups).reshape(-1)[0])
            k = w.shape[-1]
            pad = node.padding
            if isinstance(pad, (str, bytes)):
                pad = pad.decode() if isinstance(pad, bytes) else pad
                if pad == "same" and k % 2 == 1 and stride == (1, 1):
                    pad = (k - 1) // 2
                elif pad == "valid":
                    pad = 0
                else:
                    raise NIRImportError(f"node '{name}' (nir.Conv2d): padding {pad!r} with kernel {k} and stride "
                                         f"{stride[0]}: only whole-number padding is supported")
            pad = _ints(pad)
            why = ("a non-square kernel" if w.shape[-2] != k else "a non-square stride" if stride[0] != stride[1]
                   else "uneven padding" if pad[0] != pad[1] else f"dilation {dil}" if dil != (1, 1)
                   else f"groups = {groups}" if groups != 1 else None)
            if why:
                raise NIRImportError(f"node '{name}' (nir.Conv2d): {why}; the integer model's conv is square, "
                                     f"undilated and ungrouped")
            if len(shape) != 3 or shape[0] != w.shape[1]:
                raise NIRImportError(f"node '{name}' (nir.Conv2d) takes [{w.shape[1]}, H, W] but its input is "
                                     f"{list(shape)}")
            _geometry_ok(name, node, k, stride[0], pad[0], "it")
            syn = Synapse(kind="conv", weight=w, bias=np.asarray(node.bias, np.float64).reshape(-1),
                          in_shape=tuple(shape), stride=stride[0], padding=pad[0], nodes=(name,))
            pending = new_synapse(syn, name, node)
            shape = view = pending.out_shape
        elif isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
            kind = "sum" if isinstance(node, nir.SumPool2d) else "avg"
            K, S, P = _ints(node.kernel_size), _ints(node.stride), _ints(node.padding)
            if K[0] != K[1] or S[0] != S[1] or any(P):
                raise NIRImportError(f"node '{name}' ({type_name(node)}): kernel {list(K)}, stride {list(S)}, padding "
                                     f"{list(P)}; only square, unpadded pooling folds into a synapse")
            if len(shape) != 3:
                raise NIRImportError(f"node '{name}' ({type_name(node)}) needs a [C, H, W] input, not {list(shape)}")
            p = _Pool(node=name, kind=kind, K=K[0], S=S[0], in_shape=tuple(shape))
            if pending is not None:
                if pending.kind != "conv":
                    raise NIRImportError(f"node '{name}' ({type_name(node)}) after an fc synapse: nothing to fold "
                                         f"it into")
                pending = _fold_pool_into_conv(pending, p, name, node)
                shape = view = pending.out_shape
            elif pool is not None:
                raise NIRImportError(f"node '{name}' ({type_name(node)}) right after the pooling '{pool.node}': "
                                     f"two poolings in a row are not folded")
            else:
                pool = p
                shape = p.out_shape
        elif isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF)):
            neuron = discretize(name, node, dt=dt, framework=framework, reset=reset_for(node, reset))
            if pending is None and pool is not None:          # SumPool2d -> IF: the integer model's max pool?
                why = _max_pool(pool, layers[-1] if layers else None, neuron)
                if why:
                    raise NIRImportError(f"node '{name}' ({type_name(node)}) follows the pooling '{pool.node}' without "
                                         f"a synapse, which maps only as a 2x2 max pool of a conv layer's spikes "
                                         f"(SumPool2d 2x2 stride 2 -> a neuron firing on one spike, reset to 0): {why}")
                layers[-1] = replace(layers[-1], pool=2, pool_nodes=(pool.node, name))
                pool = None
                view = layers[-1].out_shape
                continue
            if pending is None:
                raise NIRImportError(f"node '{name}' ({type_name(node)}) follows no synapse: every neuron node needs "
                                     f"an Affine, Linear or Conv2d before it")
            out = pending.out_shape
            if int(np.prod(shape)) != int(np.prod(out)):
                raise NIRImportError(f"node '{name}' ({type_name(node)}): its input {list(shape)} is not the synapse's "
                                     f"output {list(out)}")
            per = {key: _per_channel(name, node, getattr(neuron, key), shape, out, key)
                   for key in ("leak", "gain", "threshold")}
            layers.append(Layer(synapse=pending, neuron=neuron, **per))
            pending = None
            view = out
        else:
            raise NIRImportError(f"node '{name}' ({type_name(node)}) is not supported; the importer takes "
                                 f"{supported_text()}")
    if pool is not None:
        raise NIRImportError(f"node '{pool.node}' (pooling) is not followed by a synapse to fold it into")
    readout = None
    if pending is not None:
        if pending.kind != "fc":
            raise NIRImportError(f"the chain ends in the convolution '{pending.nodes[-1]}' without a neuron; "
                                 f"a score readout is an Affine or Linear")
        readout = pending
    if not layers:
        raise NIRImportError("the chain has no neuron node (LIF, IF, CubaLIF): nothing spiking to import")
    return Network(input_shape=tuple(in_shape0), layers=tuple(layers), readout=readout, framework=framework,
                   reset_setting=reset, dt=dt, dt_how=dt_how, nodes=tuple(n for n, _ in nodes))
