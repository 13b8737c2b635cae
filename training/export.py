"""Export a trained HD-LIF network to an integer-model bundle (``golden.bundle``).

Folding (``docs/integer-semantics.md``), for an HD-LIF layer with input LSB ``s_in`` (the
pixel scale for the stem, the spike step for later layers), TWN scale ``alpha`` and
BatchNorm ``(gamma, beta, mu, var)``::

    I_c = A_c * acc_c + B_c,   A_c = gamma_c * alpha * s_in / sqrt(var_c + eps),
                               B_c = beta_c - gamma_c * mu_c / sqrt(var_c + eps)

Membranes are integers in units ``u = step / 2**frac``, so a spike code is the membrane
excess shifted right by ``frac``.  The current becomes ``(acc * mult + bias) >> shift`` with
``mult = round(A / u * 2**shift)`` on at most ``mult_bits`` signed bits and ``bias`` holding
``B / u`` plus the rounding half.  ``lambda_t`` is stored on ``lambda_frac`` fraction bits,
``theta_t`` in membrane units.  The readout keeps ``score = acc * mult + bias`` with
``mult = round(alpha * step * 2**shift)``, ``bias = round(b * 2**shift)``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from golden import HDLIFLayer, InputSpec, ReadoutLayer, run, save_bundle, write_vectors
from golden.bundle import Bundle, bundle_hash

from . import data
from .models import HDLIFMLP
from .train import evaluate, load_checkpoint


def _shift_for(values: np.ndarray, mult_bits: int, max_shift: int = 40) -> int:
    """Largest shift with ``max|round(values * 2**shift)| < 2**(mult_bits - 1)``."""
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    if peak == 0.0:
        return 0
    limit = 2 ** (mult_bits - 1) - 1
    shift = max_shift
    while shift > 0 and round(peak * 2 ** shift) > limit:
        shift -= 1
    return shift


def fold_hdlif(block, name: str, s_in: float, *, step: float, frac: int, lambda_frac: int,
               mult_bits: int, max_code: int, direct: bool) -> HDLIFLayer:
    q = block.linear.quantized()
    bn = block.bn
    g = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().double().numpy()
    A = g * float(q.alpha) * s_in
    B = (bn.bias.detach().double().numpy() - g * bn.running_mean.detach().double().numpy())
    u = step / 2 ** frac
    shift = _shift_for(A / u, mult_bits)
    mult = np.round(A / u * 2 ** shift).astype(np.int64)
    bias = np.round(B / u * 2 ** shift).astype(np.int64) + ((1 << shift) >> 1)
    neuron = block.neuron
    lam = np.round(neuron.lambda_t.detach().double().numpy() * 2 ** lambda_frac).astype(np.int64)
    theta = np.round(neuron.theta_t.detach().double().numpy() / u).astype(np.int64)
    return HDLIFLayer(name=name, in_features=block.linear.in_features,
                      out_features=block.linear.out_features, weight=q.codes.numpy().astype(np.int8),
                      mult=mult, bias=bias, shift=shift, lambda_t=lam, theta_t=theta,
                      lambda_frac=lambda_frac, frac=frac, max_code=max_code, direct=direct)


def fold_readout(linear, name: str, s_in: float, *, mult_bits: int) -> ReadoutLayer:
    q = linear.quantized()
    A = np.full(linear.out_features, float(q.alpha) * s_in)
    b = linear.bias.detach().double().numpy()
    shift = _shift_for(np.concatenate([A, b / 64]), mult_bits)
    return ReadoutLayer(name=name, in_features=linear.in_features, out_features=linear.out_features,
                        weight=q.codes.numpy().astype(np.int8),
                        mult=np.round(A * 2 ** shift).astype(np.int64),
                        bias=np.round(b * 2 ** shift).astype(np.int64))


def to_bundle(model: HDLIFMLP, name: str, *, frac: int = 8, lambda_frac: int = 12,
              mult_bits: int = 18, meta: dict | None = None) -> Bundle:
    cfg = model.cfg
    max_code = 2 ** cfg.spike_bits - 1
    layers, s_in = [], cfg.input_scale
    for i, block in enumerate(model.blocks):
        layers.append(fold_hdlif(block, f"fc{i + 1}", s_in, step=cfg.spike_step, frac=frac,
                                 lambda_frac=lambda_frac, mult_bits=mult_bits, max_code=max_code,
                                 direct=(i == 0)))
        s_in = cfg.spike_step
    layers.append(fold_readout(model.classifier, f"fc{len(model.blocks) + 1}", s_in, mult_bits=mult_bits))
    inp = InputSpec(features=cfg.in_features, bits=max(1, math.ceil(math.log2(cfg.input_max + 1))),
                    max_value=cfg.input_max, scale=cfg.input_scale)
    return Bundle(name=name, T=cfg.T, input=inp, spike_bits=cfg.spike_bits, layers=tuple(layers),
                  meta=meta or {})


def export(run_dir: Path, *, frac: int = 8, lambda_frac: int = 12, mult_bits: int = 18) -> dict:
    """Write ``<run>/model/`` (the bundle), ``<run>/vectors.npz`` and ``<run>/export.json``."""
    run_dir = Path(run_dir)
    model, ckpt = load_checkpoint(run_dir)
    metrics_path = run_dir / "metrics.json"
    dataset = json.loads(metrics_path.read_text()).get("dataset", "digits") if metrics_path.is_file() else "digits"
    split = data.load(dataset)
    float_acc = evaluate(model, split.x_test, split.y_test)
    bundle = to_bundle(model, run_dir.name, frac=frac, lambda_frac=lambda_frac, mult_bits=mult_bits,
                       meta={"dataset": dataset, "float_test_accuracy": float_acc,
                             "split": "sklearn train_test_split(test_size=0.2, stratify, random_state=0)"})
    model_dir = run_dir / "model"
    digest = save_bundle(bundle, model_dir)
    t0 = time.time()
    golden = run(bundle, split.x_test)
    golden_seconds = time.time() - t0
    with torch.no_grad():
        float_pred = model(torch.from_numpy(split.x_test)).sum(0).argmax(1).numpy()
    report = {
        "dataset": dataset, "images": int(len(split.x_test)),
        "float_accuracy": float_acc,
        "golden_accuracy": float((golden.classes == split.y_test).mean()),
        "agreement": float((golden.classes == float_pred).mean()),
        "golden_seconds": golden_seconds, "bundle": str(model_dir), "bundle_sha256": digest,
    }
    write_vectors(bundle, model_dir, split.x_test, split.y_test, run_dir / "vectors.npz")
    (run_dir / "export.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.split("\n")[0])
    p.add_argument("run_dir", type=Path)
    a = p.parse_args(argv)
    r = export(a.run_dir)
    print(f"float accuracy {r['float_accuracy']:.4f}, golden accuracy {r['golden_accuracy']:.4f}, "
          f"agreement {r['agreement']:.4f} -> {r['bundle']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
