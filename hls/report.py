"""The flow's ``hls`` step: every HLS project of a run, C-simulated on its vector file.

``build/<run>/hls/`` receives

``network/``          the whole network (all layers, all time steps) as one hls4ml project
``layer_<name>/``     one project per conv / fc layer (synapse + requantizer: currents out);
                      none for an integer graph (a ResNet): its network project is traced per neuron
``report.json``       per project ``vectors``, ``mismatches``, ``seconds`` (and the details)

Each project's ``tb_data/`` holds the first vectors as hls4ml's testbench files, so Vitis HLS's
own C simulation and C/RTL co-simulation (``make hls-synth``) see the same inputs.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from golden import load_vectors
from golden.atomic import write_json_atomic
from golden.bundle import bundle_hash
from golden.graph import Graph, load_model

from . import convert, csim

TB_IMAGES = 8  # images written to each project's tb_data for Vitis csim / cosim


def _write_tb(project: Path, rows_in: np.ndarray, rows_out: np.ndarray) -> None:
    """hls4ml's testbench files: one line per call (time step), space-separated values.

    ``rows_*`` are ``[..., values]``; every leading index becomes lines in C order.
    """
    tb = project / "tb_data"
    tb.mkdir(exist_ok=True)
    for name, rows in (("tb_input_features.dat", rows_in), ("tb_output_predictions.dat", rows_out)):
        text = "\n".join(" ".join(str(int(v)) for v in row) for row in rows.reshape(-1, rows.shape[-1]))
        (tb / name).write_text(text + "\n")


def build_network(bundle, vec: dict, out: Path, n: int, options: convert.HLSOptions) -> dict:
    t0 = time.time()
    model = (convert.graph_project if isinstance(bundle, Graph) else convert.network_project)(bundle, out, options)
    model.compile()
    t1 = time.time()
    r = csim.check_network(model, bundle, vec, n)
    k = min(TB_IMAGES, len(vec["images"]))
    images = csim._images(bundle, vec, k)
    _write_tb(out, np.repeat(images, bundle.T, axis=0), np.asarray(vec["scores"][:k]))
    return {"kind": "network", "dir": str(out), **r, "seconds": round(time.time() - t0, 2),
            "compile_seconds": round(t1 - t0, 2), "csim_seconds": r["seconds"]}


def build_layer(bundle, vec: dict, index: int, out: Path, n: int, options: convert.HLSOptions) -> dict:
    t0 = time.time()
    model = convert.layer_project(bundle, index, out, options)
    model.compile()
    t1 = time.time()
    r = csim.check_layer(model, bundle, vec, index, n)
    k = min(TB_IMAGES, len(vec["images"]))
    shapes = convert.layer_shapes(bundle)[index]
    x = csim.layer_inputs(bundle, vec, index, 0, k)
    want = convert.to_stream_layout(csim.golden_currents(bundle, index, x), shapes[1])
    _write_tb(out, convert.to_stream_layout(x, shapes[0]), want)
    return {"kind": "layer", "layer": bundle.layers[index].name, "dir": str(out), **r,
            "seconds": round(time.time() - t0, 2), "compile_seconds": round(t1 - t0, 2),
            "csim_seconds": r["seconds"]}


def run_hls(run_dir: Path, out_dir: Path, *, n: int = 0, layers: bool = True,
            options: convert.HLSOptions = convert.HLSOptions(), progress=None) -> dict:
    """Write, compile and C-simulate every project of ``run_dir``; write ``out_dir/report.json``.

    ``n`` images of the vector file (0: all).  Returns the report; mismatches are reported, not
    raised (the caller decides).
    """
    say = progress or (lambda s: None)
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    bundle_dir = run_dir / "model"
    bundle = load_model(bundle_dir)
    graph = isinstance(bundle, Graph)
    if graph:
        convert.check_graph_supported(bundle)
        layers = False                           # a graph: the network project (its nodes are traced)
    else:
        convert.check_supported(bundle)
    vec = load_vectors(run_dir / "vectors.npz", bundle_dir)
    n = min(n or len(vec["images"]), len(vec["images"]))
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    t0 = time.time()
    projects = {}
    say(f"network: {len(bundle.nodes if graph else bundle.layers)} {'nodes' if graph else 'layers'}, T={bundle.T}, "
        f"one project; g++ compile + C simulation of {n} images ...")
    projects["network"] = build_network(bundle, vec, out_dir / "network", n, options)
    if layers:
        for i, layer in enumerate(bundle.layers):
            say(f"layer {layer.name}: compile + C simulation of {n} images x {bundle.T} steps ...")
            projects[f"layer_{layer.name}"] = build_layer(bundle, vec, i, out_dir / f"layer_{layer.name}", n, options)
    report = {
        "run": str(run_dir), "bundle_sha256": bundle_hash(bundle_dir), "backend": "Vitis", "io_type": "io_stream",
        "part": options.part, "clock_period_ns": options.clock_period,
        "time_steps": "one call (predict row) per time step, an image's T rows consecutive",
        "vectors": n, "mismatches": sum(p["mismatches"] for p in projects.values()),
        "seconds": round(time.time() - t0, 2), "projects": projects,
    }
    write_json_atomic(out_dir / "report.json", report)
    return report
