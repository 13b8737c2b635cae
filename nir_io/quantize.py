"""Post-training quantization of an imported network to a golden :class:`~golden.bundle.Bundle`.

For layer ``l`` with input LSB ``s_in`` (``1 / input_max`` for the pixels, 1 for spikes) the float
current of output channel ``c`` is ``I_c = gain_c * (W_c . x * s_in + b_c)``.  Then:

* **Weights** per output channel: ``int8`` (the default) ``q = round(W_c / alpha_c)`` with
  ``alpha_c = max|W_c| / 127``; ``ternary`` by the TWN rule per channel (``delta = 0.7 mean|W_c|``,
  ``q = sign(W) [|W| > delta]``, ``alpha_c`` the mean ``|W|`` above ``delta``).  The import
  rounds with error feedback on the training split instead (:mod:`nir_io.calibrate`): the same
  scales and code ranges, the weights rounded one input at a time with each rounding error carried
  onto those not yet rounded, so that the layer's output on the data stays close.
* **Membrane unit** per channel ``u_c = theta_c / 2**K`` (``K = membrane_bits``, recorded as the
  layer's ``frac``): every threshold becomes the same integer, ``2**K + 1`` for a strict fire
  (``v > theta``: on integers ``m >= floor(theta / u) + 1``) and ``2**K`` for ``v >= theta``,
  and the thresholds fold into ``mult`` / ``bias``.  A value reset to a non-zero ``v_reset``
  needs one unit for the whole layer: then ``u = max_c theta_c / 2**K``,
  ``theta_t[c] = floor(theta_c / u) + 1`` (strict) or ``ceil(theta_c / u)``, and
  ``v_reset = round(v_reset / u)``.
* **Requantizer**: ``A_c = gain_c alpha_c s_in / u_c``, ``B_c = gain_c b_c / u_c``; ``shift``
  is the largest with ``max |A| 2**shift < 2**(mult_bits - 1)`` (18 signed bits, as
  ``training/export.py``), ``mult = round(A 2**shift)``, ``bias = round(B 2**shift) +
  2**(shift - 1)`` (the rounding of ``>> shift``).
* **Leak** ``lambda_t = round(beta 2**lambda_frac)`` (``lambda_frac`` 14; an IF's ``beta = 1`` is
  exactly ``2**lambda_frac``), ``[T]`` when every channel shares it, else ``[T, O]``.
* **Readout**: a count readout is the identity; a score readout keeps
  ``score = acc * mult + bias`` with ``mult_c = round(alpha_c 2**shift)``,
  ``bias_c = round(b_c 2**shift)``.

:func:`choose_membrane_bits` calibrates ``K`` on the training split: the smallest of
:data:`MEMBRANE_BITS` whose golden model agrees with the framework's forward pass within 0.2 %
of the best of them.
"""

from __future__ import annotations

import math

import numpy as np

from golden import Bundle, HDLIFConvLayer, HDLIFLayer, InputSpec, ReadoutLayer, run
from golden.bounds import shift_for

from .layers import Network

WEIGHT_KINDS = ("int8", "ternary")
MEMBRANE_BITS = (8, 10, 12, 14)
LAMBDA_FRAC = 14
MULT_BITS = 18


def quantize_weights(w: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (int8) and the per-row scale ``alpha`` with ``w ~ alpha[:, None] * codes``."""
    w2 = w.reshape(w.shape[0], -1)
    if kind == "int8":
        alpha = np.abs(w2).max(axis=1) / 127.0
        alpha = np.where(alpha > 0, alpha, 1.0)
        codes = np.clip(np.round(w2 / alpha[:, None]), -127, 127)
    elif kind == "ternary":
        delta = 0.7 * np.abs(w2).mean(axis=1, keepdims=True)
        mask = np.abs(w2) > delta
        count = mask.sum(axis=1)
        alpha = np.where(count > 0, (np.abs(w2) * mask).sum(axis=1) / np.maximum(count, 1), 1.0)
        codes = np.sign(w2) * mask
    else:
        raise ValueError(f"--weights (WEIGHTS=) must be one of {', '.join(WEIGHT_KINDS)}, not {kind!r}")
    return codes.reshape(w.shape).astype(np.int8), alpha


def _fire_threshold(ratio: np.ndarray, strict: bool) -> np.ndarray:
    """The integer threshold for ``theta / u``: ``floor + 1`` (strict) or ``ceil``, exact ratios kept exact."""
    r = np.where(np.abs(ratio - np.round(ratio)) < 1e-9, np.round(ratio), ratio)
    return (np.floor(r) + 1 if strict else np.ceil(r)).astype(np.int64)


def _per_t(values: np.ndarray, T: int) -> np.ndarray:
    values = np.asarray(values, np.int64)
    return np.full(T, values[0], np.int64) if np.all(values == values[0]) else np.tile(values, (T, 1))


def to_bundle(net: Network, name: str, *, T: int, input_max: int, input_shape: tuple, weights: str = "int8",
              membrane_bits: int = 10, lambda_frac: int = LAMBDA_FRAC, mult_bits: int = MULT_BITS,
              rounded: list | None = None, meta: dict | None = None) -> Bundle:
    """The integer bundle of ``net`` (see the module docstring).  ``rounded``: the ``(codes, alpha)``
    of every layer and the score readout (:func:`nir_io.calibrate.calibrate_weights`); default:
    rounding to nearest."""
    rounded = rounded or [quantize_weights(s.weight, weights) for s in
                          [layer.synapse for layer in net.layers] + ([net.readout] if net.readout is not None else [])]
    layers = []
    for i, layer in enumerate(net.layers):
        syn, neuron = layer.synapse, layer.neuron
        s_in = 1.0 / input_max if i == 0 else 1.0
        codes, alpha = rounded[i]
        theta = layer.threshold
        scale = 2.0 ** membrane_bits
        if neuron.reset == "subtract" or neuron.v_reset == 0.0:
            u = theta / scale
            theta_int = np.full(len(theta), int(scale) + (1 if neuron.strict else 0), np.int64)
            v_reset = 0
        else:
            u = np.full(len(theta), theta.max() / scale)
            theta_int = _fire_threshold(theta / u, neuron.strict)
            v_reset = int(round(neuron.v_reset / u[0]))
        A = layer.gain * alpha * s_in / u
        B = layer.gain * syn.bias / u
        shift = shift_for(A, mult_bits)
        mult = np.round(A * 2 ** shift).astype(np.int64)
        bias = np.round(B * 2 ** shift).astype(np.int64) + ((1 << shift) >> 1)
        common = dict(name=f"{syn.kind}{i + 1}", weight=codes, weights=weights, mult=mult, bias=bias, shift=shift,
                      lambda_t=_per_t(np.round(layer.leak * 2 ** lambda_frac), T), theta_t=_per_t(theta_int, T),
                      lambda_frac=lambda_frac, frac=membrane_bits, max_code=1, direct=(i == 0), neuron="lif",
                      reset=neuron.reset, v_reset=v_reset)
        if syn.kind == "conv":
            layers.append(HDLIFConvLayer(**common, in_shape=tuple(syn.in_shape), out_channels=syn.out_channels,
                                         kernel=int(syn.weight.shape[-1]), stride=syn.stride, padding=syn.padding,
                                         pool=layer.pool))
        else:
            layers.append(HDLIFLayer(**common, in_features=int(np.prod(syn.in_shape)), out_features=syn.out_channels))
    n_in = layers[-1].out_features
    name_r = f"fc{len(layers) + 1}"
    if net.readout is None:
        layers.append(ReadoutLayer(name=name_r, in_features=n_in, out_features=n_in, weight=np.eye(n_in, dtype=np.int8),
                                   weights="ternary", mode="count", mult=np.ones(n_in, np.int64),
                                   bias=np.zeros(n_in, np.int64)))
    else:
        codes, alpha = rounded[-1]
        b = net.readout.bias
        shift = shift_for(np.concatenate([alpha, b / 64]), mult_bits)
        layers.append(ReadoutLayer(name=name_r, in_features=n_in, out_features=net.readout.out_channels,
                                   weight=codes, weights=weights, mult=np.round(alpha * 2 ** shift).astype(np.int64),
                                   bias=np.round(b * 2 ** shift).astype(np.int64)))
    features = int(np.prod(input_shape))
    inp = InputSpec(features=features, bits=max(1, math.ceil(math.log2(input_max + 1))), max_value=int(input_max),
                    scale=1.0 / input_max, shape=tuple(int(d) for d in input_shape))
    return Bundle(name=name, T=int(T), input=inp, spike_bits=1, layers=tuple(layers), meta=meta or {})


def choose_membrane_bits(net: Network, x: np.ndarray, reference_classes: np.ndarray, *, candidates=MEMBRANE_BITS,
                         tolerance: float = 0.002, **kw) -> tuple[int, dict]:
    """Calibrate the membrane resolution on images ``x`` (the training split): the smallest
    candidate whose golden classes agree with ``reference_classes`` (the framework's) within
    ``tolerance`` of the best candidate.  Returns ``(bits, {bits: agreement})``."""
    agreement = {}
    for k in candidates:
        bundle = to_bundle(net, "calibration", membrane_bits=k, **kw)
        agreement[k] = float((run(bundle, x).classes == reference_classes).mean()) if len(x) else 1.0
    best = max(agreement.values())
    return next(k for k in candidates if agreement[k] >= best - tolerance), agreement
