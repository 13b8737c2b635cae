"""``make import``: a NIR graph -> a run folder every later flow step accepts.

``runs/<name>/`` gets

* ``model/``        the integer bundle (as ``training/export.py`` writes it), loaded back and
                    validated before anything else is written,
* ``graph.nir``     a copy of the imported graph (``make eval`` runs it again),
* ``import.json``   the settings: source file and its sha256, framework, ``dt`` and how it was
                    found, ``T``, reset, weights, data set, the membrane calibration, the layers,
                    the command,
* ``eval.json``     the agreement check on the test split: the golden model against the network
                    as the source framework runs it (:mod:`nir_io.reference`), both accuracies,
                    the counts, the command,
* ``vectors.npz``   the golden vectors of the first 1000 test images (``golden.write_vectors``,
                    the file the RTL and HLS checkers read).

The folder is built under a temporary name and moved into place only when complete
(``golden.atomic.atomic_folder``); an existing run folder is replaced only with ``force``.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import numpy as np

from golden import load_bundle, run as golden_run, save_bundle, write_vectors
from golden.atomic import atomic_folder, write_json_atomic
from golden.bundle import bundle_hash

from . import reference
from .discretize import CONVENTIONS, FRAMEWORKS, RESETS, convention, infer_dt, metadata
from .graph import NIRImportError, chain, read_graph
from .layers import Network, build_network
from .calibrate import calibrate_weights, simulate
from .quantize import LAMBDA_FRAC, MULT_BITS, WEIGHT_KINDS, choose_membrane_bits, to_bundle

IMPORT_JSON = "import.json"
GRAPH_NAME = "graph.nir"
#: training images the membrane calibration runs, test images in the vector file
CALIBRATION_IMAGES = 1000
VECTOR_IMAGES = 1000


def is_imported(run: Path) -> bool:
    """Whether ``run`` is a run folder written by :func:`import_graph`."""
    return (Path(run) / IMPORT_JSON).is_file()


def load_network(path: Path, *, framework: str, dt: float | None, reset: str | None):
    """``(graph, chain, network)`` of the graph file ``path`` (every refusal one line).  ``reset``:
    ``RESET=``, or None for the graph's own (each node's metadata, else its ``v_reset``)."""
    convention(framework)
    if reset is not None and reset not in RESETS:
        raise NIRImportError(f"--reset (RESET=) must be one of {', '.join(RESETS)}, not {reset!r}")
    graph = read_graph(path)
    nodes = chain(graph)
    dt, how = infer_dt(nodes, framework, dt, str(path), graph_dt=metadata(graph).get("dt"))
    return graph, nodes, build_network(nodes, framework=framework, reset=reset, dt=dt, dt_how=how)


def _load_split(name: str, data_dir):
    from training import data

    name = data.canonical(name)
    if data_dir is not None and name == "digits":
        raise NIRImportError(f"DATA_DIR={data_dir}: the digits are bundled with scikit-learn and read from no folder "
                             f"(leave DATA_DIR out)")
    return name, data.load(name, data_dir), (None if name == "digits" else str(data.folder(name, data_dir)))


def _check_fit(net: Network, split, dataset: str, source: str) -> None:
    shape = tuple(split.shape)
    ins = tuple(net.input_shape)
    first = net.layers[0].synapse
    fits = ins == shape or (len(ins) == 1 and ins[0] == split.features and first.kind == "fc")
    if not fits:
        raise NIRImportError(f"DATASET={dataset}: its images are {'x'.join(map(str, shape))} ({split.features} "
                             f"pixels), the graph {source} takes {list(ins)} (name the data set it was trained on)")
    if net.classes != split.classes:
        raise NIRImportError(f"DATASET={dataset} has {split.classes} classes, the graph {source} reads out "
                             f"{net.classes} ({'its last neuron layer' if net.mode == 'count' else 'its last Affine'})")


def _notes(net: Network) -> list[str]:
    """What the agreement report says about the neuron the reference runs."""
    if net.framework == "spikingjelly":
        return ["SpikingJelly reference: its own import_from_nir(graph, dt), stepped with its state; it fires at "
                "v >= threshold and resets to v_reset (hard reset)"]
    if net.reset == "value":
        return ["snnTorch reference: Leaky(reset_mechanism='zero', reset_delay=False), as import_from_nir builds "
                "it; for a reset to zero snnTorch's reset_delay changes no spike"]
    return ([f"resets per layer: {', '.join(l.neuron.reset for l in net.layers)}"] if net.reset == "mixed" else []) + [
            "snnTorch reference: Leaky(reset_mechanism='subtract', reset_delay=False), the subtraction in the step "
            "that fires; snnTorch's default reset_delay=True is another neuron (the subtraction lands one step "
            "later, unleaked), so a network trained with it agrees less",
            "RESET=subtract: snnTorch's Leaky (reset_delay=False) also subtracts the threshold in the next step's "
            "fire decision while the residual exceeds the threshold (mem_reset of the stored membrane); the integer "
            "model fires on m >= theta alone, so the two differ after a membrane above twice the threshold",
            "NIR records only v_reset: a subtracting node's v_reset is unused"]


def _framework_version(framework: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(framework)
    except PackageNotFoundError:
        return "?"


def _scaled(net: Network, images: np.ndarray, input_max: int) -> np.ndarray:
    """Direct encoding: the float network's input ``pixel / input_max``, shaped as the graph's Input."""
    return (np.asarray(images, np.float64) / input_max).reshape((len(images),) + tuple(net.input_shape))


def agreement(graph, nodes, net: Network, bundle, bundle_dir: Path, x: np.ndarray, y: np.ndarray, *, dataset: str,
              T: int, command: str | None, reference_totals: np.ndarray | None = None) -> dict:
    """Golden model against the framework's forward pass on ``x``: the ``eval.json`` report."""
    t0 = time.perf_counter()
    totals = reference.forward(graph, nodes, net, x, input_max=bundle.input.max_value, T=T) \
        if reference_totals is None else reference_totals
    framework_seconds = time.perf_counter() - t0
    ref = reference.classes(totals)
    t0 = time.perf_counter()
    golden = golden_run(bundle, x)
    golden_seconds = time.perf_counter() - t0
    n = int(len(x))
    acc = lambda c: float((c == y).mean()) if n else 0.0   # noqa: E731
    neuron = reference.classes(simulate(net, _scaled(net, x, bundle.input.max_value), T))
    return {
        "dataset": dataset, "images": n, "framework": net.framework,
        "framework_version": _framework_version(net.framework),
        "reference": f"{CONVENTIONS[net.framework].title}'s forward pass over T={T} steps, direct encoding "
                     f"pixel / {bundle.input.max_value}, class = argmax of the summed "
                     f"{'spike counts' if net.mode == 'count' else 'scores'} (lowest index on a tie)",
        "framework_accuracy": acc(ref), "golden_accuracy": acc(golden.classes),
        "agreement": float((golden.classes == ref).mean()) if n else 0.0,
        "float_accuracy": acc(ref),
        "float_model_agreement": float((neuron == ref).mean()) if n else 0.0,
        "agree": int((golden.classes == ref).sum()), "golden_correct": int((golden.classes == y).sum()),
        "framework_correct": int((ref == y).sum()),
        "readout": net.mode, "T": T, "dt": net.dt, "reset": net.reset,
        "golden_seconds": golden_seconds, "framework_seconds": framework_seconds,
        "bundle_sha256": bundle_hash(bundle_dir), "notes": _notes(net), "command": command,
    }


def _layers_summary(net: Network, bundle) -> list[dict]:
    out = []
    for layer, b in zip(net.layers, bundle.layers):
        out.append({"layer": b.name, "nodes": list(layer.synapse.nodes) + [layer.neuron.node] + list(layer.pool_nodes),
                    "neuron": layer.neuron.kind, "kind": layer.synapse.kind, "shape": list(layer.synapse.out_shape),
                    "pool": layer.pool, "reset": layer.neuron.reset,
                    "beta": [float(layer.leak.min()), float(layer.leak.max())],
                    "threshold": [float(layer.threshold.min()), float(layer.threshold.max())],
                    "gain": [float(layer.gain.min()), float(layer.gain.max())], "v_reset": layer.neuron.v_reset,
                    "shift": b.shift})
    if net.readout is not None:
        out.append({"layer": bundle.layers[-1].name, "nodes": list(net.readout.nodes), "kind": "score readout"})
    else:
        out.append({"layer": bundle.layers[-1].name, "kind": "count readout (the last layer's spikes)"})
    return out


def import_graph(nir_path, run: Path, *, dataset: str = "digits", data_dir=None, T: int | None = None,
                 dt: float | None = None, reset: str | None = None, weights: str = "int8",
                 framework: str = "snntorch", force: bool = False, command: str | None = None, say=print) -> dict:
    """Import the NIR graph ``nir_path`` into the run folder ``run`` (see the module docstring).
    ``T``: given, else the graph's ``metadata["T"]``, else 4; ``reset``: ``RESET=`` for every
    neuron node, else each node's own."""
    nir_path, run = Path(nir_path), Path(run)
    if T is not None and not (isinstance(T, int) and 1 <= T <= 64):
        raise NIRImportError(f"--T (T=) must be a whole number of time steps in 1..64, not {T!r}")
    if weights not in WEIGHT_KINDS:
        raise NIRImportError(f"--weights (WEIGHTS=) must be one of {', '.join(WEIGHT_KINDS)}, not {weights!r}")
    if framework not in FRAMEWORKS:
        raise NIRImportError(f"--framework (FRAMEWORK=) must be one of {', '.join(FRAMEWORKS)}, not {framework!r}")
    if run.exists() and not force:
        what = ("an imported run" if is_imported(run) else "a trained run" if (run / "checkpoint.pt").exists()
                else "a folder")
        raise NIRImportError(f"{run}: already exists ({what}); FORCE=1 (--force) replaces it, or choose another MODEL")
    graph, nodes, net = load_network(nir_path, framework=framework, dt=dt, reset=reset)
    T_source = "given (T=)" if T is not None else "the graph's metadata" if "T" in metadata(graph) else "default"
    if T is None:
        T = metadata(graph).get("T", 4)
        if not (isinstance(T, int) and 1 <= T <= 64):
            raise NIRImportError(f"{nir_path}: the graph's metadata says T = {T!r}, not a whole number of steps in "
                                 f"1..64: give T=")
    dataset, split, data_folder = _load_split(dataset, data_dir)
    _check_fit(net, split, dataset, str(nir_path))
    say(f"import {nir_path}: {len(net.layers)} neuron layer(s) + {net.mode} readout, {CONVENTIONS[framework].title} "
        f"convention, T={T} ({T_source}), dt {net.dt if net.dt is not None else '-'} ({net.dt_how}), reset "
        f"{net.reset}{' (RESET=)' if reset else ' (the graph)'}, {weights} weights")

    x_cal = split.x_train[:CALIBRATION_IMAGES]
    ref_cal = reference.classes(reference.forward(graph, nodes, net, x_cal, input_max=split.input_max, T=T))
    rounded, rounding = calibrate_weights(net, _scaled(net, x_cal, split.input_max), T, weights)
    kw = dict(T=T, input_max=split.input_max, input_shape=split.shape, weights=weights, rounded=rounded)
    bits, table = choose_membrane_bits(net, x_cal, ref_cal, **kw)
    say(f"import: membrane unit threshold / 2**K calibrated on {len(x_cal)} training images: "
        + ", ".join(f"K={k} {a:.4f}" for k, a in table.items()) + f" -> K={bits}")
    t0 = time.perf_counter()
    ref_test = reference.forward(graph, nodes, net, split.x_test, input_max=split.input_max, T=T)
    ref_seconds = time.perf_counter() - t0
    from training.data import split_description

    bundle = to_bundle(net, run.name, membrane_bits=bits, **kw,
                       meta={"dataset": dataset, "split": split_description(dataset), "source": "nir",
                             "framework": framework, "nir_sha256": hashlib.sha256(nir_path.read_bytes()).hexdigest(),
                             "framework_test_accuracy": float((reference.classes(ref_test) == split.y_test).mean())})
    settings = {
        "source": str(nir_path), "source_sha256": hashlib.sha256(nir_path.read_bytes()).hexdigest(),
        "graph": GRAPH_NAME, "framework": framework, "framework_version": _framework_version(framework),
        "dt": net.dt, "dt_source": net.dt_how, "T": T, "T_source": T_source, "reset": net.reset,
        "reset_setting": reset, "weights": weights,
        "dataset": dataset, "data_dir": data_folder, "input_max": split.input_max,
        "strict_fire": CONVENTIONS[framework].strict, "readout": net.mode,
        "membrane_bits": bits, "calibration": {"images": int(len(x_cal)), "split": "train",
                                                "agreement_by_membrane_bits": {str(k): v for k, v in table.items()},
                                                "weight_rounding": rounding},
        "lambda_frac": LAMBDA_FRAC, "mult_bits": MULT_BITS, "nodes": list(net.nodes),
        "layers": _layers_summary(net, bundle), "command": command,
    }
    with atomic_folder(run) as tmp:
        save_bundle(bundle, tmp / "model")
        bundle = load_bundle(tmp / "model")               # what every later stage sees
        shutil.copyfile(nir_path, tmp / GRAPH_NAME)
        settings["layers"] = _layers_summary(net, bundle)
        write_json_atomic(tmp / IMPORT_JSON, settings)
        report = agreement(graph, nodes, net, bundle, tmp / "model", split.x_test, split.y_test, dataset=dataset,
                           T=T, command=command, reference_totals=ref_test)
        report["framework_seconds"] = ref_seconds
        write_json_atomic(tmp / "eval.json", report)
        n_vec = min(len(split.x_test), VECTOR_IMAGES)
        write_vectors(bundle, tmp / "model", split.x_test[:n_vec], split.y_test[:n_vec], tmp / "vectors.npz")
        report["vectors"] = n_vec
    return report | {"settings": settings}


# ---------------------------------------------------------------------------------------------
# The later steps on an imported run

def settings_of(run: Path) -> dict:
    import json

    path = Path(run) / IMPORT_JSON
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise NIRImportError(f"{path}: not readable ({e})") from None


def _split_for(run: Path, bundle, dataset: str | None, data_dir):
    """The imported run's data set (or ``dataset``), from its recorded folder unless ``data_dir``."""
    from training import data

    s = settings_of(run)
    own = s["dataset"]
    name = data.canonical(dataset) if dataset else own
    if data_dir is None and name == own and s.get("data_dir"):
        data_dir = s["data_dir"]
        if not Path(data_dir).is_dir():
            raise NIRImportError(f"{data_dir}: the data folder {run} was imported with is not there "
                                 f"(DATA_DIR= / --data-dir names where its {name} files are now)")
    name, split, _ = _load_split(name, data_dir)
    want = tuple(bundle.input.shape)
    fits = want == tuple(split.shape) or want == (split.features,)
    if not fits or split.input_max > bundle.input.max_value or split.input_max != s.get("input_max", split.input_max):
        raise NIRImportError(f"DATASET={name}: its images are {'x'.join(map(str, split.shape))} with pixels "
                             f"0..{split.input_max}, the run {run} takes {'x'.join(map(str, want))} with pixels "
                             f"0..{bundle.input.max_value} (leave DATASET out for the run's own data)")
    return name, split


def evaluate(run: Path, *, dataset: str | None = None, limit: int | None = None, data_dir=None,
             path: Path | None = None, command: str | None = None) -> dict:
    """The agreement check of an imported run again (``make eval``): its ``graph.nir`` through
    the framework against its bundle on the test split -> ``path`` (default ``<run>/eval.json``)."""
    run = Path(run)
    if limit is not None and not (isinstance(limit, int) and limit > 0):
        raise NIRImportError(f"limit must be a positive whole number of test images, not {limit!r}")
    s = settings_of(run)
    graph, nodes, net = load_network(run / GRAPH_NAME, framework=s["framework"], dt=s["dt"],
                                     reset=s.get("reset_setting"))
    bundle = load_bundle(run / "model")
    name, split = _split_for(run, bundle, dataset, data_dir)
    x, y = split.x_test[:limit], split.y_test[:limit]
    report = agreement(graph, nodes, net, bundle, run / "model", x, y, dataset=name, T=bundle.T, command=command)
    write_json_atomic(path or run / "eval.json", report)
    return report


def make_vectors(run: Path, *, n: int = 0, dataset: str | None = None, data_dir=None, path: Path | None = None) -> dict:
    """``<run>/vectors.npz`` of an imported run: the first ``n`` test images (0: all)."""
    run = Path(run)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise NIRImportError(f"N={n!r}: the number of test images must be a whole number >= 0 (0: the whole test split)")
    bundle = load_bundle(run / "model")
    _, split = _split_for(run, bundle, dataset, data_dir)
    x, y = (split.x_test[:n], split.y_test[:n]) if n else (split.x_test, split.y_test)
    return write_vectors(bundle, run / "model", x, y, path or run / "vectors.npz")
