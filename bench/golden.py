"""Export benchmark: float vs golden model on each benchmark network's whole test split.

``python -m bench.golden [MODEL ...]`` (default: every run folder under ``bench/models/``)
evaluates each with :func:`training.export.evaluate_run` and writes
``bench/results/golden.json``: per model ``float_accuracy``, ``golden_accuracy``,
``agreement``, ``images`` and ``golden_seconds`` (wall time of the integer model on all
images, on this machine), plus the command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

from golden.atomic import write_json_atomic

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "bench" / "models"
OUT = ROOT / "bench" / "results" / "golden.json"


def main(argv=None) -> int:
    from training.export import evaluate_run

    p = argparse.ArgumentParser(prog="python -m bench.golden", description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="*", type=Path)
    a = p.parse_args(argv)
    models = a.models or sorted(d for d in MODELS.iterdir() if (d / "model" / "model.json").is_file())
    if not models:
        print(f"error: no benchmark models under {MODELS}", file=sys.stderr)
        return 2
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    for m in models:
        r = evaluate_run(m)
        results[m.name] = {k: r[k] for k in ("dataset", "images", "float_accuracy", "golden_accuracy",
                                             "agreement", "golden_seconds")}
        print(f"{m.name}: {r['images']} images, float {r['float_accuracy']:.4f}, golden {r['golden_accuracy']:.4f}, "
              f"agreement {r['agreement']:.4f}, golden model {r['golden_seconds']:.1f} s", flush=True)
    results["command"] = "python -m bench.golden " + " ".join(str(m.relative_to(ROOT)) if m.is_absolute() else str(m) for m in models)
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
    write_json_atomic(OUT, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
