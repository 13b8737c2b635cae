"""Calibration on the training split: the imported network in float64, and the rounding of its weights.

:func:`simulate` runs the network exactly as the integer model's neuron defines it, in float64
(``m = beta v + gain I``; fire ``m > theta`` or ``m >= theta``; reset to ``v_reset`` or by
subtraction), with the unquantized weights.  It hands every layer's inputs to the calibration,
and, against the framework's own forward pass, says how much of a disagreement is the neuron
rather than the integers: for a reset to a value they agree exactly; snnTorch's subtraction
does not (see ``docs/nir.md``).

:func:`round_weights` quantizes each layer's weights (8-bit or ternary codes, one scale per
output channel, as :func:`nir_io.quantize.quantize_weights`) rounding them one input at a time
and carrying each rounding error onto the inputs not yet rounded, weighted by how the
calibration inputs correlate (``H = X^T X``: the GPTQ / Optimal Brain Quantization update,
Frantar et al. 2022).  The integer codes and scales are those of plain rounding's kind; only
which way each weight rounds changes, so that ``W_q x`` stays close to ``W x`` on the data.
Layers wider than :data:`MAX_FAN_IN` inputs are rounded plainly.
"""

from __future__ import annotations

import numpy as np

from .layers import Network, Synapse

#: above this many inputs per output the correlation matrix is not built (plain rounding)
MAX_FAN_IN = 4096
#: rows of input (images x steps x conv positions) the correlation is built from, at most
MAX_ROWS = 200_000
#: the diagonal added to H, relative to its mean (GPTQ's dampening)
DAMP = 0.01


def simulate(net: Network, x: np.ndarray, T: int, *, on_input=None, batch: int = 250) -> np.ndarray:
    """The float network's output summed over ``T`` steps, ``[N, classes]``, on ``x`` (``[N,
    *input_shape]``, the pixels already scaled).  ``on_input(l, h)`` is called with layer ``l``'s
    input ``h`` at every step (the score readout is ``l = len(net.layers)``)."""
    parts = []
    for b in range(0, len(x), batch):
        xb = x[b:b + batch]
        n = len(xb)
        v = [None] * len(net.layers)
        total = 0.0
        for _ in range(T):
            h = xb
            for i, layer in enumerate(net.layers):
                syn = layer.synapse
                h = h.reshape((n,) + tuple(syn.in_shape))
                if on_input is not None:
                    on_input(i, h)
                shape = (1, -1) + (1,) * (len(syn.out_shape) - 1)
                current = layer.gain.reshape(shape) * syn.apply(h)
                if v[i] is None:
                    v[i] = np.zeros_like(current)
                m = layer.leak.reshape(shape) * v[i] + current
                theta = layer.threshold.reshape(shape)
                spike = m > theta if layer.neuron.strict else m >= theta
                after = m - theta if layer.neuron.reset == "subtract" else np.full_like(m, layer.neuron.v_reset)
                v[i] = np.where(spike, after, m)
                h = spike.astype(np.float64)
                if layer.pool == 2:                 # the integer model's 2x2 max pool of the spikes
                    _, C, H, W = h.shape
                    h = h[:, :, :H // 2 * 2, :W // 2 * 2].reshape(n, C, H // 2, 2, W // 2, 2).max(axis=(3, 5))
            out = h.reshape(n, -1)
            if net.readout is not None:
                if on_input is not None:
                    on_input(len(net.layers), out)
                out = net.readout.apply(out)
            total = total + out
        parts.append(total)
    return np.concatenate(parts) if parts else np.zeros((0, net.classes))


def _rows(syn: Synapse, x: np.ndarray) -> np.ndarray:
    """The synapse's input vectors: ``[B, I]`` for fc, conv windows ``[B * Ho * Wo, C * k * k]``."""
    if syn.kind == "fc":
        return x.reshape(len(x), -1)
    k, s, p = syn.weight.shape[-1], syn.stride, syn.padding
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(-1, x.shape[1] * k * k)


def _fan_in(syn: Synapse) -> int:
    return int(np.prod(syn.weight.shape[1:]))


def calibrate_weights(net: Network, x: np.ndarray, T: int, kind: str) -> tuple[list, list[str]]:
    """Rounded ``(codes, alpha)`` for every layer (and the score readout, last) from the float
    network's inputs on ``x`` (``H = X^T X`` over the images, steps and conv windows, at most
    :data:`MAX_ROWS` rows of each step), and the method used for each."""
    syns = [layer.synapse for layer in net.layers] + ([net.readout] if net.readout is not None else [])
    H = [np.zeros((_fan_in(s), _fan_in(s))) if _fan_in(s) <= MAX_FAN_IN else None for s in syns]
    rng = np.random.default_rng(0)
    per_step = max(1, MAX_ROWS // (T * max(1, -(-len(x) // 250))))

    def add(i, h):
        if H[i] is None:
            return
        X = _rows(syns[i], h)
        if len(X) > per_step:
            X = X[rng.choice(len(X), per_step, replace=False)]
        H[i] += X.T @ X

    simulate(net, x, T, on_input=add)
    out, methods = [], []
    for syn, h in zip(syns, H):
        codes, alpha, how = round_weights(syn.weight, kind, h)
        out.append((codes, alpha))
        methods.append(how)
    return out, methods


def _quantizer(w: np.ndarray, kind: str):
    """Per-row scale ``alpha`` and the rounding of one column to codes, for ``kind``."""
    from .quantize import quantize_weights

    _, alpha = quantize_weights(w, kind)
    if kind == "int8":
        return alpha, lambda col: np.clip(np.round(col / alpha), -127, 127)
    return alpha, lambda col: np.sign(col) * (np.abs(col) > alpha / 2)       # nearest of {-a, 0, a}


def round_weights(w: np.ndarray, kind: str, H: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, str]:
    """``(codes, alpha, method)``: ``w`` (``[O, ...]``) rounded with error feedback over ``H``, or
    plainly without one."""
    from .quantize import quantize_weights

    if H is None:
        codes, alpha = quantize_weights(w, kind)
        return codes, alpha, "nearest"
    W = w.reshape(w.shape[0], -1).astype(np.float64).copy()
    alpha, q = _quantizer(W, kind)
    H = H.astype(np.float64).copy()
    dead = np.diag(H) == 0                    # inputs never active: their weights do not matter
    H[dead, dead] = 1.0
    H += DAMP * np.mean(np.diag(H)) * np.eye(len(H))
    try:
        U = np.linalg.cholesky(np.linalg.inv(H)).T          # upper factor of H^-1
    except np.linalg.LinAlgError:
        codes, alpha = quantize_weights(w, kind)
        return codes, alpha, "nearest"
    codes = np.zeros_like(W)
    for j in range(W.shape[1]):
        c = q(W[:, j])
        codes[:, j] = c
        err = (W[:, j] - c * alpha) / U[j, j]
        W[:, j + 1:] -= np.outer(err, U[j, j + 1:])
    return codes.reshape(w.shape).astype(np.int8), alpha, "error feedback (GPTQ)"
