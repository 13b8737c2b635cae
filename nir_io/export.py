"""A project network as a NIR graph (``make nir MODEL=<run>``), where NIR can express it.

What is written is the *integer* model of the run (its bundle), in float, in snnTorch's
convention (``dt = 1e-4``, ``r = tau / dt``, ``v_leak = 0``), so that every NIR reader that
follows it runs the same network up to the integer model's roundings:

* **Synapses** (``Affine`` / ``Conv2d``): ``weight = code * mult / 2**shift`` (divided by the
  input scale for the stem, whose input is ``pixel * input.scale``), ``bias = (bias - 2**(shift-1))
  / 2**shift``: the real-valued current that the integer requantizer rounds (half up) to its
  membrane units.  The membrane is in the layer's integer units.
* **LIF** layers: ``beta = lambda / 2**lambda_frac`` -> ``tau = dt / (1 - beta)``, ``r = tau / dt``
  (input gain 1); IF layers (``beta = 1``) -> ``nir.IF`` with ``r = 1`` (snnTorch's IF
  convention); ``v_threshold = theta - 0.5``: the integer model fires at ``m >= theta``, and on
  integer membranes ``m > theta - 0.5`` and ``m >= theta - 0.5`` are the same test, so strict and
  non-strict readers agree.  Reset to a value: ``v_reset``.
* **Reset by subtraction** (the LIF baseline's soft reset) has no NIR primitive: the node is
  written with ``v_reset = 0`` and ``metadata = {"reset": "subtract"}``; this project's importer
  takes it back with ``RESET=subtract``, other readers reset to 0 (a different neuron).
* **2x2 max pooling** of binary spikes is exactly ``SumPool2d`` (2x2, stride 2) followed by an IF
  neuron with threshold 0.5 and reset to 0: the window's sum is 0 or at least 1, and the IF's
  membrane is 0 again after every step (it fires and resets, or it received 0).
* The **readout**: a count readout writes nothing (the last LIF layer is the output, the class
  the neuron with most spikes over the ``T`` steps); a score readout is an ``Affine`` (``weight =
  code * mult``, ``bias``) whose outputs summed over the steps give the class.

Refused, with the reason: HD-LIF neurons (graded spikes and the P2-reset have no NIR
primitive), parameters that change with the step (Mem-BN currents, per-step leaks or
thresholds), and per-channel leaks mixing IF and LIF neurons in one layer.  The graph's
``metadata`` records the producer, ``T``, the input scale and encoding, ``dt`` and the fire rule.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: the step snnTorch's exporter writes (``export_nir.py``): tau = dt / (1 - beta), r = tau / dt
DT = 1e-4


class NIRExportError(ValueError):
    """A network NIR cannot express exactly.  One line: the layer and why."""


def _per_step_constant(layer, name: str, a: np.ndarray) -> np.ndarray:
    """``[T]`` or ``[T, O]`` -> ``[O]`` (one value per neuron channel), refused if it changes with ``t``."""
    a = np.asarray(a)
    if not (a == a[:1]).all():
        raise NIRExportError(f"layer {layer.name}: {name} changes with the time step; a NIR neuron has one "
                             f"value per neuron for every step")
    row = a[0]
    return np.broadcast_to(row, (layer.channels,)).astype(np.float64) if np.ndim(row) == 0 else row.astype(np.float64)


def _synapse(layer, s_in: float):
    import nir

    if layer.step_dependent_current:
        raise NIRExportError(f"layer {layer.name}: its current scale changes with the time step (Mem-BN); a NIR "
                             f"synapse has one weight for every step")
    scale = layer.mult.astype(np.float64) / 2.0 ** layer.shift / s_in
    half = (1 << layer.shift) >> 1
    bias = (layer.bias.astype(np.float64) - half) / 2.0 ** layer.shift
    w = layer.weight.astype(np.float64)
    if layer.kind == "hdlif_conv":
        w = w * scale[:, None, None, None]
        return nir.Conv2d(input_shape=tuple(layer.in_shape[1:]), weight=w, stride=layer.stride,
                          padding=layer.padding, dilation=1, groups=1, bias=bias)
    return nir.Affine(weight=w * scale[:, None], bias=bias)


def _neuron(layer, dt: float):
    import nir

    if layer.neuron != "lif":
        raise NIRExportError(f"layer {layer.name}: {layer.neuron} HD-LIF neurons fire graded spikes and reset "
                             f"with P2-reset, which have no NIR primitive (NIR's LIF and IF fire binary spikes); "
                             f"only LIF networks (NEURON=lif, or imported ones) are written as NIR")
    lam = _per_step_constant(layer, "lambda_t", layer.lambda_t) / 2.0 ** layer.lambda_frac
    theta = _per_step_constant(layer, "theta_t", layer.theta_t)
    shape = layer.conv_shape if layer.kind == "hdlif_conv" else (layer.out_features,)
    per_neuron = (lambda a: np.broadcast_to(a.reshape((-1,) + (1,) * (len(shape) - 1)), shape).copy())
    v_th = per_neuron(theta - 0.5)
    v_reset = np.full(shape, float(layer.v_reset if layer.reset == "value" else 0))
    meta = {"reset": "subtract"} if layer.reset == "subtract" else {}
    if (lam == 1).all():
        return nir.IF(r=np.ones(shape), v_threshold=v_th, v_reset=v_reset, metadata=meta)
    if (lam >= 1).any() or (lam < 0).any():
        raise NIRExportError(f"layer {layer.name}: leaks {sorted(set(lam.tolist()))} mix integrate-and-fire "
                             f"(lambda = 1) and leaky neurons or leave [0, 1); NIR needs one kind per node")
    tau = per_neuron(dt / (1.0 - lam))
    return nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros(shape), v_threshold=v_th, v_reset=v_reset, metadata=meta)


def to_nir(bundle, *, dt: float = DT):
    """The bundle's network as a ``nir.NIRGraph`` (raises :class:`NIRExportError`)."""
    import nir

    nodes, order = {}, []

    def add(name, node):
        nodes[name] = node
        order.append(name)

    add("input", nir.Input(input_type={"input": np.array(bundle.input.shape)}))
    s_in = bundle.input.scale
    shape = tuple(bundle.input.shape)
    for layer in bundle.hdlif_layers:
        if layer.kind != "hdlif_conv" and len(shape) > 1:
            add(f"{layer.name}_flatten", nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1))
        add(layer.name, _synapse(layer, s_in))
        add(f"{layer.name}_neuron", _neuron(layer, dt))
        if layer.kind == "hdlif_conv" and layer.pool == 2:
            add(f"{layer.name}_pool", nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                                   padding=np.array([0, 0])))
            out = tuple(layer.out_shape)
            add(f"{layer.name}_pool_or", nir.IF(r=np.ones(out), v_threshold=np.full(out, 0.5), v_reset=np.zeros(out)))
        shape = tuple(layer.out_shape) if layer.kind == "hdlif_conv" else (layer.out_features,)
        s_in = 1.0                                            # binary spikes
    ro = bundle.readout
    if ro.mode == "score":
        if len(shape) > 1:
            add("readout_flatten", nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1))
        add(ro.name, nir.Affine(weight=ro.weight.astype(np.float64) * ro.mult.astype(np.float64)[:, None],
                                bias=ro.bias.astype(np.float64)))
        out_shape = (ro.out_features,)
    else:
        out_shape = shape
    add("output", nir.Output(output_type={"output": np.array(out_shape)}))
    edges = list(zip(order[:-1], order[1:]))
    meta = {"producer": "hdlif-fpga", "bundle": bundle.name, "T": int(bundle.T), "dt": dt,
            "input_scale": float(bundle.input.scale), "input_max": int(bundle.input.max_value),
            "encoding": "direct: the input pixel * input_scale at each of the T steps",
            "fire": "v > v_threshold = theta - 0.5 (the integer model's m >= theta on integer membranes)",
            "readout": "spike count of the output neurons over T steps" if ro.mode == "count"
                       else "the output values summed over T steps",
            "class": "argmax, lowest index on a tie"}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def write(bundle, path: Path, *, dt: float = DT) -> Path:
    """Write ``to_nir(bundle)`` to ``path`` atomically (``nir.write`` into a temporary file, renamed)."""
    import nir

    from golden.atomic import atomic_path

    graph = to_nir(bundle, dt=dt)
    with atomic_path(path) as tmp:
        nir.write(tmp, graph)
    return Path(path)
