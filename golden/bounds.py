"""Bit-width analysis: sound interval bounds on every accumulator, current and membrane.

The widths recorded in a bundle come from here, so the hardware never overflows: every value
the golden executor can produce for *any* input of the declared range fits its width.  The
membrane bound follows the P2-reset recursion exactly, one time step at a time, per neuron.
"""

from __future__ import annotations

import numpy as np


def signed_bits(lo: int, hi: int) -> int:
    """Smallest two's-complement width holding every integer in ``[lo, hi]``."""
    lo, hi = int(lo), int(hi)
    n = 1
    while not (-(1 << (n - 1)) <= lo and hi <= (1 << (n - 1)) - 1):
        n += 1
    return n


def shift_for(values: np.ndarray, mult_bits: int, max_shift: int = 40) -> int:
    """The requantizer's fixed point: the largest ``shift`` with
    ``max|round(values * 2**shift)| < 2**(mult_bits - 1)`` (``mult = round(values * 2**shift)``)."""
    peak = float(np.max(np.abs(values))) if np.size(values) else 0.0
    if peak == 0.0:
        return 0
    limit = 2 ** (mult_bits - 1) - 1
    shift = max_shift
    while shift > 0 and round(peak * 2 ** shift) > limit:
        shift -= 1
    return shift


def acc_range(weight: np.ndarray, in_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-output bounds of ``sum_i w[n, i] * x[i]`` for integer ``w`` and ``0 <= x <= in_max``.

    ``weight`` is ``[out, fan_in]`` (a conv kernel flattened per output channel; zero padding
    only removes terms, so it cannot widen the range).
    """
    w = weight.reshape(weight.shape[0], -1).astype(np.int64)
    return np.minimum(w, 0).sum(axis=1) * in_max, np.maximum(w, 0).sum(axis=1) * in_max


def _affine_range(lo, hi, mult, bias):
    a, b = lo * mult + bias, hi * mult + bias
    return np.minimum(a, b), np.maximum(a, b)


def _reset_range(m_lo, m_hi, theta, neuron: str, reset: str, v_reset: int):
    """Bounds of the residual membrane ``v`` after the fire step, per neuron."""
    if neuron != "lif":                                   # P2-reset: v = min(m, theta)
        return np.minimum(m_lo, theta), np.minimum(m_hi, theta)
    # without a spike (m < theta): v = m; with one (m >= theta): v_reset, or m - theta
    quiet = m_lo < theta
    fired = m_hi >= theta
    big = np.iinfo(np.int64)
    q_lo, q_hi = np.where(quiet, m_lo, big.max), np.where(quiet, np.minimum(m_hi, theta - 1), big.min)
    if reset == "subtract":
        f_lo, f_hi = np.maximum(m_lo, theta) - theta, m_hi - theta
    else:
        f_lo = f_hi = np.full_like(m_lo, v_reset)
    f_lo, f_hi = np.where(fired, f_lo, big.max), np.where(fired, f_hi, big.min)
    return np.minimum(q_lo, f_lo), np.maximum(q_hi, f_hi)


def _steps(a, T: int, n: int) -> np.ndarray:
    """``lambda_t`` / ``theta_t`` (``[T]`` or ``[T, n]``) as ``[T, n]``."""
    a = np.asarray(a, np.int64)
    return a if a.ndim == 2 else np.broadcast_to(a[:, None], (T, n))


def current_ranges(acc_lo, acc_hi, mult, bias, shift, T: int) -> dict:
    """The requantizer on ``acc`` in ``[acc_lo, acc_hi]`` (per channel): per step and channel the
    current's bounds ``lo``, ``hi`` (``[T, n]``) and the product's and current's extremes."""
    n = np.shape(acc_lo)[0]
    mult_t = np.broadcast_to(np.asarray(mult, np.int64), (T, n)) if np.ndim(mult) == 1 else np.asarray(mult, np.int64)
    bias_t = np.broadcast_to(np.asarray(bias, np.int64), (T, n)) if np.ndim(bias) == 1 else np.asarray(bias, np.int64)
    lo, hi, prod = [], [], []
    for t in range(T):
        p_lo, p_hi = _affine_range(acc_lo, acc_hi, mult_t[t], bias_t[t])
        prod += [int(p_lo.min()), int(p_hi.max())]
        lo.append(p_lo >> shift)
        hi.append(p_hi >> shift)
    lo, hi = np.stack(lo), np.stack(hi)
    return {"lo": lo, "hi": hi, "product_range": [min(prod), max(prod)],
            "current_range": [int(lo.min()), int(hi.max())],
            "mult_bits": signed_bits(int(mult_t.min()), int(mult_t.max()))}


def neuron_ranges(c_lo, c_hi, lambda_t, theta_t, lambda_frac: int, T: int, *, neuron: str = "vanilla",
                  reset: str = "value", v_reset: int = 0) -> dict:
    """The membrane recursion for currents in ``[c_lo[t], c_hi[t]]`` (``[T, n]``), one time step at
    a time, per neuron: the leak product, the charged membrane and the fire amount's bounds."""
    n = c_lo.shape[1]
    lam_t, th_t = _steps(lambda_t, T, n), _steps(theta_t, T, n)
    half = 1 << (lambda_frac - 1)
    v_lo = np.zeros(n, np.int64)
    v_hi = np.zeros(n, np.int64)
    m_min = m_max = leak_min = leak_max = 0
    s_max = 0
    for t in range(T):
        lam, theta = lam_t[t], th_t[t]
        l_lo, l_hi = np.minimum(lam * v_lo, lam * v_hi), np.maximum(lam * v_lo, lam * v_hi)
        leak_min, leak_max = min(leak_min, int(l_lo.min())), max(leak_max, int(l_hi.max()))
        m_lo, m_hi = ((l_lo + half) >> lambda_frac) + c_lo[t], ((l_hi + half) >> lambda_frac) + c_hi[t]
        m_min, m_max = min(m_min, int(m_lo.min())), max(m_max, int(m_hi.max()))
        s_max = max(s_max, int((m_hi - theta).max()))
        v_lo, v_hi = _reset_range(m_lo, m_hi, theta, neuron, reset, v_reset)
        if neuron == "lif":       # the residuals are membranes too (a subtraction's m - theta, v_reset)
            m_min, m_max = min(m_min, int(v_lo.min()), v_reset), max(m_max, int(v_hi.max()), v_reset)
    theta_lo, theta_hi = int(th_t.min()), int(th_t.max())
    lam_lo, lam_hi = int(lam_t.min()), int(lam_t.max())
    return {
        "leak_range": [leak_min, leak_max],          # the product lambda_t * v
        "membrane_range": [min(m_min, theta_lo), max(m_max, theta_hi)],
        "fire_max": max(s_max, 0),
        "lambda_bits": signed_bits(lam_lo, lam_hi),
        "leak_bits": signed_bits(leak_min, leak_max),
        "membrane_bits": signed_bits(min(m_min, theta_lo), max(m_max, theta_hi)),
    }


def hdlif_widths(weight, in_max, mult, bias, shift, lambda_t, theta_t, lambda_frac, frac, T, *,
                 neuron: str = "vanilla", reset: str = "value", v_reset: int = 0) -> dict:
    """Bounds per output channel, following the reset recursion one time step at a time.

    ``mult``/``bias`` are ``[O]`` or ``[T, O]``; ``lambda_t``/``theta_t`` are ``[T]`` or ``[T, O]``.
    ``neuron = "lif"`` follows the LIF reset (to ``v_reset`` or by subtraction) instead of P2.
    """
    acc_lo, acc_hi = acc_range(weight, in_max)
    cur = current_ranges(acc_lo, acc_hi, mult, bias, shift, T)
    neu = neuron_ranges(cur["lo"], cur["hi"], lambda_t, theta_t, lambda_frac, T, neuron=neuron, reset=reset,
                        v_reset=v_reset)
    prod_min, prod_max = cur["product_range"]
    cur_min, cur_max = cur["current_range"]
    return {
        "acc_range": [int(acc_lo.min()), int(acc_hi.max())],
        "product_range": [prod_min, prod_max],
        "current_range": [cur_min, cur_max],
        "leak_range": neu["leak_range"],
        "membrane_range": neu["membrane_range"],
        "fire_max": neu["fire_max"],
        "acc_bits": signed_bits(acc_lo.min(), acc_hi.max()),
        "mult_bits": cur["mult_bits"],
        "product_bits": signed_bits(prod_min, prod_max),
        "current_bits": signed_bits(cur_min, cur_max),
        "lambda_bits": neu["lambda_bits"],
        "leak_bits": neu["leak_bits"],
        "membrane_bits": neu["membrane_bits"],
    }


def readout_widths(weight, in_max, mult, bias, T) -> dict:
    acc_lo, acc_hi = acc_range(weight, in_max)
    s_lo, s_hi = _affine_range(acc_lo, acc_hi, mult.astype(np.int64), bias.astype(np.int64))
    return {
        "acc_range": [int(acc_lo.min()), int(acc_hi.max())],
        "score_range": [int(s_lo.min()), int(s_hi.max())],
        "acc_bits": signed_bits(acc_lo.min(), acc_hi.max()),
        "mult_bits": signed_bits(int(mult.min()), int(mult.max())),
        "score_bits": signed_bits(s_lo.min(), s_hi.max()),
        "sum_bits": signed_bits(T * int(s_lo.min()), T * int(s_hi.max())),
    }
