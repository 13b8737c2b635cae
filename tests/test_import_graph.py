"""The generator's import graph: no cycles, and every import goes down the layers.

Every ``import`` statement of ``rtl_gen/*.py`` and ``fpga/*.py`` counts, at module level or
inside a function: a lazy import only defers a cycle, it does not remove it.  Absolute
(``rtl_gen.x``, ``fpga.x``, ``from rtl_gen import x``) and relative (``.x``, ``from . import
x``) imports are resolved to modules.

The layers, lowest first; a module imports only from its own layer or a lower one (within a
layer the graph is acyclic):

1. parameters: ``rtl_gen.config``, the frozen, validated configs of every block, their sizing
   (``bits_for``, ``memory_attrs``, ``bram_layout``) and ``build`` (bundle + explicit folding ->
   configs).  Pure Python: no Amaranth, not even lazily, and nothing else of ``rtl_gen`` or
   ``fpga``.
2. gateware (Amaranth): ``rtl_gen.hw`` (counter and memory shapes with their mapping
   attributes), ``rtl_gen.carry`` (adders in hand-placed ECP5 carry cells), the blocks (``ternary_mac``, ``window``, ``synapse``, ``event_conv``, ``requant``,
   ``neuron_core``, ``pool``, ``buffers`` (with the current frames' ports), ``seca``,
   ``hdlif_layer``, ``current_engine``, ``stem``, ``loader``, ``readout``;
   each block also owns its timing, next to its gateware), the accelerator (``top``) and the
   board-independent link blocks (``uart``, ``host_link``).
3. planning: ``rtl_gen.estimate`` (cycles, strung together from the blocks' timing, and
   resources), ``rtl_gen.folding`` (the folding of every layer, ``from_bundle``,
   ``input_activity``) and ``rtl_gen.graph`` (an integer graph lowered onto the engines; like
   ``folding``, no Amaranth at module level).  ``rtl_gen.folding`` imports no Amaranth and, at module level, nothing
   of the generator but ``rtl_gen.config``; it imports ``rtl_gen.estimate`` lazily, where a
   target is searched, so that choosing a folding by hand or by lanes loads no Amaranth.
4. output: ``rtl_gen.manifest`` (the Verilog's interface and lint), ``rtl_gen.emit``
   (Verilog, manifest, lint and estimates of a config).
5. board: ``rtl_gen.board_top`` (the UART-served accelerator and the board top; the PLL is
   passed in, so it imports nothing from ``fpga``).
6. fpga: every ``fpga`` module (PLL arithmetic and primitives, boards, the nextpnr / Vivado
   flows, the netlist passes that move registers into hard blocks and trim carry chains' ends); ``fpga.board_flow`` drives
   the generator.  No ``rtl_gen`` module imports ``fpga``.

The first-party packages the generator imports (``golden``, ``host``) import neither
``rtl_gen`` nor ``fpga``, so no cycle can pass through them either.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rtl_gen", "fpga")

LAYERS = {
    "parameters": ("rtl_gen.config",),
    "gateware": ("rtl_gen.hw", "rtl_gen.carry", "rtl_gen.ternary_mac", "rtl_gen.window", "rtl_gen.synapse", "rtl_gen.event_conv",
                 "rtl_gen.requant", "rtl_gen.neuron_core", "rtl_gen.pool", "rtl_gen.buffers", "rtl_gen.seca",
                 "rtl_gen.hdlif_layer", "rtl_gen.current_engine", "rtl_gen.stem",
                 "rtl_gen.loader", "rtl_gen.readout", "rtl_gen.top", "rtl_gen.uart", "rtl_gen.host_link"),
    "planning": ("rtl_gen.estimate", "rtl_gen.folding", "rtl_gen.graph"),
    "output": ("rtl_gen.manifest", "rtl_gen.emit"),
    "board": ("rtl_gen.board_top",),
    "fpga": ("fpga", "fpga.pll", "fpga.boards", "fpga.nextpnr", "fpga.absorb", "fpga.carry_ends", "fpga.ecp5", "fpga.ice40", "fpga.board_flow"),
}
RANK = {mod: rank for rank, mods in enumerate(LAYERS.values()) for mod in mods}
LAYER_OF = {mod: name for name, mods in LAYERS.items() for mod in mods}


@dataclass(frozen=True)
class Edge:
    src: str            # importing module
    dst: str            # imported module (resolved: a module of the scanned packages, or the raw name)
    path: str           # file of the import, relative to the root
    line: int
    lazy: bool          # inside a function

    def where(self) -> str:
        return f"{self.path}:{self.line}" + (" (inside a function)" if self.lazy else "")


def _module_name(root: Path, file: Path) -> str:
    parts = file.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(root: Path, packages) -> dict[str, Path]:
    return {_module_name(root, f): f for pkg in packages for f in sorted((root / pkg).glob("*.py"))}


def _resolve(name: str, known: dict) -> str:
    """``a.b.c`` -> the longest prefix that is a scanned module (else the name itself)."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        cand = ".".join(parts[:n])
        if cand in known:
            return cand
    return name


def imports_of(root: Path, module: str, file: Path, known: dict) -> list[Edge]:
    """Every import of ``file`` (module ``module``), resolved against the modules ``known``."""
    is_pkg = file.name == "__init__.py"
    package = module if is_pkg else module.rpartition(".")[0]
    rel = str(file.relative_to(root))
    out = []

    def add(name: str, node, lazy: bool) -> None:
        out.append(Edge(module, _resolve(name, known), rel, node.lineno, lazy))

    def visit(node, lazy: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node, lazy)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            for alias in node.names:       # ``from pkg import module`` imports that module
                sub = f"{mod}.{alias.name}"
                add(sub if sub in known else mod, node, lazy)
        for child in ast.iter_child_nodes(node):
            visit(child, lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(file.read_text(), filename=rel), False)
    return out


def scan(root: Path = ROOT, packages=PACKAGES) -> dict[str, list[Edge]]:
    """Module -> its imports, for every module of ``packages`` under ``root``."""
    known = _modules(root, packages)
    return {mod: imports_of(root, mod, f, known) for mod, f in known.items()}


def internal(graph: dict) -> dict[str, list[Edge]]:
    """Only the edges between scanned modules (self-imports dropped)."""
    return {m: [e for e in edges if e.dst in graph and e.dst != m] for m, edges in graph.items()}


def find_cycle(graph: dict) -> list[Edge] | None:
    """The edges of one import cycle, or None."""
    graph = internal(graph)
    state, stack = {}, []             # state: 1 on the current path, 2 done

    def dfs(mod: str):
        state[mod] = 1
        for e in graph[mod]:
            if state.get(e.dst) == 1:
                start = next(i for i, s in enumerate(stack) if s.src == e.dst)
                return stack[start:] + [e]
            if e.dst not in state:
                stack.append(e)
                found = dfs(e.dst)
                if found:
                    return found
                stack.pop()
        state[mod] = 2
        return None

    for mod in sorted(graph):
        if mod not in state:
            found = dfs(mod)
            if found:
                return found
    return None


def describe_cycle(cycle: list[Edge]) -> str:
    return " -> ".join([cycle[0].src] + [f"{e.dst} [{e.where()}]" for e in cycle])


def _top(name: str) -> str:
    return name.split(".")[0]


# ---------------------------------------------------------------------------------------------

def test_every_module_has_a_layer():
    found = set(scan())
    unplaced, stale = sorted(found - set(RANK)), sorted(set(RANK) - found)
    assert not unplaced, f"modules in no layer (add them to LAYERS, and to the docstring): {unplaced}"
    assert not stale, f"LAYERS names modules that do not exist: {stale}"


def test_no_import_cycle_in_rtl_gen_or_fpga():
    cycle = find_cycle(scan())
    assert cycle is None, "import cycle: " + describe_cycle(cycle)


def test_imports_go_down_the_layers():
    graph = scan()
    wrong = [f"{e.where()}: {e.src} ({LAYER_OF[e.src]}) imports {e.dst} ({LAYER_OF[e.dst]})"
             for edges in internal(graph).values() for e in edges
             if e.src in RANK and e.dst in RANK and RANK[e.dst] > RANK[e.src]]
    assert not wrong, "imports up the layers:\n" + "\n".join(wrong)


def test_no_rtl_gen_module_imports_fpga():
    graph = scan()
    wrong = [f"{e.where()}: {e.src} imports {e.dst}" for m, edges in graph.items() if _top(m) == "rtl_gen"
             for e in edges if _top(e.dst) == "fpga"]
    assert not wrong, "\n".join(wrong)
    assert not [e for e in graph["rtl_gen.board_top"] if _top(e.dst) == "fpga"]


def test_parameters_are_pure_python():
    """rtl_gen.config: no Amaranth, not even lazily, and no other module of the generator."""
    edges = scan()["rtl_gen.config"]
    wrong = [f"{e.dst} ({e.where()})" for e in edges if _top(e.dst) in ("amaranth", "rtl_gen", "fpga")]
    assert not wrong, "rtl_gen.config imports " + ", ".join(wrong)


def test_folding_imports_no_amaranth_and_only_config_at_module_level():
    edges = scan()["rtl_gen.folding"]
    amaranth = [e.where() for e in edges if _top(e.dst) == "amaranth"]
    assert not amaranth, f"rtl_gen.folding imports Amaranth at {amaranth}"
    eager = sorted({e.dst for e in edges if not e.lazy and _top(e.dst) in PACKAGES})
    assert eager == ["rtl_gen.config"], f"rtl_gen.folding imports {eager} at module level"
    lazy = sorted({e.dst for e in edges if e.lazy and _top(e.dst) in PACKAGES})
    assert set(lazy) <= {"rtl_gen.config", "rtl_gen.estimate"}, f"rtl_gen.folding imports {lazy} lazily"


def test_parameters_and_folding_load_no_amaranth():
    """Importing them (and all they import at module level, ``golden`` included) loads no Amaranth."""
    for module in ("rtl_gen.config", "rtl_gen.folding"):
        code = (f"import sys, {module}; "
                "print(sorted(m for m in sys.modules if m.split('.')[0] == 'amaranth'))")
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "[]", f"import {module} loads {out.stdout.strip()}"


def test_golden_and_host_do_not_import_the_generator():
    graph = scan(ROOT, ("golden", "host"))
    wrong = [f"{e.where()}: {e.src} imports {e.dst}" for edges in graph.values() for e in edges
             if _top(e.dst) in PACKAGES]
    assert not wrong, "\n".join(wrong)


def test_the_scan_finds_a_cycle_through_a_lazy_import(tmp_path):
    """The checks above can fail: a cycle closed by an import inside a function is found."""
    pkg = tmp_path / "rtl_gen"
    pkg.mkdir()
    (pkg / "low.py").write_text(textwrap.dedent("""\
        import numpy as np

        def helper():
            from .high import thing
            return thing
        """))
    (pkg / "high.py").write_text("from rtl_gen import low\nfrom . import mid\nthing = 1\n")
    (pkg / "mid.py").write_text("import rtl_gen.low as low\n")
    graph = scan(tmp_path, ("rtl_gen",))
    assert {e.dst for e in graph["rtl_gen.high"]} == {"rtl_gen.low", "rtl_gen.mid"}
    assert [(e.dst, e.lazy) for e in graph["rtl_gen.low"]] == [("numpy", False), ("rtl_gen.high", True)]
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0].src == cycle[-1].dst
    text = describe_cycle(cycle)
    assert "rtl_gen.low" in text and "rtl_gen.high" in text and "inside a function" in text
    (pkg / "low.py").write_text("import numpy as np\n")
    assert find_cycle(scan(tmp_path, ("rtl_gen",))) is None
