"""The integer golden model: the one definition of the arithmetic every stage reproduces.

Pure integer NumPy (int64), vectorised over a batch of images.  The Amaranth RTL, the cocotb
testbenches and the HLS C simulation are all checked against :func:`run` bit for bit.

Schedule of one image (direct encoding, ``docs/integer-semantics.md``)::

    stem current  = requant(W_0 @ pixels)                 once per image
    for t in 0 .. T-1:
        codes_0   = hdlif(stem current, t)
        codes_l   = hdlif(requant(W_l @ codes_(l-1)), t)  for every further HD-LIF layer
        score_t   = W_r @ codes_last * mult + bias        the readout
    class         = argmax_c sum_t score_t[c]             (lowest index wins a tie)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bundle import Bundle, HDLIFLayer, ReadoutLayer


def synapse(layer, x: np.ndarray) -> np.ndarray:
    """Ternary weighted sum ``acc[b, n] = sum_i weight[n, i] * x[b, i]`` (exact int64)."""
    return x.astype(np.int64) @ layer.weight.astype(np.int64).T


def requant(layer: HDLIFLayer, acc: np.ndarray) -> np.ndarray:
    """Input current in membrane units: ``(acc * mult + bias) >> shift`` (floor shift)."""
    return (acc * layer.mult + layer.bias) >> layer.shift


def charge(layer: HDLIFLayer, v: np.ndarray, current: np.ndarray, t: int) -> np.ndarray:
    """``m = round_half_up(lambda_t * v) + I`` with ``lambda_t`` in fixed point."""
    half = 1 << (layer.lambda_frac - 1)
    return ((int(layer.lambda_t[t]) * v + half) >> layer.lambda_frac) + current


def fire(layer: HDLIFLayer, m: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Graded spike and P2-reset: returns ``(spike_code, v)``.

    ``s* = max(m - theta_t, 0)``, ``v = min(m, theta_t)``,
    ``spike_code = min(round_half_up(s* / 2**frac), max_code)``.
    """
    theta = int(layer.theta_t[t])
    s_star = np.maximum(m - theta, 0)
    v = np.minimum(m, theta)
    half = 1 << (layer.frac - 1) if layer.frac > 0 else 0
    spike_code = np.minimum((s_star + half) >> layer.frac, layer.max_code)
    return spike_code, v


def hdlif_step(layer: HDLIFLayer, v: np.ndarray, current: np.ndarray, t: int):
    """One neuron update: charge -> fire -> P2-reset.  Returns ``(spike_code, m, v)``."""
    m = charge(layer, v, current, t)
    spike_code, v = fire(layer, m, t)
    return spike_code, m, v


def readout(layer: ReadoutLayer, codes: np.ndarray) -> np.ndarray:
    return synapse(layer, codes) * layer.mult + layer.bias


@dataclass
class Result:
    scores: np.ndarray           # int64 [N, T, classes]: the readout at every time step
    classes: np.ndarray          # int64 [N]: argmax of the scores summed over time
    codes: dict | None = None    # layer name -> int64 [N, T, out]: spike codes (trace only)
    membranes: dict | None = None  # layer name -> int64 [N, T, out]: charged m_t (trace only)


def run(bundle: Bundle, images: np.ndarray, *, trace: bool = False) -> Result:
    """Run the integer model on ``images`` (``[N, features]`` unsigned pixel integers)."""
    x = np.asarray(images)
    if x.ndim != 2 or x.shape[1] != bundle.input.features:
        raise ValueError(f"images must have shape [N, {bundle.input.features}], not {list(x.shape)}")
    if x.size and (x.min() < 0 or x.max() > bundle.input.max_value):
        raise ValueError(f"pixel values must lie in [0, {bundle.input.max_value}], "
                         f"found [{x.min()}, {x.max()}]")
    x = x.astype(np.int64)
    n, T = x.shape[0], bundle.T
    hd = bundle.hdlif_layers
    v = [np.zeros((n, layer.out_features), np.int64) for layer in hd]
    codes_trace = {layer.name: np.zeros((n, T, layer.out_features), np.int64) for layer in hd} if trace else None
    mem_trace = {layer.name: np.zeros((n, T, layer.out_features), np.int64) for layer in hd} if trace else None
    scores = np.zeros((n, T, bundle.classes), np.int64)
    stem_current = requant(hd[0], synapse(hd[0], x))
    for t in range(T):
        codes = x
        for i, layer in enumerate(hd):
            current = stem_current if layer.direct else requant(layer, synapse(layer, codes))
            codes, m, v[i] = hdlif_step(layer, v[i], current, t)
            if trace:
                codes_trace[layer.name][:, t] = codes
                mem_trace[layer.name][:, t] = m
        scores[:, t] = readout(bundle.readout, codes)
    classes = np.argmax(scores.sum(axis=1), axis=1)
    return Result(scores=scores, classes=classes, codes=codes_trace, membranes=mem_trace)
