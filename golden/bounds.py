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


def acc_range(weight: np.ndarray, in_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-output bounds of ``sum_i w[n, i] * x[i]`` for ternary ``w`` and ``0 <= x <= in_max``."""
    w = weight.astype(np.int64)
    return -(w < 0).sum(axis=1) * in_max, (w > 0).sum(axis=1) * in_max


def _affine_range(lo, hi, mult, bias):
    a, b = lo * mult + bias, hi * mult + bias
    return np.minimum(a, b), np.maximum(a, b)


def hdlif_widths(weight, in_max, mult, bias, shift, lambda_t, theta_t, lambda_frac, frac, T) -> dict:
    acc_lo, acc_hi = acc_range(weight, in_max)
    prod_lo, prod_hi = _affine_range(acc_lo, acc_hi, mult.astype(np.int64), bias.astype(np.int64))
    cur_lo, cur_hi = prod_lo >> shift, prod_hi >> shift
    half = 1 << (lambda_frac - 1)
    v_lo = np.zeros_like(cur_lo)
    v_hi = np.zeros_like(cur_hi)
    m_min = m_max = leak_min = leak_max = 0
    s_max = 0
    for t in range(T):
        lam, theta = int(lambda_t[t]), int(theta_t[t])
        p_lo, p_hi = np.minimum(lam * v_lo, lam * v_hi), np.maximum(lam * v_lo, lam * v_hi)
        leak_min, leak_max = min(leak_min, int(p_lo.min())), max(leak_max, int(p_hi.max()))
        m_lo, m_hi = ((p_lo + half) >> lambda_frac) + cur_lo, ((p_hi + half) >> lambda_frac) + cur_hi
        m_min, m_max = min(m_min, int(m_lo.min())), max(m_max, int(m_hi.max()))
        s_max = max(s_max, int((m_hi - theta).max()))
        v_lo, v_hi = np.minimum(m_lo, theta), np.minimum(m_hi, theta)
    theta_lo, theta_hi = int(np.min(theta_t)), int(np.max(theta_t))
    lam_lo, lam_hi = int(np.min(lambda_t)), int(np.max(lambda_t))
    return {
        "acc_range": [int(acc_lo.min()), int(acc_hi.max())],
        "product_range": [int(prod_lo.min()), int(prod_hi.max())],
        "current_range": [int(cur_lo.min()), int(cur_hi.max())],
        "leak_range": [leak_min, leak_max],          # the product lambda_t * v
        "membrane_range": [min(m_min, theta_lo), max(m_max, theta_hi)],
        "fire_max": max(s_max, 0),
        "acc_bits": signed_bits(acc_lo.min(), acc_hi.max()),
        "mult_bits": signed_bits(int(mult.min()), int(mult.max())),
        "product_bits": signed_bits(prod_lo.min(), prod_hi.max()),
        "current_bits": signed_bits(cur_lo.min(), cur_hi.max()),
        "lambda_bits": signed_bits(lam_lo, lam_hi),
        "leak_bits": signed_bits(leak_min, leak_max),
        "membrane_bits": signed_bits(min(m_min, theta_lo), max(m_max, theta_hi)),
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
