"""Read the emitted Verilog back with pyverilog: the interface manifest, and a lint that rejects
RTL with latches, undriven nets or unsynthesizable constructs.

The manifest (``interface.json`` beside the Verilog) is what testbenches and synthesis wrappers
use instead of hard-coded port names: the clock and reset, every port with its direction,
width and signedness, and the valid / ready / payload streams grouped by name (Amaranth joins
nested names with ``__``)::

    {"top": "hdlif_accel", "clock": "clk", "reset": "rst",
     "ports": [{"name": "pixels__payload", "direction": "input", "width": 5, "signed": false}, ...],
     "streams": {"pixels": {"direction": "input", "valid": "pixels__valid", "ready": "pixels__ready",
                            "payload": "pixels__payload", "width": 5, "signed": false}, ...}}

The lint walks every module of the file:

* latch: a combinational ``always`` block (``@*`` or a level-sensitive list) that leaves a
  variable it assigns unassigned on some path;
* undriven net: a wire or variable that is read, or an output, with no driver (no continuous
  assignment, no ``always`` assignment, no instance output, no initial value, not an input);
* unsynthesizable construct: delays, ``wait``, ``fork``, ``forever``, event controls inside
  statements, ``force`` / ``release``, system tasks other than ``$signed`` / ``$unsigned`` /
  ``$clog2``, ``real`` / ``time`` variables, and ``initial`` blocks that do more than give
  memories and variables constant initial values.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pyverilog.vparser import ast as A

_ATTR_RE = re.compile(r"\(\*.*?\*\)", re.S)
#: the statements of an Amaranth ``Assert`` (``$write`` of its message, then ``assert``): checks
#: for simulation (:func:`rtl_gen.hw.no_collision`), which the FPGA flows drop
#: (:data:`fpga.nextpnr.DROP_CHECKS`); read as empty blocks
_CHECK_RE = re.compile(r'\$write\("(?:[^"\\]|\\.)*"\);|\bassert \([^;]*\);')
_ALLOWED_SYSCALLS = {"signed", "unsigned", "clog2"}


class RTLLintError(ValueError):
    """The emitted Verilog has latches, undriven nets or unsynthesizable constructs."""


@dataclass
class LintReport:
    latches: list = field(default_factory=list)
    undriven: list = field(default_factory=list)
    unsynthesizable: list = field(default_factory=list)
    unused: list = field(default_factory=list)       # declared, never read nor driven (a warning)

    @property
    def ok(self) -> bool:
        return not (self.latches or self.undriven or self.unsynthesizable)

    def problems(self) -> list[str]:
        out = ([f"latch: {x}" for x in self.latches] + [f"undriven net: {x}" for x in self.undriven]
               + [f"unsynthesizable: {x}" for x in self.unsynthesizable])
        return list(dict.fromkeys(out))

    def as_dict(self) -> dict:
        return {"ok": self.ok, "latches": self.latches, "undriven": self.undriven,
                "unsynthesizable": self.unsynthesizable, "unused": self.unused[:50]}


def parse(text: str) -> A.Source:
    """Parse Verilog text (attributes stripped) into a pyverilog AST."""
    from pyverilog.vparser.parser import VerilogParser

    with tempfile.TemporaryDirectory(prefix="pyverilog.") as tmp:
        cwd = os.getcwd()
        try:
            os.chdir(tmp)              # PLY writes its parser tables into the working directory
            parser = VerilogParser(outputdir=tmp, debug=False)
            return parser.parse(_CHECK_RE.sub("begin end", _ATTR_RE.sub("", text)))
        finally:
            os.chdir(cwd)


def _modules(ast: A.Source) -> dict:
    return {d.name: d for d in ast.description.definitions if isinstance(d, A.ModuleDef)}


def _walk(node):
    yield node
    for c in node.children():
        yield from _walk(c)


def _const(node) -> int | None:
    if isinstance(node, A.IntConst):
        v = node.value.replace("_", "")
        m = re.match(r"^(\d*)'(s?)([bdho])([0-9a-fA-FxXzZ]+)$", v)
        if m:
            if re.search(r"[xXzZ]", m.group(4)):
                return None
            return int(m.group(4), {"b": 2, "d": 10, "h": 16, "o": 8}[m.group(3)])
        try:
            return int(v)
        except ValueError:
            return None
    if isinstance(node, A.Uminus):
        v = _const(node.right)
        return None if v is None else -v
    return None


def _width(decl) -> int:
    w = getattr(decl, "width", None)
    if w is None:
        return 1
    msb, lsb = _const(w.msb), _const(w.lsb)
    if msb is None or lsb is None:
        raise RTLLintError(f"port {decl.name}: width [{w.msb}:{w.lsb}] is not constant")
    return abs(msb - lsb) + 1


def _ports(mod: A.ModuleDef) -> list[dict]:
    order = [p.name for p in mod.portlist.ports if isinstance(p, A.Port)]
    decls = {}
    for item in mod.items:
        if isinstance(item, A.Decl):
            for d in item.list:
                if isinstance(d, (A.Input, A.Output, A.Inout)):
                    decls[d.name] = d
    for p in mod.portlist.ports:
        if isinstance(p, A.Ioport):            # ANSI style
            decls[p.first.name] = p.first
            order.append(p.first.name)
    out = []
    for name in order:
        d = decls.get(name)
        if d is None:
            raise RTLLintError(f"module {mod.name}: port {name} has no direction")
        direction = {A.Input: "input", A.Output: "output", A.Inout: "inout"}[type(d)]
        out.append({"name": name, "direction": direction, "width": _width(d), "signed": bool(d.signed)})
    return out


def interface_manifest(verilog, top: str, *, signed_ports=()) -> dict:
    """The ports of module ``top`` in ``verilog`` (a path or the text), grouped into streams.

    Verilog written by Yosys declares no port ``signed``; ``signed_ports`` names the ports whose
    payload is signed in the Amaranth signature (:func:`signed_ports_of`).
    """
    text = Path(verilog).read_text() if isinstance(verilog, Path) else verilog
    mods = _modules(parse(text))
    if top not in mods:
        raise RTLLintError(f"no module {top!r} in the Verilog (modules: {sorted(mods)[:8]})")
    return manifest_from_ports(top, _ports(mods[top]), signed_ports=signed_ports)


def signed_ports_of(component) -> set:
    """Verilog names of the signed ports of an Amaranth component (from its signature)."""
    from amaranth.hdl import Shape

    out = set()
    for path, member in component.signature.members.flatten():
        if member.is_port and Shape.cast(member.shape).signed:
            out.add("__".join(str(p) for p in path))
    return out


def manifest_from_ports(top: str, ports: list[dict], *, signed_ports=()) -> dict:
    ports = [dict(p, signed=p["signed"] or p["name"] in set(signed_ports)) for p in ports]
    by_name = {p["name"]: p for p in ports}
    streams = {}
    for p in ports:
        if p["name"].endswith("__payload"):
            base = p["name"][: -len("__payload")]
            valid, ready = by_name.get(f"{base}__valid"), by_name.get(f"{base}__ready")
            if valid and ready:
                streams[base] = {"direction": p["direction"], "valid": valid["name"], "ready": ready["name"],
                                 "payload": p["name"], "width": p["width"], "signed": p["signed"]}
    clock = "clk" if "clk" in by_name else None
    reset = "rst" if "rst" in by_name else None
    return {"top": top, "clock": clock, "reset": reset, "ports": ports, "streams": streams}


# ---------------------------------------------------------------------------------------------
# Lint

def _base_names(lv) -> tuple[set, set]:
    """(names assigned as a whole, names assigned in part) of an assignment target."""
    node = lv.var if isinstance(lv, A.Lvalue) else lv
    whole, part = set(), set()

    def go(n):
        if isinstance(n, A.Identifier):
            whole.add(n.name)
        elif isinstance(n, (A.Pointer, A.Partselect)):
            inner = n.var
            while isinstance(inner, (A.Pointer, A.Partselect)):
                inner = inner.var
            if isinstance(inner, A.Identifier):
                part.add(inner.name)
        elif isinstance(n, A.LConcat):
            for x in n.list:
                go(x)
    go(node)
    return whole, part


def _identifiers(node) -> set:
    return {n.name for n in _walk(node) if isinstance(n, A.Identifier)}


def _pattern_values(node, width: int) -> set | None:
    """The selector values a case item matches (``?`` / ``z`` / ``x`` are wildcards in casez)."""
    if not isinstance(node, A.IntConst):
        return None
    v = node.value.replace("_", "")
    m = re.match(r"^(\d*)'s?([bh])([0-9a-fA-F?xXzZ]+)$", v)
    if not m:
        c = _const(node)
        return None if c is None else {c}
    digits = m.group(3)
    bits = "".join(format(int(d, 16), "04b") if d not in "?xXzZ" else d * 4 for d in digits) \
        if m.group(2) == "h" else digits
    bits = bits[-width:].rjust(width, "0")
    free = [i for i, b in enumerate(bits) if b in "?xXzZ"]
    if len(free) > 12:
        return None
    base = int("".join("0" if b in "?xXzZ" else b for b in bits), 2)
    out = set()
    for k in range(1 << len(free)):
        val = base
        for n, i in enumerate(free):
            if k >> n & 1:
                val |= 1 << (width - 1 - i)
        out.add(val)
    return out


class _Comb:
    """Definite-assignment analysis of a combinational block."""

    def __init__(self, widths: dict | None = None):
        self.any: set = set()
        self.widths = widths or {}

    def _selector_width(self, comp) -> int | None:
        """Bits of a case selector: a declared net, a constant part-select or one bit of it."""
        if isinstance(comp, A.Identifier):
            return self.widths.get(comp.name)
        if isinstance(comp, A.Partselect) and isinstance(comp.var, A.Identifier):
            try:
                return abs(int(comp.msb.value) - int(comp.lsb.value)) + 1
            except (AttributeError, ValueError):
                return None
        if isinstance(comp, A.Pointer) and isinstance(comp.var, A.Identifier):
            return 1
        return None

    def _complete(self, s) -> bool:
        """A case without ``default`` whose items cover every value of its selector."""
        w = self._selector_width(s.comp)
        if w is None:
            return False
        if w > 16:
            return False
        covered = set()
        for c in s.caselist:
            for cc in c.cond or ():
                vals = _pattern_values(cc, w)
                if vals is None:
                    return False
                covered |= vals
        return len(covered) == 1 << w

    def definite(self, s) -> set:
        if s is None:
            return set()
        if isinstance(s, A.Block):
            out = set()
            for x in s.statements:
                out |= self.definite(x)
            return out
        if isinstance(s, (A.BlockingSubstitution, A.NonblockingSubstitution)):
            whole, part = _base_names(s.left)
            self.any |= whole | part
            return whole
        if isinstance(s, A.IfStatement):
            a, b = self.definite(s.true_statement), self.definite(s.false_statement)
            return a & b if s.false_statement is not None else set()
        if isinstance(s, (A.CaseStatement, A.CasexStatement, A.CasezStatement)):
            branches = [self.definite(c.statement) for c in s.caselist]
            has_default = any(c.cond is None for c in s.caselist) or self._complete(s)
            if not branches or not has_default:
                return set()
            out = branches[0]
            for b in branches[1:]:
                out &= b
            return out
        return set()


def _unsynth(node, where: str, out: list, in_initial: bool = False) -> None:
    for n in _walk(node):
        if isinstance(n, A.DelayStatement) or (isinstance(n, A.Substitution) and (n.ldelay or n.rdelay)):
            out.append(f"{where}: delay at line {n.lineno}")
        elif isinstance(n, (A.WaitStatement, A.ForeverStatement, A.ParallelBlock, A.Disable)):
            out.append(f"{where}: {type(n).__name__} at line {n.lineno}")
        elif isinstance(n, A.EventStatement) and n.senslist is not None and \
                any(x.sig is not None for x in n.senslist.list):      # "@*;" is pyverilog's null statement
            out.append(f"{where}: event control inside a statement at line {n.lineno}")
        elif isinstance(n, A.SystemCall) and n.syscall not in _ALLOWED_SYSCALLS:
            out.append(f"{where}: system task ${n.syscall} at line {n.lineno}")
        elif isinstance(n, (A.Real, A.Task)) or type(n).__name__ in ("Time", "Event"):
            out.append(f"{where}: {type(n).__name__} {getattr(n, 'name', '')} at line {n.lineno}")
        elif type(n).__name__ in ("Force", "Release"):
            out.append(f"{where}: {type(n).__name__.lower()} at line {n.lineno}")


def _initial_ok(init: A.Initial) -> bool:
    """An initial block that only gives constant initial values."""
    stmts = init.statement.statements if isinstance(init.statement, A.Block) else [init.statement]
    for s in stmts:
        if not isinstance(s, A.BlockingSubstitution):
            return False
        if _identifiers(s.right):
            return False
    return True


#: device primitives a design may instantiate (their ports), known to the lint though it has no
#: module for them: the ECP5 carry cell behind :data:`rtl_gen.carry.WRAPPER`
PRIMITIVES = {
    "CCU2C": {**{p: "input" for p in ("CIN", "A0", "B0", "C0", "D0", "A1", "B1", "C1", "D1")},
              **{p: "output" for p in ("S0", "S1", "COUT")}},
}


def lint(verilog) -> LintReport:
    """Lint every module of ``verilog`` (a path or the text)."""
    text = Path(verilog).read_text() if isinstance(verilog, Path) else verilog
    mods = _modules(parse(text))
    rep = LintReport()
    port_dirs = {name: {p["name"]: p["direction"] for p in _ports(mod)} for name, mod in mods.items()}
    port_dirs.update({k: v for k, v in PRIMITIVES.items() if k not in port_dirs})
    for name, mod in mods.items():
        drivers, reads, declared = set(), set(), set()
        outputs = set()
        widths = {}
        for p in mod.portlist.ports:
            if isinstance(p, A.Ioport):
                try:
                    widths[p.first.name] = _width(p.first)
                except RTLLintError:
                    pass
        for item in mod.items:
            if isinstance(item, A.Decl):
                for d in item.list:
                    if isinstance(d, (A.Wire, A.Reg, A.Input, A.Output)) and getattr(d, "dimensions", None) is None:
                        try:
                            widths[d.name] = _width(d)
                        except RTLLintError:
                            pass
        for p, d in port_dirs[name].items():
            if d in ("input", "inout"):
                drivers.add(p)
            if d in ("output", "inout"):
                outputs.add(p)
        for item in mod.items:
            if isinstance(item, A.Decl):
                for d in item.list:
                    if isinstance(d, (A.Wire, A.Reg, A.Integer)):
                        declared.add(d.name)
                    elif isinstance(d, (A.Real,)):
                        rep.unsynthesizable.append(f"{name}: real variable {d.name}")
                    elif isinstance(d, A.Assign):       # reg x = init;  wire y = expr;
                        whole, part = _base_names(d.left)
                        drivers |= whole | part
                        reads |= _identifiers(d.right)
            elif isinstance(item, A.Assign):
                whole, part = _base_names(item.left)
                drivers |= whole | part
                reads |= _identifiers(item.right)
                _unsynth(item, name, rep.unsynthesizable)
            elif isinstance(item, A.Always):
                senses = item.sens_list.list if item.sens_list is not None else []
                edge = any(s.type in ("posedge", "negedge") for s in senses)
                comb = not edge
                for n in _walk(item.statement):
                    if isinstance(n, (A.BlockingSubstitution, A.NonblockingSubstitution)):
                        whole, part = _base_names(n.left)
                        drivers |= whole | part
                        reads |= _identifiers(n.right)
                        for lv in _walk(n.left):
                            if isinstance(lv, (A.Pointer, A.Partselect)):
                                reads |= _identifiers(lv.ptr if isinstance(lv, A.Pointer) else lv.msb)
                                if isinstance(lv, A.Partselect):
                                    reads |= _identifiers(lv.lsb)
                    elif isinstance(n, A.IfStatement):
                        reads |= _identifiers(n.cond)
                    elif isinstance(n, (A.CaseStatement, A.CasexStatement, A.CasezStatement)):
                        reads |= _identifiers(n.comp)
                        for c in n.caselist:
                            for cc in c.cond or ():
                                reads |= _identifiers(cc)
                for s in senses:
                    if s.sig is not None:
                        reads |= _identifiers(s.sig)
                if comb:
                    an = _Comb(widths)
                    definite = an.definite(item.statement)
                    for v in sorted(an.any - definite):
                        rep.latches.append(f"{name}: {v} (always block at line {item.lineno})")
                _unsynth(item.statement, name, rep.unsynthesizable)
            elif isinstance(item, A.Initial):
                for n in _walk(item.statement):
                    if isinstance(n, A.BlockingSubstitution):
                        whole, part = _base_names(n.left)
                        drivers |= whole | part
                if not _initial_ok(item):
                    rep.unsynthesizable.append(f"{name}: initial block at line {item.lineno} does more "
                                               f"than set constant initial values")
                _unsynth(item.statement, name, rep.unsynthesizable, in_initial=True)
            elif isinstance(item, A.InstanceList):
                child = port_dirs.get(item.module)
                for inst in item.instances:
                    for pa in inst.portlist:
                        if pa.argname is None:
                            continue
                        d = child.get(pa.portname) if child else None
                        ids = _identifiers(pa.argname)
                        if d == "output" or d == "inout":
                            drivers |= ids
                        if d != "output":
                            reads |= ids
                    if child is None:
                        rep.unsynthesizable.append(f"{name}: instance {inst.name} of unknown module {item.module}")
            elif isinstance(item, (A.Task, A.Function)) and isinstance(item, A.Task):
                rep.unsynthesizable.append(f"{name}: task {item.name}")
        for v in sorted((reads | outputs) - drivers):
            if v in declared or v in outputs:
                rep.undriven.append(f"{name}: {v}")
        for v in sorted(declared - reads - drivers - outputs):
            rep.unused.append(f"{name}: {v}")
    return rep


def check(verilog, top: str, out_dir: Path | None = None, *, signed_ports=()) -> dict:
    """Lint and read the interface of ``verilog``; raise :class:`RTLLintError` on any problem.

    With ``out_dir``, writes ``interface.json`` (the manifest) and ``lint.json`` there.
    """
    text = Path(verilog).read_text() if isinstance(verilog, Path) else verilog
    rep = lint(text)
    manifest = interface_manifest(text, top, signed_ports=signed_ports)
    if out_dir is not None:
        out_dir = Path(out_dir)
        (out_dir / "interface.json").write_text(json.dumps(manifest, indent=2) + "\n")
        (out_dir / "lint.json").write_text(json.dumps(rep.as_dict(), indent=2) + "\n")
    if not rep.ok:
        problems = rep.problems()
        raise RTLLintError(f"{len(problems)} problem(s) in the emitted Verilog, first: {problems[0]}")
    return manifest


def load_manifest(path: Path) -> dict:
    return json.loads(Path(path).read_text())
