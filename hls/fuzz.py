"""Randomized verification of the HLS path on integer graphs (residual networks): ``make bench``
step ``fuzz:hls_graphs``.

``python -m hls.fuzz [--cases 40] [--seed 2026] [--images 24] [--record bench/results/hls_graph_fuzz.json]``

Each case draws a random residual graph (:func:`golden.synthetic.draw_graph_options`,
:func:`golden.synthetic.random_graph`: SECA_I / SECA_II, Mem-BN maps, strided 1x1 shortcuts on
spikes or on the stream, heads on spikes or on the stream, binary / ternary / 8-bit weights, 1- to
4-bit spikes, per-channel leaks and thresholds, T = 1 .. 4, max- or sum-pooled stems), writes its hls4ml project
(:func:`hls.convert.graph_project`), g++-compiles it and C-simulates random images (the first all
zero, the second all at the largest pixel) against the golden graph executor, step by step and
class by class; a mismatch names the case, image, node, step and neuron.  Case ``i`` is drawn
from ``numpy.random.default_rng([seed, i])``, so any case re-runs alone (``--only i``).  The
result is written atomically, with the ``command``.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from golden.atomic import write_json_atomic


def run_case(seed: int, i: int, images: int, work: Path) -> dict:
    from golden.graph import run_graph
    from golden.synthetic import draw_graph_options, random_graph

    from . import convert, csim

    rng = np.random.default_rng([seed, i])
    opts = draw_graph_options(rng, np.random.default_rng([seed, i, 21]))
    g = random_graph(int(rng.integers(1 << 30)), **opts)
    x = rng.integers(0, g.input.max_value + 1, (images, g.input.features))
    x[0] = 0
    if images > 1:
        x[1] = g.input.max_value
    r = run_graph(g, x, trace=True)
    vec = {"images": x, "scores": r.scores, "classes": r.classes, "labels": r.classes,
           **{f"codes.{k}": v for k, v in r.codes.items()}}
    t0 = time.time()
    model = convert.graph_project(g, work / f"case{i}")
    model.compile()
    res = csim.check_network(model, g, vec)
    shutil.rmtree(work / f"case{i}", ignore_errors=True)
    kinds = sorted({n.kind for n in g.nodes})
    return {"case": i, "options": {k: list(v) if isinstance(v, tuple) else v for k, v in opts.items()},
            "nodes": len(g.nodes), "kinds": kinds, "images": images, "mismatches": res["mismatches"],
            "mismatch_details": res["mismatch_details"][:5], "seconds": round(time.time() - t0, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m hls.fuzz", description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=40)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--images", type=int, default=24, help="images per case (the first two: all 0, all max)")
    p.add_argument("--only", type=int, default=None, help="re-run one case")
    p.add_argument("--record", type=Path, default=None, help="write the campaign's result here (JSON)")
    a = p.parse_args(argv)
    if a.cases < 1 or a.images < 1:
        p.error("--cases and --images must be at least 1")
    cases = [a.only] if a.only is not None else list(range(a.cases))
    results = []
    with tempfile.TemporaryDirectory(prefix="hls_fuzz_") as tmp:
        for i in cases:
            r = run_case(a.seed, i, a.images, Path(tmp))
            results.append(r)
            status = "ok" if r["mismatches"] == 0 else f"{r['mismatches']} MISMATCHING images: {r['mismatch_details'][:2]}"
            print(f"hls fuzz case {i} (seed {a.seed}): {r['nodes']} nodes {r['kinds']}, {r['seconds']} s: {status}",
                  flush=True)
    passed = sum(r["mismatches"] == 0 for r in results)
    if a.record is not None:
        write_json_atomic(a.record, {
            "what": "random residual integer graphs (SECA_I / SECA_II, Mem-BN maps, strided shortcuts on spikes "
                    "or the stream, heads on spikes or the stream) in hls4ml C simulation against the golden graph",
            "seed": a.seed, "cases": len(results), "passed": passed, "images_per_case": a.images,
            "node_kinds": sorted({k for r in results for k in r["kinds"]}), "results": results,
            "command": "python -m hls.fuzz " + " ".join(shlex.quote(s) for s in (argv if argv is not None
                                                                                else sys.argv[1:]))})
    print(f"hls fuzz: {passed} of {len(results)} cases bit-exact", flush=True)
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
