"""Carry chains without nextpnr's feed cells where nothing needs them (ECP5).

nextpnr-ecp5's packer (``ecp5/pack.cc``, ``split_carry_chain``) puts a whole ``CCU2C`` (two LUTs)
in front of a chain whose first ``CIN`` is connected at all, a constant included (a *feed-in*,
which routes the carry in from the fabric), and one behind a chain whose last ``COUT`` has a net,
even one that nothing reads (a *feed-out*, which routes the carry out to the fabric): 4 LUTs a
chain, whatever its length.  A design of many short adders pays that on every one (conv_fmnist's
event-driven build: 992 chains, about 4,000 of its 24,755 placed LUTs).  Yosys writes the chain's
carry in as a constant and keeps every carry out's net, so both cells are always there.

This pass, on the synthesized JSON netlist between Yosys and nextpnr (after
:mod:`fpga.absorb`), disconnects what no output depends on (the bit becomes ``"x"``, which
nextpnr imports as no net):

* a ``COUT`` that no cell reads and that is no top-level port: no feed-out;
* a constant ``CIN`` of a cell whose first bit's propagate ``P0`` (its LUT4 over ``A0 .. D0``)
  is 0 for every value of the inputs that are not constant, and whose first sum ``S0`` nothing
  reads: the cell's carry into its second bit is then ``P0 ? CIN : G0 = G0`` and ``S0 = P0 ^
  CIN`` is unused, so no output depends on ``CIN`` (the hardware's carry input of a chain's first
  slice is whatever the slice before it sends, and it is ignored).  The chains the generator
  builds start with such a half (:mod:`rtl_gen.carry`); Yosys's own adders do not and keep theirs.

A change never alters what the design computes: the conditions above are checked per cell on the
netlist itself.  :func:`trim_carry_ends` returns how many of each it disconnected and how many
chain starts kept a constant carry in.
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

from .nextpnr import rewrite_netlist

__all__ = ["trim_carry_ends", "trim_netlist"]

_CONST = ("0", "1")


def _loads(module: dict) -> Counter:
    """How many loads (cell inputs and top-level outputs) each net bit has."""
    loads: Counter = Counter()
    for cell in module["cells"].values():
        dirs = cell.get("port_directions", {})
        for port, bits in cell["connections"].items():
            if dirs.get(port) != "output":
                loads.update(b for b in bits if isinstance(b, int))
    for port in module.get("ports", {}).values():
        if port["direction"] != "input":
            loads.update(b for b in port["bits"] if isinstance(b, int))
    return loads


def _init(value) -> int:
    """A 16-bit LUT table from Yosys's JSON (a binary string, or an integer)."""
    return int(value, 2) if isinstance(value, str) else int(value)


def first_propagate_is_zero(cell: dict) -> bool:
    """Whether the cell's first half's LUT4 is 0 for every value of its non-constant inputs (an
    input that is not the constant ``"0"`` / ``"1"`` takes both values)."""
    table = _init(cell["parameters"].get("INIT0", "0"))
    choices = []
    for pin in ("A0", "B0", "C0", "D0"):
        bits = cell["connections"].get(pin)
        bit = bits[0] if bits else "x"
        choices.append((int(bit),) if bit in _CONST else (0, 1))
    return all(not table >> (a | b << 1 | c << 2 | d << 3) & 1 for a, b, c, d in itertools.product(*choices))


def trim_netlist(design: dict, top: str) -> dict:
    """Disconnect the carry ends of module ``top`` of a Yosys JSON ``design`` that no output
    depends on (changed in place).  Returns ``{"cout": n, "cin": n, "cin_kept": n}``: carry outs
    and constant carry ins disconnected, and constant carry ins that had to stay (a chain start
    whose first bit uses its carry in: nextpnr feeds it)."""
    if top not in design.get("modules", {}):
        raise ValueError(f"netlist has no module {top!r}")
    module = design["modules"][top]
    loads = _loads(module)
    done = Counter(cout=0, cin=0, cin_kept=0)
    for cell in module["cells"].values():
        if cell["type"] != "CCU2C":
            continue
        conn = cell["connections"]
        cout = conn.get("COUT", ["x"])[0]
        if isinstance(cout, int) and not loads[cout]:
            conn["COUT"] = ["x"]
            done["cout"] += 1
        cin = conn.get("CIN", ["x"])[0]
        if cin in _CONST:
            s0 = conn.get("S0", ["x"])[0]
            s0_used = isinstance(s0, int) and loads[s0] and cell["parameters"].get("INJECT1_0", "YES") == "NO"
            if first_propagate_is_zero(cell) and not s0_used:
                conn["CIN"] = ["x"]
                done["cin"] += 1
            else:
                done["cin_kept"] += 1
    return dict(done)


def trim_carry_ends(netlist: Path, top: str) -> dict:
    """:func:`trim_netlist` on the JSON file ``netlist``, rewritten in place (atomically)."""
    return rewrite_netlist(netlist, top, trim_netlist)
