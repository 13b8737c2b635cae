"""NIR's continuous-time neurons as the discrete-time neurons a framework runs, and ``dt``.

NIR writes ODEs; a framework that imports a graph picks a step ``dt`` and discretises them
(forward Euler).  The importer does what the graph's source framework does on its own import,
so the integer model and that framework's forward pass compute the same network:

``snntorch`` (``snntorch/import_nir.py``; ``export_nir.py`` writes ``tau = dt / (1 - beta)``,
``r = tau / dt``, ``v_leak = 0``, ``v_reset = 0`` with ``dt = 1e-4``):

* ``LIF``: ``beta = 1 - dt / tau`` (clamped to ``[0, 1]``, as ``Leaky`` does), input gain
  ``r * dt / tau`` (1 for snnTorch's own graphs; its import folds any other gain into the
  threshold, the same network for a reset to zero), fire ``v > threshold`` (strict).
* ``IF``: ``beta = 1``; snnTorch's import requires ``r = 1`` (gain 1).  (It builds
  ``Leaky(beta=0.9)`` for an IF node, a slip: the importer keeps ``beta = 1``.)
* ``CubaLIF`` only where the synaptic current has no memory, ``alpha = 1 - dt / tau_syn = 0``
  (``tau_syn = dt``): then it is a LIF with gain ``w_in * dt / tau_syn * r * dt / tau_mem``.
* reset: to ``v_reset`` (``Leaky(reset_mechanism="zero")``, so ``v_reset`` must be 0), or by
  subtraction with ``reset="subtract"`` (snnTorch's default, which NIR cannot express; ``RESET=``,
  or a node whose ``metadata`` says ``reset: subtract``, :func:`reset_for`).
  Both as ``reset_delay=False`` (the reset lands in the step that fires), what
  ``import_from_nir`` builds; snnTorch's default ``reset_delay=True`` is another neuron.

``spikingjelly`` (``activation_based/nir_exchange``; its export writes ``tau = tau_sj * dt``,
``r = 1`` (``decay_input=True``) or ``r = tau_sj``, ``v_leak = v_reset``; an IF ``r = 1 / dt``):

* ``LIF``: ``tau / dt > 1``, ``beta = 1 - dt / tau``, gain ``r * dt / tau`` (``r`` must be 1 or
  ``tau / dt``), fire ``v >= threshold``; ``v_leak`` must equal ``v_reset``.
* ``IF``: ``r = 1 / dt`` (gain 1), ``beta = 1``, any ``v_reset``.
* ``CubaLIF`` with ``tau_syn = dt``, ``r = tau_mem / dt``, ``w_in = tau_syn / dt``.
* One value of each parameter per node (its import's rule); hard resets only.

``dt`` is ``DT=`` when given, else the graph's own ``metadata["dt"]`` (this project's NIR export
writes it).  Otherwise it is inferred where the graph determines it under
the framework's convention: ``tau / r`` of every LIF (``r = tau / dt``), ``tau_mem / r`` of every
CubaLIF, and for SpikingJelly ``1 / r`` of every IF (its LIF with
``r = 1`` says nothing about ``dt``).  The values must agree (relative 1e-4; their median, to 6
significant digits, is ``dt``); a graph where none exists or they differ is refused, asking for
``DT=``.  A graph of snnTorch IF neurons only
needs no ``dt``.

Refused everywhere: ``v_leak != 0`` (the integer leak decays towards 0), ``v_reset``
differing within a node, a threshold ``<= 0``, a non-finite or non-positive time constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graph import NIRImportError, type_name

#: the frameworks whose import convention the importer follows
FRAMEWORKS = ("snntorch", "spikingjelly")
RESETS = ("value", "subtract")
#: relative tolerance for "equal" parameters read from float32 files
RTOL = 1e-4


@dataclass(frozen=True, kw_only=True)
class Convention:
    name: str
    title: str
    strict: bool                 # fire at v > threshold (else v >= threshold)
    resets: tuple                # the RESET= values its neurons can run
    uniform: bool                # one value per parameter and node (its import refuses others)


CONVENTIONS = {
    "snntorch": Convention(name="snntorch", title="snnTorch", strict=True, resets=("value", "subtract"),
                           uniform=False),
    "spikingjelly": Convention(name="spikingjelly", title="SpikingJelly", strict=False, resets=("value",),
                               uniform=True),
}


@dataclass(frozen=True, kw_only=True)
class Neuron:
    """A discrete-time LIF / IF neuron population (one NIR node), per neuron::

        m = leak * v + gain * I                 charge (I: the synapse's output)
        spike = m > threshold  (strict)   or   m >= threshold
        v = v_reset (reset "value")   or   m - threshold (reset "subtract")   after a spike; m otherwise
    """
    node: str
    kind: str                    # LIF | IF | CubaLIF
    leak: np.ndarray             # beta, per neuron (the parameter arrays' own shape)
    gain: np.ndarray
    threshold: np.ndarray
    v_reset: float
    reset: str
    strict: bool
    framework: str


def metadata(obj) -> dict:
    """A node's or graph's ``metadata`` as a dict of plain values (HDF5 gives bytes and numpy scalars)."""
    md = getattr(obj, "metadata", None)
    if not isinstance(md, dict):
        return {}
    out = {}
    for k, v in md.items():
        v = v.decode() if isinstance(v, bytes) else v
        v = v.item() if isinstance(v, np.generic) or (isinstance(v, np.ndarray) and v.ndim == 0) else v
        out[str(k)] = v.decode() if isinstance(v, bytes) else v
    return out


def reset_for(node, setting: str | None) -> str:
    """The reset of a neuron node: ``setting`` (``RESET=``) when given, else the graph's word: a
    node whose ``metadata`` says ``reset: subtract`` (NIR has no field for it) subtracts, any other
    resets to its ``v_reset``."""
    if setting is not None:
        return setting
    return "subtract" if metadata(node).get("reset") == "subtract" else "value"


def convention(framework: str) -> Convention:
    if framework not in CONVENTIONS:
        raise NIRImportError(f"--framework (FRAMEWORK=) must be one of {', '.join(FRAMEWORKS)}, not {framework!r}")
    return CONVENTIONS[framework]


def _arr(node, key: str) -> np.ndarray:
    return np.asarray(getattr(node, key), dtype=np.float64)


def _close(a, b) -> np.ndarray:
    return np.isclose(a, b, rtol=RTOL, atol=0.0)


def _candidates(name: str, node, framework: str) -> list[tuple[str, str, np.ndarray]]:
    """(node, what, values) whose values are dt under the framework's convention."""
    import nir

    out = []
    if isinstance(node, nir.LIF):
        r = _arr(node, "r")
        if framework == "snntorch" or not np.all(_close(r, 1.0)):
            out.append((name, "tau / r", _arr(node, "tau") / r))
    elif isinstance(node, nir.CubaLIF):
        out.append((name, "tau_mem / r", _arr(node, "tau_mem") / _arr(node, "r")))
    elif isinstance(node, nir.IF) and framework == "spikingjelly":
        out.append((name, "1 / r", 1.0 / _arr(node, "r")))
    return out


def needs_dt(nodes, framework: str) -> bool:
    import nir

    return any(isinstance(n, (nir.LIF, nir.CubaLIF)) or (isinstance(n, nir.IF) and framework == "spikingjelly")
               for _, n in nodes)


def infer_dt(nodes, framework: str, given: float | None, source: str, graph_dt=None) -> tuple[float | None, str]:
    """``(dt, how it was found)``; ``given`` (``DT=``) wins, then ``graph_dt`` (the graph's own
    ``metadata["dt"]``).  Refuses a graph that does not determine ``dt`` when its neurons need one."""
    if given is not None:
        if not (np.isfinite(given) and given > 0):
            raise NIRImportError(f"--dt (DT=) must be a time step in seconds > 0, not {given!r}")
        return float(given), "given (DT=)"
    if graph_dt is not None:
        try:
            value = float(graph_dt)
        except (TypeError, ValueError):
            value = float("nan")
        if not (np.isfinite(value) and value > 0):
            raise NIRImportError(f"{source}: the graph's metadata says dt = {graph_dt!r}, not a time step > 0: "
                                 f"give DT= (--dt)")
        return value, f"the graph's metadata: dt = {value:.6g}"
    if not needs_dt(nodes, framework):
        return None, "not needed (IF neurons only)"
    cands = [c for name, node in nodes for c in _candidates(name, node, framework)]
    conv = convention(framework)
    if not cands:
        raise NIRImportError(f"{source}: the graph does not determine dt under {conv.title}'s convention (every LIF has "
                             f"r = 1): give DT= (--dt), the step it was exported with (snnTorch and SpikingJelly "
                             f"write 1e-4)")
    values = np.concatenate([c[2].reshape(-1) for c in cands])
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        bad = next(c for c in cands if not (np.all(np.isfinite(c[2])) and np.all(c[2] > 0)))
        raise NIRImportError(f"{source}: the graph does not determine dt: {bad[1]} of node '{bad[0]}' is not a "
                             f"positive finite time: give DT= (--dt)")
    ref = float(f"{float(np.median(values)):.6g}")   # float32 files: tau / r is dt to about 1e-7
    for node, what, v in cands:
        off = ~_close(v, ref)
        if np.any(off):
            got = float(v.reshape(-1)[np.argmax(off.reshape(-1))])
            raise NIRImportError(f"{source}: the graph does not determine dt under {conv.title}'s convention: {what} "
                                 f"is {got:.6g} in node '{node}' but {ref:.6g} elsewhere: give DT= (--dt), the step "
                                 f"it was exported with")
    how = " and ".join(dict.fromkeys(f"{what}" for _, what, _ in cands))
    return ref, f"inferred: {how} = {ref:.6g} in every neuron"


def _refuse(name: str, node, why: str):
    raise NIRImportError(f"node '{name}' ({type_name(node)}): {why}")


def _uniform(name, node, key, values, conv: Convention) -> None:
    if conv.uniform and not np.all(_close(values, values.reshape(-1)[0])):
        _refuse(name, node, f"{key} differs between neurons; {conv.title}'s import takes one value per node "
                            f"(FRAMEWORK=snntorch takes one per neuron)")


def discretize(name: str, node, *, dt: float | None, framework: str, reset: str) -> Neuron:
    """The node's neuron as ``framework`` runs it with step ``dt`` (see the module docstring)."""
    import nir

    conv = convention(framework)
    if reset not in conv.resets:
        raise NIRImportError(f"node '{name}' ({type_name(node)}): a reset by subtraction (RESET=subtract, or the node's "
                             f"metadata) is not what {conv.title} runs: its neurons reset to a value (hard reset) "
                             f"only; a subtraction is for FRAMEWORK=snntorch")
    theta = _arr(node, "v_threshold")
    if not np.all(np.isfinite(theta)) or np.any(theta <= 0):
        _refuse(name, node, f"v_threshold must be > 0 (the membrane unit is a fraction of it), found "
                            f"{float(theta.min()):.6g}")
    v_reset = _arr(node, "v_reset") if getattr(node, "v_reset", None) is not None else np.zeros_like(theta)
    if not np.all(v_reset == v_reset.reshape(-1)[0]):
        _refuse(name, node, "v_reset differs between neurons; the integer model has one v_reset per layer")
    v0 = float(v_reset.reshape(-1)[0])
    if reset == "value" and framework == "snntorch" and v0 != 0.0:
        _refuse(name, node, f"v_reset = {v0:.6g}: snnTorch's neurons reset to 0 (reset_mechanism 'zero') or by "
                            f"subtraction (RESET=subtract)")
    for key in ("v_threshold",):
        _uniform(name, node, key, theta, conv)
    if isinstance(node, nir.IF):
        r = _arr(node, "r")
        _uniform(name, node, "r", r, conv)
        if framework == "snntorch" and not np.all(_close(r, 1.0)):
            _refuse(name, node, f"r = {float(r.reshape(-1)[0]):.6g}: snnTorch's import takes an IF with r = 1")
        if framework == "spikingjelly" and not np.all(_close(r * dt, 1.0)):
            _refuse(name, node, f"r = {float(r.reshape(-1)[0]):.6g}: SpikingJelly's import takes an IF with "
                                f"r = 1 / dt = {1 / dt:.6g}")
        leak, gain = np.ones_like(theta), np.ones_like(theta)
        kind = "IF"
    elif isinstance(node, (nir.LIF, nir.CubaLIF)):
        cuba = isinstance(node, nir.CubaLIF)
        tau = _arr(node, "tau_mem" if cuba else "tau")
        r, v_leak = _arr(node, "r"), _arr(node, "v_leak")
        if not np.all(np.isfinite(tau)) or np.any(tau <= 0):
            _refuse(name, node, "a time constant tau must be finite and > 0")
        if np.any(v_leak != 0):
            _refuse(name, node, f"v_leak = {float(v_leak.reshape(-1)[np.argmax(v_leak.reshape(-1) != 0)]):.6g} "
                                f"(not 0): the integer model's leak decays towards 0")
        if framework == "spikingjelly" and not cuba and v0 != 0.0:
            _refuse(name, node, f"v_reset = {v0:.6g} but v_leak = 0: SpikingJelly's import needs v_leak = v_reset")
        for key, values in (("tau", tau), ("r", r)):
            _uniform(name, node, key, values, conv)
        gain = r * dt / tau
        if framework == "spikingjelly":
            if np.any(tau / dt <= 1.0 + 1e-9):
                _refuse(name, node, f"tau / dt = {float((tau / dt).min()):.6g}: SpikingJelly's import needs "
                                    f"tau / dt > 1")
            if not cuba and not np.all(_close(r, 1.0) | _close(r, tau / dt)):
                _refuse(name, node, f"r = {float(r.reshape(-1)[0]):.6g}: SpikingJelly's import takes r = 1 or "
                                    f"r = tau / dt")
        if cuba:
            tau_syn, w_in = _arr(node, "tau_syn"), _arr(node, "w_in")
            alpha = 1.0 - dt / tau_syn
            if np.any(np.abs(alpha) > 1e-6):
                _refuse(name, node, f"a synaptic current with memory (alpha = 1 - dt/tau_syn = "
                                    f"{float(np.abs(alpha).max()):.4g}) is a second state per neuron; the integer model "
                                    f"has one (a CubaLIF maps only with tau_syn = dt)")
            if not np.all(_close(r, tau / dt)):
                _refuse(name, node, f"r = {float(r.reshape(-1)[0]):.6g}: {conv.title}'s import takes a CubaLIF with "
                                    f"r = tau_mem / dt")
            if framework == "spikingjelly" and not np.all(_close(w_in, tau_syn / dt)):
                _refuse(name, node, "w_in: SpikingJelly's import takes a CubaLIF with w_in = tau_syn / dt")
            gain = gain * w_in * dt / tau_syn
        leak = 1.0 - dt / tau
        if framework == "snntorch":
            leak = np.clip(leak, 0.0, 1.0)           # Leaky clamps beta to [0, 1]
        kind = "CubaLIF" if cuba else "LIF"
    else:
        raise NIRImportError(f"node '{name}' ({type_name(node)}) is not a neuron")
    shape = np.broadcast_shapes(leak.shape, gain.shape, theta.shape)
    b = lambda a: np.broadcast_to(a, shape).astype(np.float64)  # noqa: E731
    return Neuron(node=name, kind=kind, leak=b(leak), gain=b(gain), threshold=b(theta), v_reset=v0, reset=reset,
                  strict=conv.strict, framework=framework)
