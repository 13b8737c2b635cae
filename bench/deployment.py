"""Deployment benchmark (not run in CI): float, integer golden, RTL and HLS accuracy on the same images.

``python -m bench.deployment [NETWORK ...]`` (default: every folder under ``bench/models/`` with
``checkpoint.pt``, ``model/`` and ``vectors.npz``)

The vector file holds the first test images and the golden model's classes; the RTL simulation
(``bench/results/accelerator.json``) and the hls4ml C simulation (``bench/results/hls.json``)
checked the first ``n`` of them, bit for bit.  For each count that was checked (the RTL's, the
HLS's, and the whole vector file) this runs the float network (the run's checkpoint) on exactly
those images and writes ``bench/results/deployment.json``: per network a list of rows with
``images``, ``float_accuracy``, ``golden_accuracy``, ``float_golden_agreement`` and, where that
stage checked these images, ``rtl_accuracy`` / ``rtl_mismatches`` or ``hls_accuracy`` /
``hls_mismatches``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from pathlib import Path

import numpy as np

from golden.atomic import write_json_atomic

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "bench" / "models"
RESULTS = ROOT / "bench" / "results"


def network_name(folder: Path) -> str:
    """``bench/models/<name>`` (nested names keep their folder: ``digits/hdlif_online``), else the folder's name."""
    f = folder.resolve()
    return str(f.relative_to(MODELS.resolve())) if f.is_relative_to(MODELS.resolve()) else folder.name


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _same(a: str, b: Path) -> bool:
    pa = Path(a)
    return (pa if pa.is_absolute() else ROOT / pa).resolve() == b.resolve()


def evaluate(folder: Path, results: Path) -> dict:
    import torch

    from golden.bundle import bundle_hash
    from golden.vectors import load_vectors
    from training.export import float_predictions
    from training.train import load_checkpoint

    torch.set_num_threads(1)
    vec = load_vectors(folder / "vectors.npz", folder / "model")
    sha = bundle_hash(folder / "model")
    model, _ = load_checkpoint(folder)
    labels, golden = np.asarray(vec["labels"]), np.asarray(vec["classes"])
    flt = float_predictions(model, np.asarray(vec["images"]))
    checked = {}
    for e in _json(results / "accelerator.json").get("networks", {}).values():
        if not e.get("synthetic") and _same(e.get("model", ""), folder / "model") and e.get("images_checked"):
            checked.setdefault(int(e["images_checked"]), {}).update(
                rtl_accuracy=e.get("rtl_accuracy"), rtl_mismatches=e.get("mismatches"), rtl_command=e.get("command"))
    for e in _json(results / "hls.json").values():
        if isinstance(e, dict) and e.get("bundle_sha256") == sha:
            net = e.get("projects", {}).get("network", {})
            if net.get("vectors"):
                checked.setdefault(int(net["vectors"]), {}).update(
                    hls_accuracy=net.get("accuracy"), hls_mismatches=net.get("mismatches"), hls_command=e.get("command"))
    checked.setdefault(len(labels), {})
    rows = []
    for n in sorted(checked):
        n_ = min(n, len(labels))
        rows.append({"images": n_, "float_accuracy": float((flt[:n_] == labels[:n_]).mean()),
                     "golden_accuracy": float((golden[:n_] == labels[:n_]).mean()),
                     "float_golden_agreement": float((flt[:n_] == golden[:n_]).mean()), **checked[n]})
    return {"model": str(folder.resolve().relative_to(ROOT)) if folder.resolve().is_relative_to(ROOT) else str(folder),
            "bundle_sha256": sha, "rows": rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.deployment", description=__doc__.splitlines()[0])
    p.add_argument("networks", nargs="*", help="names under bench/models/ or run folders")
    p.add_argument("--results", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    if a.networks:
        folders = [Path(n) if Path(n).is_dir() else MODELS / n for n in a.networks]
    else:
        folders = sorted(d for d in MODELS.iterdir()
                         if (d / "checkpoint.pt").is_file() and (d / "vectors.npz").is_file() and (d / "model").is_dir())
    out = a.results / "deployment.json"
    results = _json(out)
    results.setdefault("networks", {})
    for folder in folders:
        try:
            results["networks"][network_name(folder)] = evaluate(folder, a.results)
        except Exception as e:  # noqa: BLE001 - one clear line
            print(f"error: {folder}: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}",
                  file=sys.stderr)
            return 2
        for r in results["networks"][network_name(folder)]["rows"]:
            extra = "".join(f", {k.split('_')[0].upper()} {r[k]:.4f}" for k in ("rtl_accuracy", "hls_accuracy")
                            if r.get(k) is not None)
            print(f"[bench.deployment] {network_name(folder)}: {r['images']} images: float {r['float_accuracy']:.4f}, "
                  f"golden {r['golden_accuracy']:.4f}{extra}", flush=True)
    results["command"] = "python -m bench.deployment " + " ".join(shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
    write_json_atomic(out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
