"""Operation counts of a float network, the same definitions as the integer model's
(:func:`report.analysis.operations`), so that networks with no integer form (float spikes,
full-precision weights: the ablations) get the same columns.

``sops``: pairs (non-zero input, non-zero weight) per inference, counted per output they reach
(a convolution of the two masks); ``dense_macs``: every input x every weight.  The stem reads the
pixels once per image; every further layer and the classifier read spikes at each of the ``T``
steps (the forward of :class:`~training.models.SpikingNet`: each synapse runs once per call).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .layers import QConv2d, QLinear
from .quant import QUANTIZERS


def _pairs(module: nn.Module, x_nz: torch.Tensor, w_nz: torch.Tensor) -> torch.Tensor:
    """Per image: the count of (input, weight) pairs with both non-zero, over every output."""
    if isinstance(module, QConv2d):
        y = nn.functional.conv2d(x_nz, w_nz, None, module.stride, module.padding)
    else:
        y = x_nz.flatten(1) @ w_nz.t()
    return y.flatten(1).sum(1)


@torch.no_grad()
def synaptic_operations(model: nn.Module, pixels: np.ndarray, batch: int = 500) -> dict:
    """Per-layer and total ``sops`` (mean over the images) and ``dense_macs`` per inference of a
    :class:`~training.models.SpikingNet` in evaluation mode, on ``pixels`` ``[N, features]``."""
    layers = [m for m in model.modules() if isinstance(m, (QConv2d, QLinear))]
    counts = {id(m): {"sops": 0.0, "dense": 0.0} for m in layers}

    def hook(module, inputs, _out):
        x = inputs[0]
        w = QUANTIZERS[module.quant](module.weight).weight
        c = counts[id(module)]
        c["sops"] += float(_pairs(module, (x != 0).to(w.dtype), (w != 0).to(w.dtype)).sum())
        c["dense"] += float(_pairs(module, torch.ones_like(x[:1]), torch.ones_like(w))[0])

    handles = [m.register_forward_hook(hook) for m in layers]
    model.eval()
    try:
        n = 0
        for i in range(0, len(pixels), batch):
            model(torch.from_numpy(np.ascontiguousarray(pixels[i:i + batch])))
            n += len(pixels[i:i + batch])
    finally:
        for h in handles:
            h.remove()
    calls = max(n, 1)
    rows = []
    for i, m in enumerate(layers):
        c = counts[id(m)]
        per_batch_calls = -(-calls // batch)                  # dense counted once per forward call
        rows.append({"name": f"layer{i + 1}", "stem": i == 0, "weights": m.quant, "sops": c["sops"] / calls,
                     "dense_macs": c["dense"] / per_batch_calls})
    return {"layers": rows, "sops": sum(r["sops"] for r in rows),
            "dense_macs": sum(r["dense_macs"] for r in rows), "images": int(n)}
