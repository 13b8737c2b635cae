"""Where every artifact lands.

``runs/<name>/``            training: checkpoint.pt, metrics.json, config.json
``runs/<name>/model/``      the integer-model bundle (model.json + model.npz)
``runs/<name>/vectors.npz`` golden vectors of the test split
``build/<name>/rtl/``       generated Verilog, its config and cycle estimate
``build/<name>/sim/``       Verilator build and sim.json
``build/<name>/fpga/<board>/`` synthesis logs, bitstream, report.json

``build/<name>`` is the build folder of ``runs/<name>``; every run folder has its own
(:func:`build_dir`), so two runs with the same last name never share one.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP = "hdlif_accel"


def run_dir(model: str) -> Path:
    """``MODEL=`` may be a run name (``runs/<name>``) or a path to a run folder."""
    p = Path(model)
    if p.is_dir() or len(p.parts) > 1:
        return p
    return ROOT / "runs" / model


def build_dir(model: str) -> Path:
    """The build folder of a run, one per run folder.

    ``runs/<name>`` -> ``build/<name>``; another folder inside the project -> ``build/<its path
    in the project>`` (``bench/models/digits/hdlif_online`` -> ``build/bench/models/digits/
    hdlif_online``); a folder directly in the project root or outside the project ->
    ``build/<name>-<8 hex digits of its absolute path>``.
    """
    run = run_dir(model).resolve()
    root = ROOT.resolve()
    if run.parent == root / "runs":
        return ROOT / "build" / run.name
    try:
        rel = run.relative_to(root)
    except ValueError:
        rel = None
    if rel is not None and len(rel.parts) > 1:
        return ROOT / "build" / rel
    digest = hashlib.sha256(str(run).encode()).hexdigest()[:8]
    return ROOT / "build" / f"{run.name}-{digest}"


def committed(path: str | Path) -> bool:
    """Whether git tracks ``path`` (a committed file such as ``bench/models/<name>/eval.json``):
    the flow's re-checks do not rewrite such a file.  False outside a git checkout or without git."""
    path = Path(path).resolve()
    if not path.parent.is_dir():
        return False
    try:
        r = subprocess.run(["git", "ls-files", "--error-unmatch", "--", path.name], cwd=path.parent,
                           capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0
