"""Export benchmark: float vs golden model on each benchmark network's whole test split.

``python -m bench.golden [MODEL ...]`` (default: every run folder under ``bench/models/``)
evaluates each with :func:`training.export.evaluate_run` and writes
``bench/results/golden.json``: per model ``float_accuracy``, ``golden_accuracy``,
``agreement``, ``images`` and ``golden_seconds`` (wall time of the integer model on all
images, on this machine), plus the ``command`` that produced it (each entry its own, so runs on
different models fill one file).  A model is keyed by its folder under ``bench/models/``
(``digits/hdlif_online``), else by its folder's name.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from pathlib import Path

from golden.atomic import write_json_atomic

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "bench" / "models"
OUT = ROOT / "bench" / "results" / "golden.json"


def network_name(folder: Path) -> str:
    """``bench/models/<name>`` (nested names keep their folder: ``digits/hdlif_online``), else the folder's name."""
    f = Path(folder).resolve()
    return str(f.relative_to(MODELS.resolve())) if f.is_relative_to(MODELS.resolve()) else Path(folder).name


def _legacy_commands(results: dict) -> dict:
    """An older file kept one ``command`` (the last run's) for the whole file: it moves onto the
    entries that run wrote (the models it names), and the file-wide one goes."""
    legacy = results.pop("command", None)
    if legacy:
        named = {Path(x).name for x in shlex.split(legacy)[3:]}
        for k, v in results.items():
            if isinstance(v, dict) and "command" not in v and k in named:
                v["command"] = legacy
    return results


def main(argv=None) -> int:
    from training.export import evaluate_run

    p = argparse.ArgumentParser(prog="python -m bench.golden", description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="*", type=Path)
    a = p.parse_args(argv)
    models = a.models or sorted(d for d in MODELS.iterdir() if (d / "model" / "model.json").is_file())
    if not models:
        print(f"error: no benchmark models under {MODELS}", file=sys.stderr)
        return 2
    results = _legacy_commands(json.loads(OUT.read_text()) if OUT.is_file() else {})
    command = "python -m bench.golden " + " ".join(
        shlex.quote(str(m.relative_to(ROOT)) if m.is_absolute() and m.is_relative_to(ROOT) else str(m)) for m in models)
    for m in models:
        r = evaluate_run(m)
        key = network_name(m)
        results[key] = {k: r[k] for k in ("dataset", "images", "float_accuracy", "golden_accuracy",
                                          "agreement", "golden_seconds")} | {"command": command}
        print(f"{key}: {r['images']} images, float {r['float_accuracy']:.4f}, golden {r['golden_accuracy']:.4f}, "
              f"agreement {r['agreement']:.4f}, golden model {r['golden_seconds']:.1f} s", flush=True)
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
    write_json_atomic(OUT, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
