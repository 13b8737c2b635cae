"""Reading a NIR graph and flattening it into a chain of nodes.

:func:`read_graph` reads a ``.nir`` file (HDF5, ``nir.read``); :func:`chain` flattens nested
graphs (a node that is itself a ``NIRGraph`` is replaced by its nodes, named
``<outer>.<inner>``, its own ``Input`` / ``Output`` nodes bypassed) and returns the nodes from
the graph's ``Input`` to its ``Output`` in order.  Only chains are in scope: a node feeding two
nodes, a node fed by two, a cycle (a recurrent layer) or a node off the path is refused with
one line naming it.  Whether each node is one the integer model can take is decided later
(:mod:`nir_io.layers`); here only the structure is checked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class NIRImportError(ValueError):
    """A graph (or a setting) the importer cannot take.  One line: the file or node, and why."""


#: the node types the importer maps (anything else is refused with this list)
SUPPORTED = ("Input", "Output", "Affine", "Linear", "Conv2d", "Flatten", "SumPool2d", "AvgPool2d", "IF", "LIF",
             "CubaLIF (with tau_syn = dt)", "nested NIRGraph")


def supported_text() -> str:
    return ", ".join(SUPPORTED)


def read_graph(path: str | Path):
    """``nir.read(path)``, with a one-line error naming the file when it is missing or not a NIR graph.

    Types are not checked on reading (``type_check=False``): older exporters leave some
    ``input_type`` unset, and the importer tracks every shape itself."""
    import nir

    path = Path(path)
    if not path.is_file():
        raise NIRImportError(f"{path}: no such NIR file (NIR= names the graph file, e.g. written by nir.write)")
    try:
        graph = nir.read(path, type_check=False)
    except OSError as e:
        raise NIRImportError(f"{path}: not a NIR graph (an HDF5 file written by nir.write): {_first_line(e)}") from None
    except Exception as e:  # noqa: BLE001 - any decode failure is a bad file
        raise NIRImportError(f"{path}: not readable as a NIR graph: {_first_line(e)}") from None
    if not isinstance(graph, nir.NIRGraph):
        raise NIRImportError(f"{path}: holds a single {type(graph).__name__} node, not a NIRGraph")
    return graph


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def type_name(node) -> str:
    return f"nir.{type(node).__name__}"


def _flatten(graph, prefix: str = "") -> tuple[dict, list, set]:
    """Nodes and edges with every nested graph inlined (``<outer>.<inner>`` names), and the
    names of the nested graphs' own Input / Output nodes, which :func:`chain` bypasses."""
    import nir

    nodes: dict = {}
    edges: list = []
    inner: set = set()
    entry: dict = {}        # nested graph name -> its Input node (flattened name)
    exit_: dict = {}        # nested graph name -> its Output node
    for name, node in graph.nodes.items():
        full = prefix + str(name)
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges, sub_inner = _flatten(node, full + ".")
            nodes.update(sub_nodes)
            edges.extend(sub_edges)
            ins = [full + "." + str(n) for n, v in node.nodes.items() if isinstance(v, nir.Input)]
            outs = [full + "." + str(n) for n, v in node.nodes.items() if isinstance(v, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise NIRImportError(f"node '{full}' (nested nir.NIRGraph) has {len(ins)} Input and {len(outs)} "
                                     f"Output nodes; a nested graph in a chain has one of each")
            entry[full], exit_[full] = ins[0], outs[0]
            inner |= sub_inner | {ins[0], outs[0]}
        else:
            nodes[full] = node
    for src, dst in graph.edges:
        src, dst = prefix + str(src), prefix + str(dst)
        for end in (src, dst):
            if end not in nodes and end not in entry:
                raise NIRImportError(f"edge ({src!r}, {dst!r}) names node {end!r}, which the graph does not have")
        edges.append((exit_.get(src, src), entry.get(dst, dst)))
    return nodes, edges, inner


def chain(graph) -> list[tuple[str, object]]:
    """The graph's nodes from its Input to its Output, in order (both included), nested graphs
    inlined and their inner Input / Output nodes removed.  Refuses anything but a chain."""
    import nir

    nodes, edges, inner = _flatten(graph)
    edges = list(dict.fromkeys(edges))               # exporters sometimes repeat an edge
    top_inputs = [n for n, v in nodes.items() if isinstance(v, nir.Input) and n not in inner]
    top_outputs = [n for n, v in nodes.items() if isinstance(v, nir.Output) and n not in inner]
    if len(top_inputs) != 1 or len(top_outputs) != 1:
        raise NIRImportError(f"the graph has {len(top_inputs)} Input and {len(top_outputs)} Output nodes "
                             f"({', '.join(top_inputs + top_outputs) or 'none'}); only a chain with one of each "
                             f"is supported")
    succ: dict = {n: [] for n in nodes}
    pred: dict = {n: [] for n in nodes}
    for s, d in edges:
        succ[s].append(d)
        pred[d].append(s)
    for n in sorted(inner):                          # bypass the nested graphs' Input / Output nodes
        if len(pred[n]) > 1 or len(succ[n]) > 1:
            raise NIRImportError(f"node '{n}' ({type_name(nodes[n])} of a nested graph) has "
                                 f"{len(pred[n])} inputs and {len(succ[n])} outputs; only chains are supported")
        for p in pred[n]:
            succ[p] = [s for s in succ[p] if s != n] + succ[n]
        for s in succ[n]:
            pred[s] = [p for p in pred[s] if p != n] + pred[n]
        del succ[n], pred[n], nodes[n]
    for n in nodes:
        if len(succ[n]) > 1:
            raise NIRImportError(f"node '{n}' ({type_name(nodes[n])}) feeds {len(succ[n])} nodes "
                                 f"({', '.join(repr(s) for s in succ[n])}): a branch; only chains are supported")
        if len(pred[n]) > 1:
            raise NIRImportError(f"node '{n}' ({type_name(nodes[n])}) is fed by {len(pred[n])} nodes "
                                 f"({', '.join(repr(p) for p in pred[n])}): a merge or a recurrent connection; "
                                 f"only chains (no branches, no cycles) are supported")
    order = [top_inputs[0]]
    seen = {top_inputs[0]}
    while succ[order[-1]]:
        nxt = succ[order[-1]][0]
        if nxt in seen:
            raise NIRImportError(f"node '{nxt}' ({type_name(nodes[nxt])}) closes a cycle (a recurrent layer); "
                                 f"only chains are supported")
        order.append(nxt)
        seen.add(nxt)
    if order[-1] != top_outputs[0]:
        raise NIRImportError(f"the chain from '{top_inputs[0]}' ends at '{order[-1]}' "
                             f"({type_name(nodes[order[-1]])}), not at the Output node '{top_outputs[0]}'")
    off = [n for n in nodes if n not in seen]
    if off:
        raise NIRImportError(f"node '{off[0]}' ({type_name(nodes[off[0]])}) is not on the path from the Input to the "
                             f"Output (a branch or a recurrent connection); only chains are supported")
    return [(n, nodes[n]) for n in order]


def input_shape(node) -> tuple:
    """The shape an Input node declares (without the batch), as a tuple of ints."""
    t = getattr(node, "input_type", None) or {}
    shape = next(iter(t.values()), None) if isinstance(t, dict) else t
    if shape is None:
        raise NIRImportError("the graph's Input node declares no shape (input_type)")
    return tuple(int(d) for d in np.asarray(shape).reshape(-1))
