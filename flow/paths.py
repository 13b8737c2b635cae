"""Where every artifact lands.

``runs/<name>/``            training: checkpoint.pt, metrics.json, config.json
``runs/<name>/model/``      the integer-model bundle (model.json + model.npz)
``runs/<name>/vectors.npz`` golden vectors of the test split
``build/<name>/rtl/``       generated Verilog, its config and cycle estimate
``build/<name>/sim/``       Verilator build and sim.json
``build/<name>/fpga/<board>/`` synthesis logs, bitstream, report.json
"""

from __future__ import annotations

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
    return ROOT / "build" / run_dir(model).name
