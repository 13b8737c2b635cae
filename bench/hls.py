"""HLS benchmark (not run in CI): a run's whole network in hls4ml C simulation, bit-exact on
many test images.  ``python -m bench.hls RUN [--n 1000] [--layers]``

``RUN`` is any run folder (or a name under ``runs/``) holding ``model/`` and ``vectors.npz``.
The projects go to ``build/<run>/hls/`` as with ``make hls``; the result is merged into
``bench/results/hls.json`` under the run's name (its folder under ``bench/models/``, e.g.
``digits/hdlif_online``, else the folder's name; each run replaces only its own key):
``vectors``, ``mismatches``, ``seconds`` (and compile / C simulation seconds) per project, the
HLS accuracy, the first mismatch details, the bundle hash and the ``command``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from golden.atomic import write_json_atomic  # noqa: E402 - after the path fix

RESULTS = HERE / "results" / "hls.json"


def _merge(path: Path, updates: dict) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(path.read_text()) if path.is_file() else {}
    results.update(updates)
    write_json_atomic(path, results)
    return results


def network_name(run: Path) -> str:
    """``bench/models/<name>`` (nested names keep their folder: ``digits/hdlif_online``), else the folder's name."""
    models = (ROOT / "bench" / "models").resolve()
    f = Path(run).resolve()
    return str(f.relative_to(models)) if f.is_relative_to(models) else Path(run).name


def main(argv=None) -> int:
    from flow.paths import build_dir, run_dir
    from hls.convert import HLSOptions
    from hls.report import run_hls

    p = argparse.ArgumentParser(prog="python -m bench.hls", description=__doc__.splitlines()[0])
    p.add_argument("run", help="run folder (or name under runs/) with model/ and vectors.npz")
    p.add_argument("--n", type=int, default=1000, help="images of the vector file (0 = all)")
    p.add_argument("--layers", action="store_true", help="also one project per layer")
    p.add_argument("--part", default=HLSOptions().part)
    p.add_argument("--results", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    run = run_dir(a.run)
    try:
        report = run_hls(run, build_dir(a.run) / "hls", n=a.n, layers=a.layers, options=HLSOptions(part=a.part),
                         progress=lambda s: print(f"[bench.hls] {s}", flush=True))
    except Exception as e:  # noqa: BLE001 - one clear line
        print(f"error: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}", file=sys.stderr)
        return 2
    projects = {name: {k: pr[k] for k in ("vectors", "mismatches", "seconds", "compile_seconds", "csim_seconds")}
                | ({"accuracy": pr["accuracy"]} if "accuracy" in pr else {})
                | {"mismatch_details": pr["mismatch_details"][:5]}
                for name, pr in report["projects"].items()}
    entry = {"run": str(run), "bundle_sha256": report["bundle_sha256"], "vectors": report["vectors"],
             "mismatches": report["mismatches"], "seconds": report["seconds"], "projects": projects,
             "command": "python -m bench.hls " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:])),
             "env": {"machine": platform.machine(), "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}}
    _merge(a.results, {network_name(run): entry})
    for name, pr in projects.items():
        print(f"[bench.hls] {name}: {pr['vectors']} vectors, {pr['mismatches']} mismatches, {pr['seconds']:.1f} s")
    print(f"[bench.hls] results in {a.results}")
    return 1 if report["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
