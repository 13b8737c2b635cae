"""Vitis HLS synthesis of a written project, and on into Vivado: the one step needing vendor tools.

``make hls`` writes every project under ``build/<run>/hls/``; this runs hls4ml's
``build_prj.tcl`` in one of them with AMD's tools::

    vitis-run --mode hls --tcl build_prj.tcl      (Vitis 2024.2 and later)
    vitis_hls -f build_prj.tcl                    (Vitis HLS 2023.x / 2024.1)

with the options in ``build_opt.tcl``: C simulation of the project's ``tb_data`` vectors, C
synthesis, optionally C/RTL co-simulation, IP export and Vivado out-of-context synthesis.  The
C simulation and co-simulation outputs are compared with the golden values in
``tb_data/tb_output_predictions.dat``, line by line (one line per time step).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from golden.atomic import write_json_atomic

TOOLS = (("vitis-run", ["vitis-run", "--mode", "hls", "--tcl", "build_prj.tcl"]),
         ("vitis_hls", ["vitis_hls", "-f", "build_prj.tcl"]))


def find_tool() -> list[str] | None:
    """The HLS command line, or None when neither ``vitis-run`` nor ``vitis_hls`` is on PATH."""
    for exe, cmd in TOOLS:
        if shutil.which(exe):
            return cmd
    return None


MISSING = ("Vitis HLS not found: neither vitis-run nor vitis_hls is on PATH "
           "(install AMD Vitis HLS 2023.2 or later and source its settings64.sh)")


def _read_log(path: Path) -> np.ndarray | None:
    if not path.is_file():
        return None
    rows = [[float(v) for v in line.split()] for line in path.read_text().splitlines() if line.strip()]
    return np.rint(np.array(rows, np.float64)).astype(np.int64) if rows else None


def compare_logs(project: Path) -> dict:
    """Vitis csim / cosim outputs against ``tb_output_predictions.dat``: mismatching lines."""
    want = _read_log(project / "tb_data" / "tb_output_predictions.dat")
    out = {}
    for key, name in (("csim", "csim_results.log"), ("cosim", "rtl_cosim_results.log")):
        got = _read_log(project / "tb_data" / name)
        if got is None or want is None:
            continue
        n = min(len(got), len(want))
        bad = [int(i) for i in np.flatnonzero((got[:n] != want[:n]).any(axis=1))]
        out[key] = {"lines": n, "mismatching_lines": len(bad) + abs(len(got) - len(want)), "first": bad[:10]}
    return out


def synthesize(project: Path, *, csim: bool = True, cosim: bool = False, export: bool = False,
               vsynth: bool = False, log=None) -> dict:
    """Run Vitis HLS (and Vivado with ``vsynth``) in one project folder; return its report."""
    project = Path(project)
    if not (project / "build_prj.tcl").is_file():
        raise FileNotFoundError(f"{project}: no hls4ml project here (run make hls first)")
    cmd = find_tool()
    if cmd is None:
        raise RuntimeError(MISSING)
    opts = dict(reset=1, csim=int(csim), synth=1, cosim=int(cosim), validation=0, export=int(export or vsynth),
                vsynth=int(vsynth), fifo_opt=0)
    (project / "build_opt.tcl").write_text(
        "array set opt {\n" + "".join(f"    {k:<10} {v}\n" for k, v in opts.items()) + "}\n")
    t0 = time.time()
    with open(project / "vitis_hls.log", "w") as f:
        proc = subprocess.run(cmd, cwd=project, stdout=f, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ})
    if proc.returncode != 0:
        raise RuntimeError(f"{project}: {cmd[0]} failed with exit status {proc.returncode} "
                           f"(see {project / 'vitis_hls.log'})")
    from hls4ml.report import parse_vivado_report

    parsed = parse_vivado_report(str(project)) or {}
    report = {"project": str(project), "tool": cmd[0], "options": opts, "seconds": round(time.time() - t0, 1),
              "csynth": parsed.get("CSynthesisReport", {}), "vivado": parsed.get("VivadoSynthReport", {}),
              "vectors": compare_logs(project)}
    write_json_atomic(project / "synth.json", report)
    if log:
        log(f"{project.name}: {json.dumps(report['csynth'])}")
    return report
