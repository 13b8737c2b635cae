"""The imported network as its source framework runs it: the other side of the agreement check.

Both frameworks see what the integer model sees: direct encoding, the input ``pixel / input_max``
at each of the ``T`` steps, the neurons starting from rest; the class is the argmax of the
output summed over the steps (spike counts, or the scores of a final ``Affine``), the lowest
index on a tie, as the golden model decides it.

``snntorch``: snnTorch's own modules, built from the graph node by node as
``snntorch.import_nir.import_from_nir`` builds them: ``nn.Linear`` / ``nn.Conv2d`` /
``nn.Flatten`` / ``nn.AvgPool2d`` (a ``SumPool2d`` is the average times the window), and for
every neuron node ``snn.Leaky(beta = 1 - dt / tau, threshold, reset_mechanism = "zero" |
"subtract", reset_delay=False)`` after its input gain.  (``import_from_nir`` itself takes one
threshold per node, resets only to zero and builds an IF as ``Leaky(beta=0.9)``: the
per-neuron thresholds, ``RESET=subtract`` and the IF need the modules built here; they are
the same modules, with the same forward pass.)

``spikingjelly``: ``spikingjelly.activation_based.nir_exchange.import_from_nir(graph, dt)``
itself, stepped with its returned state.
"""

from __future__ import annotations

import logging

import numpy as np

from .discretize import discretize, reset_for
from .graph import NIRImportError
from .layers import Network

#: images per forward batch
BATCH = 500


def _snntorch_modules(nodes, net: Network):
    import nir
    import snntorch as snn
    import torch
    from torch import nn

    class Gain(nn.Module):
        def __init__(self, gain):
            super().__init__()
            self.register_buffer("gain", torch.as_tensor(gain, dtype=torch.float32))

        def forward(self, x):
            return x * self.gain.reshape(x.shape[1:]) if self.gain.numel() == x[0].numel() else x * self.gain

    class Neuron(nn.Module):
        """``snn.Leaky`` with the node's per-neuron beta and threshold shaped like its input."""

        def __init__(self, neuron):
            super().__init__()
            self.n = neuron
            self.lif = None

        def build(self, x):
            shape = tuple(x.shape[1:])
            f = lambda a: torch.as_tensor(np.broadcast_to(a, shape) if a.size != int(np.prod(shape))  # noqa: E731
                                          else a.reshape(shape), dtype=torch.float32)
            self.gain = f(self.n.gain)
            self.lif = snn.Leaky(beta=f(self.n.leak), threshold=f(self.n.threshold),
                                 reset_mechanism="subtract" if self.n.reset == "subtract" else "zero",
                                 reset_delay=False, init_hidden=False)

        def forward(self, x, mem):
            if self.lif is None:
                self.build(x)
            if mem is None:
                mem = torch.zeros_like(x)
            return self.lif(x * self.gain, mem)

    mods = []
    for name, node in nodes[1:-1]:
        if isinstance(node, (nir.Affine, nir.Linear)):
            w = torch.as_tensor(np.asarray(node.weight), dtype=torch.float32)
            m = nn.Linear(w.shape[1], w.shape[0], bias=isinstance(node, nir.Affine))
            m.weight.data = w
            if isinstance(node, nir.Affine):
                m.bias.data = torch.as_tensor(np.asarray(node.bias), dtype=torch.float32).reshape(-1)
        elif isinstance(node, nir.Conv2d):
            w = torch.as_tensor(np.asarray(node.weight), dtype=torch.float32)
            pad = node.padding.decode() if isinstance(node.padding, bytes) else node.padding
            pad = pad if isinstance(pad, str) else tuple(int(p) for p in np.asarray(pad).reshape(-1))
            m = nn.Conv2d(w.shape[1], w.shape[0], kernel_size=tuple(w.shape[-2:]),
                          stride=tuple(int(s) for s in np.asarray(node.stride).reshape(-1)), padding=pad)
            m.weight.data = w
            m.bias.data = torch.as_tensor(np.asarray(node.bias), dtype=torch.float32).reshape(-1)
        elif isinstance(node, nir.Flatten):
            s, e = int(node.start_dim), int(node.end_dim)
            m = nn.Flatten(s + 1 if s >= 0 else s, e + 1 if e >= 0 else e)
        elif isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
            k = tuple(int(v) for v in np.broadcast_to(np.asarray(node.kernel_size).reshape(-1), (2,)))
            s = tuple(int(v) for v in np.broadcast_to(np.asarray(node.stride).reshape(-1), (2,)))
            pool = nn.AvgPool2d(k, s)
            m = pool if isinstance(node, nir.AvgPool2d) else nn.Sequential(pool, Gain(float(k[0] * k[1])))
        elif isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF)):
            m = Neuron(discretize(name, node, dt=net.dt, framework="snntorch",
                                  reset=reset_for(node, net.reset_setting)))
        else:
            raise NIRImportError(f"node '{name}': no snnTorch module for {type(node).__name__}")
        mods.append(m)
    return mods


def _run_snntorch(nodes, net: Network, x: np.ndarray, T: int) -> np.ndarray:
    import torch

    mods = _snntorch_modules(nodes, net)
    total = None
    with torch.no_grad():
        xt = torch.as_tensor(x, dtype=torch.float32)
        mems = [None] * len(mods)
        for _ in range(T):
            h = xt
            for i, m in enumerate(mods):
                if hasattr(m, "lif"):
                    h, mems[i] = m(h, mems[i])
                else:
                    h = m(h)
            total = h.double() if total is None else total + h.double()
    return total.reshape(len(x), -1).numpy()


def _run_spikingjelly(graph, net: Network, x: np.ndarray, T: int) -> np.ndarray:
    import torch

    logging.getLogger("torch._library.triton").setLevel(logging.ERROR)   # "Triton not available" on CPU
    try:
        from loguru import logger
        logger.disable("spikingjelly")
    except ImportError:
        pass
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    try:
        gm = import_from_nir(graph, dt=net.dt)
    except Exception as e:  # noqa: BLE001 - its refusal, in one line
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NIRImportError(f"SpikingJelly's import_from_nir refuses the graph: {text}") from None
    total = None
    with torch.no_grad():
        xt = torch.as_tensor(x, dtype=torch.float32)
        state = None
        for _ in range(T):
            out, state = gm(xt, state)
            total = out.double() if total is None else total + out.double()
    return total.reshape(len(x), -1).numpy()


def forward(graph, nodes, net: Network, images: np.ndarray, *, input_max: int, T: int) -> np.ndarray:
    """The framework's output summed over ``T`` steps, ``[N, classes]`` (float64), for integer
    ``images`` ``[N, features]`` (direct encoding ``pixel / input_max``)."""
    x = np.asarray(images, np.float64) / input_max
    x = x.reshape((len(x),) + tuple(net.input_shape))
    run = _run_spikingjelly if net.framework == "spikingjelly" else _run_snntorch
    src = graph if net.framework == "spikingjelly" else nodes
    parts = [run(src, net, x[i:i + BATCH], T) for i in range(0, len(x), BATCH)]
    return np.concatenate(parts) if parts else np.zeros((0, net.classes))


def classes(totals: np.ndarray) -> np.ndarray:
    """The class of each row: the argmax, the lowest index on a tie (as the golden model)."""
    return np.argmax(totals, axis=1) if len(totals) else np.zeros(0, np.int64)
