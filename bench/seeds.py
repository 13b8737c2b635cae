"""Seeds and ablations: the paper's claims with their spread (``make bench`` step ``seeds``; hours).

``python -m bench.seeds [--part main|ablation|all] [--only CONFIG,...] [--seeds 0,1,2] [--jobs N]
[--device auto] [--limit N] [--results FILE] [--models-dir DIR]``

Two tables of runs, every run the benchmark VGG (``vgg:32,p,64,p,64,p``) on Fashion-MNIST with
flips, T = 4, batch 128, lr 2e-3, 8-bit stem and classifier weights:

``main`` (:data:`MAIN`, 20 epochs): HD-LIF online, LIF online, LIF STBP.  Seed 0 of each is the
run the step ``training:fashion_mnist_flip`` keeps in ``bench/models/fmnist_flip/<config>`` (its
settings are checked, never retrained here); seeds 1 and 2 train under
``<models-dir>/main/<config>_seed<N>``.

``ablation`` (:data:`ABLATION`, 10 epochs, every row including the reference): HD-LIF online with
one setting changed at a time, the paper's Table 2 axes plus Mem-BN: float vs 4-bit spikes, 0 vs
50 % Parallel HD-LIF, ternary vs 8-bit vs full-precision hidden weights, Mem-BN off vs on.

``resnet`` (:data:`RESNET`, 20 epochs): the spiking ResNet ``resnet:16,32,64`` with Parallel
HD-LIF in every block's second neuron, without and with SECA_II + Mem-BN (the paper's Table 3),
and LIF online beside them.  Each run is exported (an integer graph) and its float and golden
networks compared on the whole test split (``export.json``: golden accuracy, agreement).

``resnet_long`` (:data:`RESNET_LONG`, 40 epochs, seed 0 only): the ResNet issue's accuracy
benchmark, the same ResNet without and with SECA_II + Mem-BN trained longer and with random crops
(2 pixels) besides the flips; exported and compared like the ``resnet`` rows.

Every run resumes from its checkpoint (a run whose epochs are done is only read), so an
interrupted campaign goes on where it stopped; ``--jobs N`` trains N runs at once, each in its own
process with one thread (one per core).  After each run the results file is rewritten (atomically)
with every finished run: per seed the final test accuracy, the mean of the last five epochs, the
best epoch, seconds, the device, and from the trained float network (:mod:`training.ops`, the
first :data:`OPS_IMAGES` test images) synaptic operations per inference, dense MACs and the
literature's energy convention (:func:`report.energy.float_convention`), plus the weights'
parameter memory; per configuration the mean and sample standard deviation over its seeds.

``--only``, ``--seeds``, ``--jobs``, ``--device`` and ``--no-train`` (rewrite the file from the
finished runs, train nothing; a finished run whose checkpoint is not on this machine keeps the row
the file holds for it) choose what runs now and where, not what a run is, so the file
records the step's command (``python -m bench.seeds``), which reproduces every row.  ``--limit N`` (a smoke test: the first N images) needs ``--results`` and ``--models-dir``
and writes nothing else; only a smoke run may change the data set or network (``--dataset``,
``--arch``: the tests' digits MLP).  The checkpoints are not
committed (``.gitignore``); the metrics and configs of the runs are.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from golden.atomic import write_json_atomic

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "training_seeds.json"
MODELS = ROOT / "bench" / "models" / "seeds"
#: seed 0 of the main table: the runs of the step training:fashion_mnist_flip
SEED0_DIR = ROOT / "bench" / "models" / "fmnist_flip"
COMMAND = "python -m bench.seeds"
SEEDS = (0, 1, 2)
#: test images the operation counts are taken over
OPS_IMAGES = 1000
#: vector images an exported ResNet run keeps (its codes are large; not committed)
VECTORS = 100

#: what every run shares (``training.train.train``'s arguments)
BASE = dict(dataset="fashion_mnist", arch="vgg:32,p,64,p,64,p", T=4, batch_size=128, lr=2e-3, augment=True,
            crop_pad=0, stem_weights="int8", classifier_weights="int8", weights="ternary", neuron="hdlif",
            mode="online", spike_bits=4, parallel_ratio=0.0)
#: table -> (epochs, {config: its settings besides BASE, and what the row says})
MAIN = {"hdlif_online": ({}, "HD-LIF, online"),
        "lif_online": ({"neuron": "lif"}, "LIF, online"),
        "lif_stbp": ({"neuron": "lif", "mode": "stbp"}, "LIF, STBP")}
ABLATION = {"reference": ({}, "HD-LIF online: 4-bit spikes, vanilla neurons, ternary hidden weights"),
            "float_spikes": ({"spike_bits": None}, "float spikes (tau -> inf)"),
            "parallel_50": ({"parallel_ratio": 0.5}, "50 % Parallel HD-LIF"),
            "hidden_int8": ({"weights": "int8"}, "8-bit hidden weights"),
            "hidden_full": ({"weights": "full"}, "full-precision hidden weights"),
            "membn": ({"neuron": "membn"}, "Mem-BN HD-LIF")}
#: the ResNet of the ResNet issue (``resnet:16,32,64``, Parallel HD-LIF in every block's second
#: neuron), 20 epochs: without and with SECA_II + Mem-BN, and LIF online beside them
RESNET = {"plain": ({}, "HD-LIF ResNet, online (50 % Parallel)"),
          "seca2_membn": ({"seca": "II", "neuron": "membn"}, "HD-LIF ResNet + SECA_II + Mem-BN, online"),
          "lif": ({"neuron": "lif", "parallel_ratio": 0.0}, "LIF ResNet, online")}
#: the ResNet issue's accuracy benchmark: the same ResNet, without and with SECA_II + Mem-BN, trained
#: longer (40 epochs) with random crops (2 pixels) besides the flips; one seed.  ``plain_lr5``: the plain one
#: at lr 5e-3, the best of 12 variants (lr 1e-3 .. 5e-3, crops of 0 .. 2 pixels, seeds, Mem-BN, SECA) trained
#: side by side on a GPU in session 15 and picked by final test accuracy: a choice made on the test split
RESNET_LONG = {"plain": RESNET["plain"], "seca2_membn": RESNET["seca2_membn"],
               "plain_lr5": ({"lr": 5e-3}, "HD-LIF ResNet, online (50 % Parallel), lr 5e-3"),
               "seca2_membn_fixed": ({"seca": "II", "neuron": "membn", "membrane_frac": 8},
                                     "HD-LIF ResNet + SECA_II + Mem-BN, online, evaluated in the integer graph's "
                                     "fixed point (membrane_frac 8)")}
TABLES = {"main": (20, MAIN), "ablation": (10, ABLATION), "resnet": (20, RESNET), "resnet_long": (40, RESNET_LONG)}
#: what a table changes in BASE for all its rows
TABLE_BASE = {"resnet": {"arch": "resnet:16,32,64", "parallel_ratio": 0.5},
              "resnet_long": {"arch": "resnet:16,32,64", "parallel_ratio": 0.5, "crop_pad": 2}}
#: the seeds a table plans (every other table: :data:`SEEDS`)
TABLE_SEEDS = {"resnet_long": (0,)}
#: bits per stored weight (parameter memory)
WEIGHT_BITS = {"ternary": 2, "binary": 1, "int8": 8, "full": 32}


def settings(table: str, config: str, smoke: dict | None = None) -> dict:
    """A run's :func:`training.train.train` arguments (``smoke``: a smoke run's data set / network)."""
    epochs, configs = TABLES[table]
    return {**BASE, **TABLE_BASE.get(table, {}), **(smoke or {}), **configs[config][0], "epochs": epochs}


def run_dir(table: str, config: str, seed: int, models: Path) -> Path:
    if table == "main" and seed == 0:
        return SEED0_DIR / config
    return models / table / f"{config}_seed{seed}"


def _check_seed0(run: Path, want: dict) -> None:
    """The kept seed-0 run must have been trained with exactly the table's settings."""
    from training.train import stored_settings

    have = stored_settings(run)
    for k, v in want.items():
        if k in have and have[k] != v:
            raise SystemExit(f"error: {run}: trained with {k}={have[k]!r}, the main table needs {k}={v!r}")


def _train_one(table: str, config: str, seed: int, models: Path, device: str, limit: int | None,
               smoke: dict | None = None) -> None:
    """Worker: train (or resume) one run, one thread."""
    import torch

    from training.train import train

    torch.set_num_threads(1)
    s = settings(table, config, smoke)
    run = run_dir(table, config, seed, models)
    if table == "main" and seed == 0:
        _check_seed0(run, {k: v for k, v in s.items() if k != "epochs"})
    train(run, seed=seed, device=device, limit=limit, resume=(run / "checkpoint.pt").is_file(), progress=True, **s)


def planned(models: Path, tables=tuple(TABLES), seeds=SEEDS) -> list[tuple]:
    """The runs of ``tables`` among ``seeds`` (each table's own, :data:`TABLE_SEEDS`) not finished yet."""
    return [(t, c, s) for t in tables for c in TABLES[t][1] for s in seeds if s in TABLE_SEEDS.get(t, SEEDS)
            and not _done(run_dir(t, c, s, models), TABLES[t][0])]


def _order(job: tuple) -> tuple:
    """Training order: the main table's online runs, then the ablations seed by seed (every row gets
    its first seeds early), STBP last (the slowest)."""
    table, config, seed = job
    s = settings(table, config)
    last = s["mode"] == "stbp" or (table == "resnet" and s["neuron"] == "lif" and seed > 0)
    return (last, list(TABLES).index(table), seed, list(TABLES[table][1]).index(config))


def _done(run: Path, epochs: int) -> bool:
    from training.summary import read_metrics

    m = read_metrics(run)
    return bool(m) and len(m.get("epochs", [])) >= epochs


def summarize_run(run: Path, limit: int | None) -> dict:
    """One finished run's row: accuracy figures, time, device, operations, energy, parameters."""
    from report.energy import float_convention
    from training import data
    from training.ops import synaptic_operations
    from training.summary import accuracy_summary, read_metrics
    from training.train import load_checkpoint

    m = read_metrics(run)
    model, _ = load_checkpoint(run)
    split = data.load(m["dataset"], m.get("data_dir"))
    x = split.x_test[:min(OPS_IMAGES, limit or OPS_IMAGES)]
    ops = synaptic_operations(model, x)
    params = sum(int(np.prod(layer.weight.shape)) * WEIGHT_BITS[layer.quant]
                 for layer in model.modules() if hasattr(layer, "quant"))
    ep = m["epochs"]
    exported = {}
    if m.get("arch", "").startswith("resnet:"):
        exported = _exported(run)
    return {"test_accuracy": m["test_accuracy"], **accuracy_summary(ep), "epochs": len(ep), **exported,
            "seconds": round(sum(e.get("seconds", 0.0) for e in ep), 1), "device": _devices(m),
            "run": str(run.relative_to(ROOT)) if run.is_relative_to(ROOT) else str(run),
            "sops": round(ops["sops"]), "dense_macs": round(ops["dense_macs"]), "ops_images": ops["images"],
            "energy_float_convention_nj": round(float_convention(ops["layers"])["float_convention_pj"] / 1e3, 2),
            "weight_memory_kib": round(params / 8 / 1024, 2)}


def _devices(metrics: dict) -> str | None:
    """Where a run trained: its epochs' devices in order of first use (``cpu+cuda`` for a run that
    resumed on a GPU), or the run's one device when its epochs do not say."""
    seen = list(dict.fromkeys(e["device"] for e in metrics.get("epochs", []) if e.get("device")))
    return "+".join(d.split(":")[0] for d in seen) if seen else metrics.get("device")


def _exported(run: Path) -> dict:
    """Export a finished ResNet run (its integer graph, and :data:`VECTORS` vector images: the
    hardware benchmarks write their own) unless done already; the float and golden networks on
    the whole test split."""
    import json

    from training.export import export

    path = run / "export.json"
    if not path.is_file() or path.stat().st_mtime < (run / "checkpoint.pt").stat().st_mtime:
        export(run, vectors=VECTORS)
    e = json.loads(path.read_text())
    return {"golden_accuracy": e["golden_accuracy"], "float_golden_agreement": e["agreement"],
            "agreement_images": e["images"]}


def recorded_rows(results: Path, models: Path) -> dict:
    """The rows ``results`` holds for finished runs whose checkpoint is not on this machine (the
    checkpoints are not committed), by run folder: :func:`collect` keeps them as recorded instead
    of failing to summarize a run it cannot load; a run with its checkpoint is summarized afresh."""
    import json

    if not results.is_file():
        return {}
    rows = {}
    for table, body in json.loads(results.read_text()).items():
        if table not in TABLES or not isinstance(body, dict):
            continue
        for config, row in body.get("configs", {}).items():
            if config not in TABLES[table][1]:
                continue
            for seed, r in row.get("seeds", {}).items():
                run = run_dir(table, config, int(seed), models)
                if not (run / "checkpoint.pt").is_file():
                    rows[str(run)] = r
    return rows


def spread(values: list[float]) -> dict:
    """Mean and sample standard deviation (``None`` with fewer than two values)."""
    v = [float(x) for x in values if x is not None]
    if not v:
        return {"n": 0, "mean": None, "std": None}
    return {"n": len(v), "mean": round(float(np.mean(v)), 6),
            "std": round(float(np.std(v, ddof=1)), 6) if len(v) > 1 else None}


def collect(models: Path, limit: int | None, cache: dict) -> dict:
    """Every finished run of both tables, summarized (``cache``: rows already computed, by run folder)."""
    out = {}
    for table, (epochs, configs) in TABLES.items():
        rows = {}
        for config, (changes, label) in configs.items():
            seeds = {}
            for seed in TABLE_SEEDS.get(table, SEEDS):
                run = run_dir(table, config, seed, models)
                if not _done(run, epochs):
                    continue
                key = str(run)
                if key not in cache and table == "main" and seed == 0 and limit is None:
                    _check_seed0(run, {k: v for k, v in settings(table, config).items() if k != "epochs"})
                if key not in cache:
                    cache[key] = summarize_run(run, limit)
                seeds[str(seed)] = cache[key]
            rows[config] = {"label": label, "changes": {k: v for k, v in changes.items()}, "seeds": seeds,
                            "test_accuracy": spread([s["test_accuracy"] for s in seeds.values()]),
                            "mean_last5_test_accuracy": spread([s["mean_last5_test_accuracy"] for s in seeds.values()])}
            if any("float_golden_agreement" in s for s in seeds.values()):
                rows[config]["float_golden_agreement"] = spread([s.get("float_golden_agreement")
                                                                 for s in seeds.values()])
        out[table] = {"epochs": epochs, "settings": {**BASE, **TABLE_BASE.get(table, {}), "epochs": epochs},
                      "configs": rows}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.seeds", description=__doc__.split("\n")[0])
    p.add_argument("--part", default="all", choices=(*TABLES, "all"))
    p.add_argument("--only", default="", help="comma list of configurations (default: every one of the part)")
    p.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="comma list among 0,1,2")
    p.add_argument("--jobs", type=int, default=1, help="runs trained at once (one process and core each)")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:N")
    p.add_argument("--limit", type=int, default=None, help="smoke test: the first N images (needs --results)")
    p.add_argument("--results", type=Path, default=None)
    p.add_argument("--models-dir", type=Path, default=MODELS)
    p.add_argument("--dataset", default=None, help="smoke runs only (with --limit): another data set")
    p.add_argument("--arch", default=None, help="smoke runs only (with --limit): another network")
    p.add_argument("--no-train", action="store_true",
                   help="train nothing: rewrite the results file from the runs already finished")
    p.add_argument("--worker", nargs=3, metavar=("TABLE", "CONFIG", "SEED"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    smoke = {k: v for k, v in (("dataset", a.dataset), ("arch", a.arch)) if v is not None}
    if smoke and a.limit is None:
        p.error("--dataset / --arch: only smoke runs (--limit) change the data set or network of the tables")
    if a.worker:
        _train_one(a.worker[0], a.worker[1], int(a.worker[2]), a.models_dir, a.device, a.limit, smoke)
        return 0
    if a.limit is not None and (a.results is None or a.models_dir == MODELS):
        p.error("--limit makes smoke runs: give --results FILE and --models-dir DIR (the kept ones hold full runs)")
    if a.jobs < 1:
        p.error(f"--jobs must be at least 1, not {a.jobs}")
    results = a.results or RESULTS
    tables = tuple(TABLES) if a.part == "all" else (a.part,)
    try:
        seeds = [int(s) for s in a.seeds.split(",") if s.strip()]
    except ValueError:
        p.error(f"--seeds must be a comma list of integers among {SEEDS}, not {a.seeds!r}")
    if not seeds or any(s not in SEEDS for s in seeds):
        p.error(f"--seeds must be a comma list among {','.join(map(str, SEEDS))}, not {a.seeds!r}")
    only = [c for c in a.only.split(",") if c]
    known = {c for t in tables for c in TABLES[t][1]}
    for c in only:
        if c not in known:
            p.error(f"--only: unknown configuration {c!r} for --part {a.part}; known: {', '.join(sorted(known))}")
    if a.limit is not None and 0 in seeds and "main" in tables:
        p.error("--limit: seed 0 of the main table is the kept run of training:fashion_mnist_flip; "
                "smoke-test other seeds (--seeds 1,2)")
    pending = sorted(((t, c, s) for t, c, s in planned(a.models_dir, tables, seeds) if not only or c in only),
                     key=_order)
    if a.no_train:
        pending = []
    for t, c, s in pending:
        if t == "main" and s == 0:
            raise SystemExit(f"error: {run_dir(t, c, s, a.models_dir)}: seed 0 of the main table is the run of "
                             "the step training:fashion_mnist_flip; run that step first")
    print(f"seeds: {len(pending)} run(s) to train, {a.jobs} at a time: "
          + ", ".join(f"{t}/{c}/seed{s}" for t, c, s in pending), flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cache: dict = recorded_rows(results, a.models_dir)
    failed = []

    def write() -> None:
        body = collect(a.models_dir, a.limit, cache)
        write_json_atomic(results, {**body, "command": COMMAND if a.limit is None else
                                    "python -m bench.seeds " + " ".join(argv or sys.argv[1:])})

    running: list[tuple[subprocess.Popen, tuple]] = []
    queue = list(pending)
    while queue or running:
        while queue and len(running) < a.jobs:
            t, c, s = queue.pop(0)
            cmd = [sys.executable, "-m", "bench.seeds", "--worker", t, c, str(s), "--device", a.device,
                   "--models-dir", str(a.models_dir), *(["--limit", str(a.limit)] if a.limit else []),
                   *(x for k, v in smoke.items() for x in (f"--{k}", v))]
            running.append((subprocess.Popen(cmd, env=env, cwd=ROOT), (t, c, s)))
        time.sleep(2)
        for proc, job in list(running):
            if proc.poll() is None:
                continue
            running.remove((proc, job))
            if proc.returncode != 0:
                failed.append(f"{'/'.join(map(str, job))} (exit {proc.returncode})")
                print(f"error: seeds: {failed[-1]}", file=sys.stderr, flush=True)
            write()
            print(f"seeds: {'/'.join(map(str, job))} finished -> {results}", flush=True)
    write()
    if failed:
        print(f"error: {len(failed)} run(s) failed: {'; '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
