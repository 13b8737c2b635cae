"""The facts of one run, for its page and for ``docs/results.md``.

:func:`analyse` reads a run folder (``model/`` bundle, ``vectors.npz``, and where present
``metrics.json``, ``eval.json`` / ``export.json``) and what the flow and the benchmarks wrote
about it (``build/<run>/{rtl,sim,hls,fpga}``, ``bench/results/*.json``, matched by the bundle's
hash or path), and returns a JSON-able dict.  ``analyse(..., tracked_only=True)`` (``docs/results.md``)
reads no build folder: only the run folder and the results files, what a fresh clone holds.

``network``     input, time steps, each layer's geometry, weights, neuron and zero weights
``accuracy_vs_t``  the golden model's accuracy on the vector images when the scores are summed
                over the first ``t`` steps only (``t = 1 .. T``; the last is the model's)
``spikes``      per HD-LIF layer and step: the fraction of non-zero output codes (after
                pooling: what the next layer reads) and the mean code
``ops``         per synaptic layer: synaptic operations per inference (non-zero input code x
                non-zero weight, counted from the golden trace), dense MACs (every input x every
                weight), neuron updates; the stem on the pixels once per image (direct encoding)
``energy``      :func:`report.energy.estimate` of those counts
``hardware``    cycles per block and resources per block (the generator's estimate for the
                folding the RTL was or would be built with), and what was measured
``verification``  float vs golden, RTL (Verilator) and HLS (C simulation) against the golden
                vectors: images checked, mismatches
``training``    accuracy and loss per epoch

Nothing is invented: a stage that has not run is reported as ``None`` / absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from golden import load_bundle
from golden.bundle import BundleError, HDLIFConvLayer, bundle_hash
from golden.executor import _exact_matmul, conv2d
from golden.vectors import load_vectors

from . import energy

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

#: images of the vector file the trace statistics use by default
DEFAULT_IMAGES = 500


def _read_json(path: Path) -> dict | None:
    """A JSON file, or None when absent; an unreadable one is an error naming the file."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not readable JSON ({e})") from None


def _shape(layer) -> dict:
    if isinstance(layer, HDLIFConvLayer):
        return {"in_shape": list(layer.in_shape), "conv_shape": list(layer.conv_shape),
                "out_shape": list(layer.out_shape), "kernel": layer.kernel, "stride": layer.stride,
                "padding": layer.padding, "pool": layer.pool, "out_channels": layer.out_channels}
    return {"in_shape": [layer.in_features], "out_shape": [layer.out_features]}


def _network(bundle) -> dict:
    layers = []
    for i, layer in enumerate(bundle.layers):
        w = np.asarray(layer.weight)
        fan_in = w.reshape(w.shape[0], -1)
        zero = fan_in == 0
        entry = {"name": layer.name, "kind": layer.kind, "weights": layer.weights, **_shape(layer),
                 "weight_shape": list(w.shape), "parameters": int(w.size),
                 "zero_weights": int(zero.sum()), "zero_fraction": float(zero.mean()) if w.size else 0.0,
                 "outputs_without_inputs": int(zero.all(axis=1).sum()),
                 "neurons": int(getattr(layer, "neurons", layer.out_features))}
        if not isinstance(layer, HDLIFConvLayer):
            entry["inputs_without_outputs"] = int(zero.all(axis=0).sum())
        if layer.kind != "readout_fc":
            entry.update(neuron=layer.neuron, stem=i == 0, direct=bool(layer.direct))
        layers.append(entry)
    inp = bundle.input
    return {"name": bundle.name, "T": bundle.T, "spike_bits": bundle.spike_bits, "classes": bundle.classes,
            "input": {"shape": list(inp.shape), "features": inp.features, "bits": inp.bits,
                      "max_value": inp.max_value},
            "layers": layers, "parameters": int(sum(l["parameters"] for l in layers)),
            "meta": {k: v for k, v in bundle.meta.items() if isinstance(v, (str, int, float, bool))}}


def accuracy_vs_t(scores: np.ndarray, labels: np.ndarray) -> list[float]:
    """Accuracy when the class is the argmax of the scores summed over steps ``0 .. t-1``."""
    scores = np.asarray(scores)
    if len(scores) == 0:
        return []
    cum = np.cumsum(scores, axis=1)
    return [float((np.argmax(cum[:, t], axis=1) == labels).mean()) for t in range(scores.shape[1])]


def spike_stats(bundle, vec: dict, n: int) -> dict:
    """Per HD-LIF layer: fraction of non-zero output codes and mean code, per time step."""
    out = {}
    for layer in bundle.hdlif_layers:
        key = f"codes.{layer.name}"
        if key not in vec:
            raise BundleError(f"vector file: missing array {key!r} (re-run `make vectors`)")
        c = np.asarray(vec[key][:n], np.int64)                  # [N, T, out_features]
        out[layer.name] = {"nonzero_fraction": [float((c[:, t] != 0).mean()) for t in range(c.shape[1])],
                           "mean_code": [float(c[:, t].mean()) for t in range(c.shape[1])],
                           "max_code": int(bundle.max_code), "outputs": int(c.shape[2])}
    return out


def _fan_ops(layer, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per row of ``x`` ([B, in_features], 0/1): the count of (input, weight) pairs with both 1."""
    if isinstance(layer, HDLIFConvLayer):
        acc = conv2d(x.reshape((len(x),) + tuple(layer.in_shape)), w, layer.stride, layer.padding)
        return acc.reshape(len(x), -1).sum(axis=1)
    return _exact_matmul(x, w.reshape(w.shape[0], -1).T).sum(axis=1)


def operations(bundle, vec: dict, n: int) -> dict:
    """Synaptic operations per inference from the golden trace of the first ``n`` vector images.

    ``sops``: pairs (non-zero input, non-zero weight), what an event-driven design that skips
    zero codes and zero weights performs; ``dense_macs``: every input x every weight (what a
    dense schedule performs).  The stem (first layer) reads the pixels once per image; every
    further layer and the readout read the previous layer's codes at each of the ``T`` steps.
    """
    T = bundle.T
    images = np.asarray(vec["images"][:n], np.int64)
    hd = bundle.hdlif_layers
    rows = []
    for i, layer in enumerate(bundle.layers):
        w_nz = (np.asarray(layer.weight) != 0).astype(np.int64)
        w_all = np.ones_like(w_nz)
        one = np.ones((1, layer.in_features), np.int64)
        if i == 0:
            sops = float(_fan_ops(layer, (images != 0).astype(np.int64), w_nz).mean()) if n else 0.0
            dense = int(_fan_ops(layer, one, w_all)[0])
            per_step = None
        else:
            codes = np.asarray(vec[f"codes.{hd[i - 1].name}"][:n], np.int64)
            per_step = [float(_fan_ops(layer, (codes[:, t] != 0).astype(np.int64), w_nz).mean()) if n else 0.0
                        for t in range(T)]
            sops = float(sum(per_step))
            dense = T * int(_fan_ops(layer, one, w_all)[0])
        readout = layer.kind == "readout_fc"
        rows.append({"name": layer.name, "weights": layer.weights, "stem": i == 0, "sops": sops,
                     "sops_per_step": per_step, "dense_macs": dense,
                     "neuron": None if readout else layer.neuron,
                     "neuron_updates": T * (layer.out_features if readout else layer.neurons)})
    return {"layers": rows, "sops": float(sum(r["sops"] for r in rows)),
            "dense_macs": int(sum(r["dense_macs"] for r in rows)),
            "neuron_updates": int(sum(r["neuron_updates"] for r in rows)), "images": int(n),
            "counted": "synaptic operation = (non-zero input code or pixel) x (non-zero weight), from the "
                       "golden trace; the stem once per image (direct encoding), other layers and the "
                       "readout at each of the T steps"}


# ---------------------------------------------------------------------------------------------
# What the flow and the benchmarks measured


def _same_path(a, b: Path) -> bool:
    try:
        pa = Path(a)
        pa = pa if pa.is_absolute() else ROOT / pa
        return pa.resolve() == Path(b).resolve()
    except (OSError, TypeError):
        return False


def _accelerator_entry(results: Path, bundle_dir: Path) -> tuple[str, dict] | tuple[None, None]:
    acc = _read_json(results / "accelerator.json") or {}
    for key, e in acc.get("networks", {}).items():
        if not e.get("synthetic") and _same_path(e.get("model", ""), bundle_dir):
            return key, e
    return None, None


def hardware(bundle, bundle_dir: Path, build: Path | None, results: Path, sha: str) -> dict:
    """Cycles and resources per block: the generator's estimate for the folding the RTL was built
    with (``build/<run>/rtl/rtl.json``), else the benchmark's folding, else the flow's default."""
    from rtl_gen.emit import describe
    from rtl_gen.folding import from_bundle

    rtl = _read_json(build / "rtl" / "rtl.json") if build is not None else None
    key, entry = _accelerator_entry(results, bundle_dir)
    built = _read_json(build / "rtl" / "config.json") if rtl and rtl.get("bundle_sha256") == sha else None
    if built and rtl.get("estimate") and rtl.get("resources") and built.get("layers"):
        # the generated RTL's own estimate (whatever folding and stem it was built with)
        source = f"the generated RTL ({_rel(build / 'rtl' / 'rtl.json')})"
        folding, stem, est, res, layers = rtl.get("folding"), rtl.get("stem"), rtl["estimate"], rtl["resources"], built["layers"]
    else:
        folding, stem = None, "cache"
        if rtl and rtl.get("bundle_sha256") == sha and rtl.get("folding"):
            folding, stem = rtl["folding"], rtl.get("stem", "cache")
            source = f"the folding of the generated RTL ({_rel(build / 'rtl' / 'rtl.json')})"
        elif entry and entry.get("folding"):
            folding, stem = entry["folding"], entry.get("stem", "cache")
            source = f"the benchmark's folding ({_rel(results / 'accelerator.json')}, network {key})"
        else:
            source = "the flow's default folding (about 16 MAC lanes per layer, make rtl)"
        cfg = from_bundle(bundle, folding=folding, stem=stem)
        d = describe(cfg)
        est, res, layers, folding = d["estimate"], d["resources"], d["layers"], cfg.foldings
    out = {"source": source, "folding": folding, "stem": stem, "layers": layers,
           "cycles_per_inference": est["cycles_per_inference"], "latency_cycles": est["latency_cycles"],
           "ideal_cycles": est["ideal_cycles"], "mac_lanes": est["mac_lanes"], "mac_ops": est["mac_ops"],
           "engine_cycles_per_image": est["engine_cycles_per_image"],
           "resources": {k: res[k] for k in ("luts", "ffs", "brams", "dsps")}, "resources_per_block": res["parts"],
           "measured": {}}
    if entry:
        out["measured"]["benchmark"] = {k: entry.get(k) for k in (
            "cycles_per_inference", "latency_cycles", "images_checked", "mismatches", "luts", "ffs", "brams",
            "dsps", "fmax_mhz", "device", "command") if entry.get(k) is not None}
    fpga = build / "fpga" if build is not None else None
    if fpga is not None and fpga.is_dir():
        for rep_path in sorted(fpga.glob("*/report.json")):
            rep = _read_json(rep_path)
            if rep.get("bundle_sha256") not in (None, sha):
                continue
            out["measured"][rep_path.parent.name] = {k: rep.get(k) for k in (
                "device", "luts", "ffs", "brams", "dsps", "fmax_mhz", "target_mhz", "timing_met",
                "cycles_per_inference") if rep.get(k) is not None} | {"report": _rel(rep_path)}
    return out


def _rel(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def verification(run: Path, build: Path | None, results: Path, sha: str, vec: dict) -> dict:
    out = {"vectors": {"images": int(len(vec["labels"])),
                       "golden_accuracy": float((vec["classes"] == vec["labels"]).mean()) if len(vec["labels"]) else None}}
    for name in ("eval.json", "export.json"):
        r = _read_json(run / name)
        if r and "golden_accuracy" in r and r.get("bundle_sha256", sha) == sha:
            out["float_vs_golden"] = {k: r.get(k) for k in ("dataset", "images", "float_accuracy", "golden_accuracy",
                                                             "agreement")} | {"source": _rel(run / name)}
            break
    rtl_rep = _read_json(build / "rtl" / "rtl.json") if build is not None else None
    sim = _read_json(build / "sim" / "sim.json") if build is not None else None
    if sim is not None:
        stale = not (rtl_rep and rtl_rep.get("bundle_sha256") == sha)
        out["rtl"] = {k: sim.get(k) for k in ("images", "mismatches", "rtl_accuracy", "cycles_per_inference",
                                              "estimated_cycles")} | {
            "source": _rel(build / "sim" / "sim.json"), "stale": stale,
            "mismatch_details": (sim.get("mismatch_details") or [])[:5]}
    key, entry = _accelerator_entry(results, run / "model")
    if entry and entry.get("images_checked") is not None:
        out["rtl_benchmark"] = {"images": entry["images_checked"], "mismatches": entry["mismatches"],
                                "rtl_accuracy": entry.get("rtl_accuracy"),
                                "cycles_per_inference": entry.get("cycles_per_inference"),
                                "source": f"{_rel(results / 'accelerator.json')} ({key})",
                                "command": entry.get("command"),
                                "mismatch_details": (entry.get("mismatch_details") or [])[:5]}
    hls = _read_json(build / "hls" / "report.json") if build is not None else None
    if hls is not None and hls.get("bundle_sha256", sha) == sha:
        out["hls"] = {"images": hls.get("vectors"), "mismatches": hls.get("mismatches"),
                      "projects": sorted(hls.get("projects", {})), "source": _rel(build / "hls" / "report.json")}
    for key, e in (_read_json(results / "hls.json") or {}).items():
        if isinstance(e, dict) and e.get("bundle_sha256") == sha:
            out["hls_benchmark"] = {"images": e.get("vectors"), "mismatches": e.get("mismatches"),
                                    "accuracy": e.get("projects", {}).get("network", {}).get("accuracy"),
                                    "projects": sorted(e.get("projects", {})),
                                    "source": f"{_rel(results / 'hls.json')} ({key})", "command": e.get("command")}
            break
    return out


def training(run: Path) -> dict | None:
    m = _read_json(run / "metrics.json")
    if not m:
        return None
    return {k: m.get(k) for k in ("dataset", "arch", "neuron", "mode", "T", "seed", "test_accuracy", "batch_size",
                                  "lr") if m.get(k) is not None} | {"epochs": m.get("epochs", [])}


def load_run(run: Path):
    """The bundle and vector file of a run folder; a missing or bad one is an error naming it."""
    run = Path(run)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run folder (MODEL= a name under runs/ or a path to a run folder)")
    bundle_dir = run / "model"
    if not (bundle_dir / "model.json").is_file():
        raise FileNotFoundError(f"{bundle_dir / 'model.json'}: missing (export the run first: make export MODEL={run})")
    bundle = load_bundle(bundle_dir)
    vec = load_vectors(run / "vectors.npz", bundle_dir)
    return bundle, vec


def analyse(run: Path, *, build: Path | None = None, results: Path = RESULTS, images: int = DEFAULT_IMAGES,
            tracked_only: bool = False) -> dict:
    """Everything the page of ``run`` shows (see the module docstring).  ``tracked_only``: read no
    build folder (``build`` is ignored), only the run folder and ``results``."""
    run = Path(run)
    if not (isinstance(images, int) and images > 0):
        raise ValueError(f"images must be a positive integer, not {images!r}")
    bundle, vec = load_run(run)
    build = None if tracked_only else Path(build) if build is not None else ROOT / "build" / run.name
    sha = bundle_hash(run / "model")
    n = min(images, len(vec["labels"]))
    ops = operations(bundle, vec, n)
    net = _network(bundle)
    return {
        "name": run.name, "run": _rel(run), "bundle_sha256": sha, "network": net,
        "dataset": bundle.meta.get("dataset") or (training(run) or {}).get("dataset"),
        "images": n, "accuracy_vs_t": accuracy_vs_t(vec["scores"][:n], vec["labels"][:n]),
        "spikes": spike_stats(bundle, vec, n), "ops": ops, "energy": energy.estimate(ops["layers"]),
        "hardware": hardware(bundle, run / "model", build, Path(results), sha),
        "verification": verification(run, build, Path(results), sha, vec), "training": training(run),
    }
