"""Cycles against spike density, dense schedule vs event-driven, on the same images.

For every test image of a benchmark network's vector file, and every conv layer after the stem:
the share of its input codes that are non-zero (over the image's ``T`` steps), the clocks the
layer's engine needs for the image with the dense schedule (fixed: every tap of every position)
and event-driven (:meth:`rtl_gen.event_conv.EventConvSynapse.item_timing`, each step's own
non-zero codes per pixel), and the sparse ideal (the event-driven lane operations performed
divided by its lanes).  Per network: the interval a stream of such images would run at (the
slowest engine for that image), both ways.  The timing functions are the ones the estimate adds
up, which ``make fuzz`` and ``tests/test_event_conv.py`` hold equal to simulation clock for clock.

Writes ``bench/results/event_density.json``; ``report/results_md.py`` draws the figure.

    python -m bench.event_density [NAME] [--dense FOLD] [--event FOLD] [--images N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "event_density.json"

#: the foldings compared, per network: a dense one with about as many MAC lanes in each conv
#: layer as the event-driven one has (256 against k*k*pe = 288), and the event-driven one
FOLDINGS = {
    "conv_fmnist": ("16x1/8,16x16/8,16x16/4,5x4", "16x1/8,32x16/8e,32x32/4e,5x4"),
}


def _engine_cycles(cfg, events, i: int) -> dict:
    """Clocks per image ``i`` of every engine on its own (no stalls from its neighbours)."""
    from rtl_gen.estimate import engine_times
    from rtl_gen.event_conv import EventConvSynapse
    from rtl_gen.hdlif_layer import NeuronStage, overlap_ok

    times = engine_times(cfg)
    for layer in cfg.layers[1:]:
        syn = layer.synapse
        if not syn.event:
            continue
        s, total = 0, 0
        for t in range(cfg.T):
            tm = EventConvSynapse.item_timing(syn, s, events[layer.name][i, t])
            nxt = tm["next"]
            if not overlap_ok(layer):
                nxt = max(nxt, tm["last_out"] + NeuronStage.stage_latency(layer, True) + 1)
            total += nxt - s
            s = nxt
        times[layer.name] = total
    return times


def measure(name: str, dense: str, event: str, images: int = 0) -> dict:
    from golden import load_bundle
    from golden.vectors import load_vectors
    from rtl_gen.estimate import cycles, item_events
    from rtl_gen.folding import code_activity, from_bundle

    bdir = ROOT / "bench" / "models" / name / "model"
    vec = load_vectors(ROOT / "bench" / "models" / name / "vectors.npz", bdir)
    bundle = load_bundle(bdir)
    n = len(vec["images"]) if not images else min(images, len(vec["images"]))
    act = code_activity(bundle, vec)
    cfg_d = from_bundle(bundle, folding=dense.split(","), stem="cache")
    cfg_e = from_bundle(bundle, folding=event.split(","), stem="cache", activity=act)
    ev = item_events(cfg_e, vec)
    layers = [layer.name for layer in cfg_e.layers[1:] if layer.synapse.event]
    out = {"name": name, "images": n, "dense_folding": dense, "event_folding": event, "layers": {},
           "network_per_image": []}
    per_d = _engine_cycles(cfg_d, None, 0)
    for L in layers:
        syn = next(layer.synapse for layer in cfg_e.layers if layer.name == L)
        prev = bundle.layers[[b.name for b in bundle.layers].index(L) - 1].name
        codes = np.asarray(vec[f"codes.{prev}"][:n])
        density = (codes != 0).mean(axis=(1, 2))
        rows = []
        for i in range(n):
            e = _engine_cycles(cfg_e, ev, i)[L]
            ideal = int(ev[L][i].sum()) * syn.out_folds
            rows.append({"density": round(float(density[i]), 4), "dense": int(per_d[L]), "event": int(e),
                         "sparse_ideal": ideal})
        ratio = [r["event"] / r["sparse_ideal"] for r in rows if r["sparse_ideal"]]
        out["layers"][L] = {"lanes_dense": int(cfg_d.layers[[x.name for x in cfg_d.layers].index(L)].fold.lanes),
                            "lanes_event": syn.event_lanes, "per_image": rows,
                            "mean_density": round(float(density.mean()), 4),
                            "mean_event": round(float(np.mean([r["event"] for r in rows])), 1),
                            "dense": int(per_d[L]),
                            "mean_over_sparse_ideal": round(float(np.mean(ratio)), 4),
                            "max_over_sparse_ideal": round(float(np.max(ratio)), 4)}
    for i in range(n):
        e = _engine_cycles(cfg_e, ev, i)
        dens = [float((np.asarray(vec[f"codes.{bundle.layers[[b.name for b in bundle.layers].index(L) - 1].name}"][i])
                       != 0).mean()) for L in layers]
        out["network_per_image"].append({"density": round(float(np.mean(dens)), 4), "dense": int(max(per_d.values())),
                                         "event": int(max(e.values()))})
    whole_d = cycles(cfg_d, images=min(n, 60))
    whole_e = cycles(cfg_e, images=min(n, 60), events=ev)
    out["network"] = {"dense_cycles_per_inference": whole_d["cycles_per_inference"],
                      "event_mean_interval": round(whole_e["mean_interval"], 1),
                      "event_worst_case": cycles(cfg_e, worst=True)["cycles_per_inference"],
                      "replayed_images": min(n, 60)}
    return out


def main(argv=None) -> int:
    from golden.atomic import write_json_atomic

    p = argparse.ArgumentParser(prog="python -m bench.event_density", description=__doc__.splitlines()[0])
    p.add_argument("name", nargs="?", default="conv_fmnist")
    p.add_argument("--dense", default=None, help="the dense folding (default: the network's in FOLDINGS)")
    p.add_argument("--event", default=None, help="the event-driven folding (layers ending in e)")
    p.add_argument("--images", type=int, default=0, help="test images (0: the whole vector file)")
    a = p.parse_args(argv)
    if a.name not in FOLDINGS and not (a.dense and a.event):
        p.error(f"{a.name}: give --dense and --event (known defaults: {', '.join(FOLDINGS)})")
    dense, event = a.dense or FOLDINGS[a.name][0], a.event or FOLDINGS[a.name][1]
    r = measure(a.name, dense, event, a.images)
    r["command"] = "python -m bench.event_density " + " ".join(sys.argv[1:] if argv is None else argv)
    import json

    data = json.loads(OUT.read_text()) if OUT.is_file() else {}
    data[a.name] = r
    write_json_atomic(OUT, data)
    for L, v in r["layers"].items():
        print(f"{L}: density {v['mean_density']:.3f}, dense {v['dense']} cycles/image ({v['lanes_dense']} lanes), "
              f"event {v['mean_event']:.0f} ({v['lanes_event']} lanes), {v['mean_over_sparse_ideal']:.3f}x the sparse "
              f"ideal (worst image {v['max_over_sparse_ideal']:.3f}x)")
    print(f"network: dense {r['network']['dense_cycles_per_inference']}, event {r['network']['event_mean_interval']} "
          f"cycles per inference (worst case {r['network']['event_worst_case']}); {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
