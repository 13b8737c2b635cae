"""Move flip-flops into the ECP5 hard blocks they sit beside: DP16KD output registers and
MULT18X18D input / output registers.

Yosys maps every memory to a DP16KD with ``REGMODE NOREG`` and every product to a MULT18X18D
with no register in use, and nextpnr-ecp5 packs no flip-flop into either.  The gateware puts a
register on each side of every block (a frame bank's ``near`` word, a leak product's operand and
landing registers); placed as logic cells they land wherever the placer leaves room, often 20-50
rows from the block they serve, and the block's slow clock-to-out or combinational path plus
that route is the design's critical path.  The blocks have those registers built in, and
nextpnr times them (``DP16KD_REGMODE_*_OUTREG``, ``MULT18X18D_REGS_*``): this pass moves each
flip-flop that is exactly such a register into its block, on the synthesized JSON netlist,
between Yosys and nextpnr (:func:`fpga.nextpnr.run_flow`'s ``netlist_pass``).

A move never changes what the design computes.  A flip-flop moves only when it is a plain
register the block's own one can be:

* a ``TRELLIS_FF`` clocked on the rising edge of the block's clock (``CLKMUX`` ``CLK``), with no
  set / reset (``LSR`` absent or constant 0: the blocks' reset inputs also clear their
  internal latches), initial value 0 (``REGSET`` ``RESET``; the blocks' registers start at 0),
  no global set/reset, and either no clock enable or one enable net shared by every flip-flop
  that moves into the same register (it becomes ``OCEA`` / ``OCEB`` or a ``CE`` input);
* **DP16KD port A / B** (``REGMODE_A`` / ``REGMODE_B`` -> ``OUTREG``): every used ``DO`` bit of
  the port drives exactly one load, the ``DI`` of such a flip-flop, and nothing else (no logic,
  no top-level port); the flip-flops go, their ``Q`` nets are now driven by ``DO``.  A block 36
  bits wide is one read port (nextpnr configures it as a PDPW16KD: port B's clock and output
  enable, ``DOA`` and ``DOB`` its 36 outputs): all 36 move or none, and both ``REGMODE`` s are
  set, as nextpnr does for a PDPW16KD's ``REGMODE``;
* **MULT18X18D output** (``REG_OUTPUT_CLK`` ``CLK0``): the same for every used ``P`` bit;
* **MULT18X18D inputs** (``REG_INPUTA_CLK`` and ``REG_INPUTB_CLK`` ``CLK0``; both or neither,
  as nextpnr times one alone as none): every ``A`` / ``B`` bit is constant 0 or the ``Q`` of such
  a flip-flop; the block reads the flip-flops' ``DI`` nets instead, and a flip-flop is removed
  once no load is left on its ``Q`` (one feeding several blocks is copied into each; one that
  also feeds logic stays).  ``SIGNEDA`` / ``SIGNEDB`` must be constant.

:func:`absorb_registers` returns what it moved; every block it leaves alone is counted with the
first reason that stopped it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from .nextpnr import rewrite_netlist

__all__ = ["absorb_registers", "absorb_netlist"]

_DP_PORTS = ("A", "B")
_NO_ENABLE = ("1", "1 ")     # Yosys writes CEMUX "1" as "1 " (a string that is not a bit vector)


class _Netlist:
    """One flattened module's cells with every net bit's loads and driver."""

    def __init__(self, module: dict):
        self.cells: dict[str, dict] = module["cells"]
        self.port_bits = {b for p in module.get("ports", {}).values() for b in p["bits"]
                          if isinstance(b, int)}
        self.loads: dict[int, list[tuple[str, str]]] = defaultdict(list)
        self.driver: dict[int, tuple[str, str]] = {}
        for name, cell in self.cells.items():
            dirs = cell.get("port_directions", {})
            for port, bits in cell["connections"].items():
                for b in bits:
                    if not isinstance(b, int):
                        continue
                    if dirs.get(port) == "output":
                        self.driver[b] = (name, port)
                    else:
                        self.loads[b].append((name, port))

    def bit(self, cell: dict, port: str):
        bits = cell["connections"].get(port)
        return bits[0] if bits else None

    def connect(self, name: str, port: str, bit, direction: str = "input") -> None:
        cell = self.cells[name]
        old = self.bit(cell, port)
        if isinstance(old, int):
            if direction == "output":
                self.driver.pop(old, None)
            else:
                self.loads[old].remove((name, port))
        cell["connections"][port] = [bit]
        cell.setdefault("port_directions", {})[port] = direction
        if isinstance(bit, int):
            if direction == "output":
                self.driver[bit] = (name, port)
            else:
                self.loads[bit].append((name, port))

    def remove(self, name: str) -> None:
        cell = self.cells.pop(name)
        dirs = cell.get("port_directions", {})
        for port, bits in cell["connections"].items():
            for b in bits:
                if isinstance(b, int):
                    if dirs.get(port) == "output":
                        self.driver.pop(b, None)
                    else:
                        self.loads[b].remove((name, port))


def _plain_ff(net: _Netlist, name: str, clock) -> str | None:
    """Why the cell ``name`` is not a plain rising-edge register of ``clock`` (None: it is)."""
    cell = net.cells[name]
    if cell["type"] != "TRELLIS_FF":
        return "not a flip-flop"
    p = cell["parameters"]
    if p.get("CLKMUX", "CLK") != "CLK" or net.bit(cell, "CLK") != clock:
        return "another clock"
    lsr = net.bit(cell, "LSR")
    if lsr not in (None, "0") or p.get("LSRMUX", "LSR") != "LSR":
        return "a reset"
    if p.get("REGSET", "RESET") != "RESET" or p.get("GSR", "DISABLED") != "DISABLED":
        return "an initial value other than 0"
    if p.get("CEMUX", "1") not in (*_NO_ENABLE, "CE"):
        return "an inverted enable"
    return None


def _enable(net: _Netlist, name: str):
    """The flip-flop's clock enable as a bit ("1": none)."""
    cell = net.cells[name]
    if cell["parameters"].get("CEMUX", "1") in _NO_ENABLE:
        return "1"
    return net.bit(cell, "CE")


def _output_register(net: _Netlist, outputs: list, clock) -> tuple[str | None, list, object]:
    """Whether the block outputs ``outputs`` (bits) all land in plain flip-flops of ``clock``
    sharing one enable: (reason not, [(output index, flip-flop)], enable)."""
    moves, enables = [], set()
    for i, b in enumerate(outputs):
        if not isinstance(b, int) or not net.loads.get(b):
            continue
        loads = net.loads[b]
        if b in net.port_bits or len(loads) != 1 or loads[0][1] != "DI":
            return "an output with other loads", [], None
        why = _plain_ff(net, loads[0][0], clock)
        if why:
            return f"an output register with {why}", [], None
        moves.append((i, loads[0][0]))
        enables.add(_enable(net, loads[0][0]))
    if not moves:
        return "no output used", [], None
    if len(enables) != 1:
        return "output registers with different enables", [], None
    return None, moves, enables.pop()


def _bits_param(value) -> int:
    """An integer parameter as Yosys writes it (a string of bits) or as a number."""
    return int(value, 2) if isinstance(value, str) and value and set(value) <= {"0", "1"} else int(value)


def _absorb_dp16kd(net: _Netlist, name: str, moved: Counter, kept: Counter) -> None:
    cell = net.cells[name]
    params = cell["parameters"]
    # a 36-bit block is one read port (B's clock and output enable) driving DOB and DOA (PDPW16KD);
    # nextpnr turns a PDPW16KD's REGMODE into both REGMODE_A and REGMODE_B, and so does this
    pdp = _bits_param(params.get("DATA_WIDTH_A", "0")) == 36
    for x in ("B",) if pdp else _DP_PORTS:
        if params.get(f"REGMODE_{x}", "NOREG") != "NOREG":
            continue
        halves = _DP_PORTS if pdp else (x,)      # the outputs this read port drives
        ports = [f"DO{y}{i}" for y in halves for i in range(18)]
        outputs = [net.bit(cell, port) for port in ports]
        if not any(isinstance(b, int) and net.loads.get(b) for b in outputs):
            continue
        clock = net.bit(cell, f"CLK{x}")
        if params.get(f"CLK{x}MUX", f"CLK{x}") != f"CLK{x}" or not isinstance(clock, int):
            kept["DP16KD port: an inverted or constant clock"] += 1
            continue
        why, moves, enable = _output_register(net, outputs, clock)
        if why:
            kept[f"DP16KD port: {why}"] += 1
            continue
        for i, ff in moves:
            q = net.bit(net.cells[ff], "Q")
            net.remove(ff)
            net.connect(name, ports[i], q, "output")
        for y in halves:
            net.connect(name, f"OCE{y}", enable)
            params[f"REGMODE_{y}"] = "OUTREG"
        moved["dp16kd_ports"] += 1
        moved["flip_flops"] += len(moves)


def _input_registers(net: _Netlist, cell: dict, clock) -> tuple[str | None, dict, object]:
    """Whether every A / B bit is constant 0 or a plain register of ``clock`` (one enable)."""
    for s in ("SIGNEDA", "SIGNEDB"):
        if isinstance(net.bit(cell, s), int):
            return "a signedness that is not constant", {}, None
    sources, enables = {}, set()
    for port in [f"{x}{i}" for x in "AB" for i in range(18)]:
        b = net.bit(cell, port)
        if b in (None, "0", "x"):
            continue
        if not isinstance(b, int) or b not in net.driver or net.driver[b][1] != "Q":
            return "an input not from a flip-flop", {}, None
        ff = net.driver[b][0]
        why = _plain_ff(net, ff, clock)
        if why:
            return f"an input register with {why}", {}, None
        sources[port] = ff
        enables.add(_enable(net, ff))
    if not sources:
        return "constant inputs", {}, None
    if len(enables) != 1:
        return "input registers with different enables", {}, None
    return None, sources, enables.pop()


def _absorb_mult(net: _Netlist, name: str, clock, moved: Counter, kept: Counter,
                 emptied: set) -> None:
    cell = net.cells[name]
    p = cell["parameters"]
    if any(p.get(k, "NONE") != "NONE" for k in
           ("REG_INPUTA_CLK", "REG_INPUTB_CLK", "REG_OUTPUT_CLK", "REG_PIPELINE_CLK")):
        kept["MULT18X18D: registers already in use"] += 1
        return
    why_in, sources, in_enable = _input_registers(net, cell, clock)
    why_out, moves, out_enable = _output_register(
        net, [net.bit(cell, f"P{i}") for i in range(36)], clock)
    if why_in:
        kept[f"MULT18X18D inputs: {why_in}"] += 1
    if why_out:
        kept[f"MULT18X18D output: {why_out}"] += 1
    if why_in and why_out:
        return
    net.connect(name, "CLK0", clock)
    net.connect(name, "RST0", "0")
    p["GSR"] = "DISABLED"
    if not why_in:
        for port, ff in sources.items():
            net.connect(name, port, net.bit(net.cells[ff], "DI"))
            emptied.add(ff)
        net.connect(name, "CE0", in_enable)
        for x in "AB":
            p[f"REG_INPUT{x}_CLK"], p[f"REG_INPUT{x}_CE"], p[f"REG_INPUT{x}_RST"] = "CLK0", "CE0", "RST0"
        moved["mult_inputs"] += 1
    if not why_out:
        for i, ff in moves:
            q = net.bit(net.cells[ff], "Q")
            net.remove(ff)
            net.connect(name, f"P{i}", q, "output")
        net.connect(name, "CE1", out_enable)
        p["REG_OUTPUT_CLK"], p["REG_OUTPUT_CE"], p["REG_OUTPUT_RST"] = "CLK0", "CE1", "RST0"
        moved["mult_outputs"] += 1
        moved["flip_flops"] += len(moves)


def absorb_netlist(design: dict, top: str) -> dict:
    """Move registers into the hard blocks of module ``top`` of a Yosys JSON ``design`` (changed
    in place).  Returns ``{"moved": {...}, "kept": {reason: blocks}}``: ``moved`` counts
    ``dp16kd_ports``, ``mult_inputs``, ``mult_outputs`` and ``flip_flops`` removed."""
    if top not in design.get("modules", {}):
        raise ValueError(f"netlist has no module {top!r}")
    net = _Netlist(design["modules"][top])
    moved: Counter = Counter(dp16kd_ports=0, mult_inputs=0, mult_outputs=0, flip_flops=0)
    kept: Counter = Counter()
    for name in [n for n, c in net.cells.items() if c["type"] == "DP16KD"]:
        _absorb_dp16kd(net, name, moved, kept)
    emptied: set[str] = set()
    for name in [n for n, c in net.cells.items() if c["type"] == "MULT18X18D"]:
        # the clock of the registers around it: that of the flip-flops on its inputs or outputs
        cell = net.cells[name]
        clocks = {net.bit(net.cells[d[0]], "CLK") for b in
                  (net.bit(cell, f"{x}{i}") for x in "AB" for i in range(18))
                  if isinstance(b, int) and (d := net.driver.get(b)) and d[1] == "Q"}
        clocks |= {net.bit(net.cells[ld[0]], "CLK") for b in
                   (net.bit(cell, f"P{i}") for i in range(36)) if isinstance(b, int)
                   for ld in net.loads.get(b, ()) if ld[1] == "DI"}
        if len(clocks) != 1 or not isinstance(next(iter(clocks)), int):
            kept["MULT18X18D: no single clock around it"] += 1
            continue
        _absorb_mult(net, name, clocks.pop(), moved, kept, emptied)
    for ff in sorted(emptied):
        q = net.bit(net.cells[ff], "Q")
        if not net.loads.get(q) and q not in net.port_bits:
            net.remove(ff)
            moved["flip_flops"] += 1
    return {"moved": dict(moved), "kept": dict(sorted(kept.items()))}


def absorb_registers(netlist: Path, top: str) -> dict:
    """:func:`absorb_netlist` on the JSON file ``netlist``, rewritten in place (atomically)."""
    return rewrite_netlist(netlist, top, absorb_netlist)
