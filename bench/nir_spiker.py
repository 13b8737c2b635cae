"""The NIR benchmark: the Spiker+ topology trained in snnTorch, through NIR, onto an ECP5.

``python -m bench.nir_spiker [--epochs 20 --batch 128 --lr 2e-3 --seed 0] [--no-hardware] [--force]``
(``make bench`` step ``nir:spiker``; training takes about a minute on one CPU core, the hardware
benchmark a few more).

1. **Training** (snnTorch): ``nn.Linear(784, 128)``, ``snn.Leaky`` (per-neuron ``beta`` and
   ``threshold`` tensors, fixed, drawn from the seed; reset to zero in the step that fires:
   ``reset_mechanism="zero", reset_delay=False``; ``init_hidden=True``), ``nn.Linear(128, 10)``,
   ``snn.Leaky(..., output=True)``: binary spikes, Fashion-MNIST with direct encoding (``pixel / 255``
   at each of ``T = 4`` steps, as every network of the project sees), snnTorch's spike-count loss
   ``snntorch.functional.ce_count_loss`` (cross entropy of the output spike counts), Adam with a
   cosine learning rate per epoch (``lr (1 + cos(pi e / epochs)) / 2`` in epoch ``e``), one thread,
   a fixed seed.  The class is the output neuron with the most spikes (lowest index on a
   tie, as the golden model).  A checkpoint is kept after every epoch in ``build/nir_spiker/``
   (git-ignored): an interrupted run continues from it, and a resumed run equals a straight one (the
   shuffling of epoch ``e`` is drawn from ``seed`` and ``e`` alone); a run whose epochs are all done
   is not trained again.  Other settings than a checkpoint's (``--epochs`` included: the learning
   rate follows it) are refused (``--force`` starts again).
2. **Export**: ``snntorch.export_nir.export_to_nir(net, torch.zeros(1, 784), ignore_dims=[0])``,
   ``nir.write`` -> ``build/nir_spiker/graph_source.nir``.
3. **Import** (``make import NIR=build/nir_spiker/graph_source.nir MODEL=bench/models/nir_spiker
   DATASET=fashion_mnist T=4 FRAMEWORK=snntorch WEIGHTS=int8 FORCE=1``, through
   :func:`nir_io.importer.import_graph`) -> ``bench/models/nir_spiker/`` (committed: ``model/``,
   ``graph.nir`` = the exported file byte for byte, ``import.json``, ``eval.json``: snnTorch against
   the golden model on the 10,000 test images, ``vectors.npz``: the first 1000), plus ``train.json``
   (this script's training record).
4. **Hardware** (unless ``--no-hardware``): :data:`ACCELERATOR` as a subprocess, the ``make bench``
   step ``accelerator:nir_spiker``: Verilator bit-exactness on the 1000 vectors, cycles per
   inference, ECP5 resources and Fmax at 100 MHz -> ``bench/results/accelerator.json``, entry
   ``nir_spiker``.  The folding is the HD-LIF ``fc_784_128_10`` benchmark's (``32x4/2,10x2``: fc1
   32 PE x 4 SIMD with 2 neuron lanes, its readout 10 x 2) with one more entry, because the
   imported bundle has one more layer: its LIF output layer fc2 (10 neurons, folded ``10x2`` as
   the HD-LIF readout) is read out by spike count, an identity 10 x 10 readout layer (``10x2``).
   The part is the LFE5U-85F, not the 25F of ``fc_784_128_10``: fc1's 8-bit weights (784 x 128,
   four times the ternary network's bits) take 63 DP16KD block RAMs with this folding, and the 25F
   has 56 (nextpnr: "DP16KD: 63/56 112 %").
5. ``bench/results/nir.json``, entry ``nir_spiker``: training settings and per-epoch record,
   snnTorch / golden / RTL accuracy, agreement, seconds of each stage, the commands, the
   environment.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
NAME = "nir_spiker"
RUN = ROOT / "bench" / "models" / NAME
WORK = ROOT / "build" / NAME
RESULTS = ROOT / "bench" / "results" / "nir.json"
ACCELERATOR_JSON = ROOT / "bench" / "results" / "accelerator.json"
DATASET = "fashion_mnist"
T = 4
#: fc1 and fc2 as the HD-LIF fc_784_128_10 benchmark's fc1 and readout, then the count readout
FOLDING = "32x4/2,10x2,10x2"
#: the hardware step (``make bench`` step ``accelerator:nir_spiker``), run from the checkout's root
ACCELERATOR = ["bench.accelerator", "--bundle", f"bench/models/{NAME}/model",
               "--vectors", f"bench/models/{NAME}/vectors.npz", "--name", NAME, "--fold", FOLDING,
               "--device", "85k", "--freq", "100"]
DEFAULTS = {"epochs": 20, "batch": 128, "lr": 2e-3, "seed": 0}


def shown(module_args) -> str:
    """``python -m <module> <args>`` as a person types it (and as ``bench.all`` shows its steps)."""
    return " ".join(["python", "-m", *map(shlex.quote, module_args)])


def command(argv: list[str]) -> str:
    return shown(["bench.nir_spiker", *argv])


# ---------------------------------------------------------------------------------------------
# The network


def build_net(seed: int):
    """784-128-10 snnTorch ``Leaky`` network; beta and threshold per neuron, fixed, from ``seed``."""
    import snntorch as snn
    import torch

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    leaky = dict(init_hidden=True, reset_mechanism="zero", reset_delay=False)

    def params(n):
        return dict(beta=0.85 + 0.1 * torch.rand(n, generator=g), threshold=0.9 + 0.2 * torch.rand(n, generator=g))

    return torch.nn.Sequential(torch.nn.Linear(784, 128), snn.Leaky(**params(128), **leaky),
                               torch.nn.Linear(128, 10), snn.Leaky(**params(10), output=True, **leaky))


#: the modules of :func:`build_net`, as the results say
NET_DESCRIPTION = ("nn.Linear(784, 128), snn.Leaky(beta per neuron U(0.85, 0.95), threshold per neuron U(0.9, 1.1), "
                   "reset_mechanism='zero', reset_delay=False, init_hidden=True), nn.Linear(128, 10), "
                   "snn.Leaky(the same, output=True); beta and threshold fixed (not learned); surrogate: snnTorch's "
                   "default (atan)")


def spikes(net, x):
    """Output spikes ``[T, B, 10]`` of a batch of scaled images ``x`` (direct encoding, from rest)."""
    import torch
    from snntorch import utils as sutils

    sutils.reset(net)
    return torch.stack([net(x)[0] for _ in range(T)])


def classes(counts: np.ndarray) -> np.ndarray:
    return np.argmax(counts, axis=1)        # lowest index on a tie, as the golden model


def accuracy(net, x: np.ndarray, y: np.ndarray, batch: int = 1000) -> tuple[float, np.ndarray]:
    import torch

    counts = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            counts.append(spikes(net, torch.tensor(x[i:i + batch], dtype=torch.float32) / 255).sum(0).numpy())
    c = np.concatenate(counts)
    return float((classes(c) == y).mean()), c


# ---------------------------------------------------------------------------------------------
# Training, resumable


def _save(path: Path, state: dict) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(split, settings: dict, *, force: bool, say=print) -> tuple[object, dict]:
    """Train (or continue) the network; returns it and the training record."""
    import snntorch.functional as SF
    import torch

    WORK.mkdir(parents=True, exist_ok=True)
    ckpt = WORK / "checkpoint.pt"
    net = build_net(settings["seed"])
    opt = torch.optim.Adam(net.parameters(), lr=settings["lr"])
    history, seconds, start = [], 0.0, 0
    if ckpt.is_file() and not force:
        state = torch.load(ckpt, weights_only=True)
        if state["settings"] != settings:
            diff = {k: v for k, v in state["settings"].items() if settings.get(k) != v}
            raise SystemExit(f"error: {ckpt} holds a run with other settings ({diff}); --force trains from scratch")
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        history, seconds, start = state["history"], state["seconds"], state["epoch"]
        say(f"[nir_spiker] {ckpt}: {start} of {settings['epochs']} epochs done, "
            + ("continuing" if start < settings["epochs"] else "nothing to train"))
    loss_fn = SF.ce_count_loss()
    x_train = torch.tensor(split.x_train, dtype=torch.float32) / 255
    y_train = torch.tensor(split.y_train)
    for epoch in range(start, settings["epochs"]):
        for group in opt.param_groups:
            group["lr"] = settings["lr"] * (1 + math.cos(math.pi * epoch / settings["epochs"])) / 2
        t0 = time.process_time()
        w0 = time.perf_counter()
        g = torch.Generator().manual_seed(settings["seed"] * 1000 + epoch)
        perm = torch.randperm(len(x_train), generator=g)
        net.train()
        total, correct, n = 0.0, 0, 0
        for i in range(0, len(perm), settings["batch"]):
            idx = perm[i:i + settings["batch"]]
            spk = spikes(net, x_train[idx])
            loss = loss_fn(spk, y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            correct += int((spk.sum(0).argmax(1) == y_train[idx]).sum())
            n += len(idx)
        net.eval()
        test_acc, _ = accuracy(net, split.x_test, split.y_test)
        cpu, wall = time.process_time() - t0, time.perf_counter() - w0
        seconds += cpu
        history.append({"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"], "loss": total / n, "train_accuracy": correct / n,
                        "test_accuracy": test_acc, "cpu_seconds": cpu, "wall_seconds": wall})
        _save(ckpt, {"settings": settings, "epoch": epoch + 1, "model": net.state_dict(), "optim": opt.state_dict(),
                     "history": history, "seconds": seconds})
        say(f"[nir_spiker] epoch {epoch + 1}/{settings['epochs']}: loss {total / n:.4f}, train {correct / n:.4f}, "
            f"test {test_acc:.4f} ({cpu:.0f} s CPU, {wall:.0f} s wall)")
    net.eval()
    return net, {"history": history, "cpu_seconds": seconds}


# ---------------------------------------------------------------------------------------------
# The run


def env() -> dict:
    from importlib.metadata import version

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"torch": torch.__version__, "snntorch": version("snntorch"), "nir": version("nir"),
            "nirtorch": version("nirtorch"), "numpy": np.__version__, "python": platform.python_version(),
            "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "cpu": cpu,
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rtl_of(entry: dict | None) -> dict | None:
    """The hardware figures of the accelerator benchmark's entry (None when it has none)."""
    if not entry or not entry.get("images_checked"):
        return None
    keys = ("rtl_accuracy", "images_checked", "mismatches", "cycles_per_inference", "latency_cycles",
            "estimated_cycles", "folding", "folding_choice", "luts", "ffs", "brams", "dsps", "fmax_mhz", "timing_met",
            "device", "target_mhz", "checks")
    return {k: entry.get(k) for k in keys} | {"rtl_command": entry.get("command")}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m bench.nir_spiker", description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    p.add_argument("--batch", type=int, default=DEFAULTS["batch"])
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--data-dir", default=None, help="the Fashion-MNIST IDX folder (default: where training.data finds it)")
    p.add_argument("--no-hardware", action="store_true", help="stop after the import (no accelerator benchmark)")
    p.add_argument("--force", action="store_true", help="train from scratch even when a checkpoint exists")
    a = p.parse_args(argv)
    import nir
    import torch
    from snntorch.export_nir import export_to_nir

    from nir_io.importer import import_graph
    from golden.atomic import write_json_atomic
    from training.data import load

    torch.set_num_threads(1)
    data_dir = None if a.data_dir is None else str(Path(a.data_dir).resolve())
    os.chdir(ROOT)                      # the paths it records are the checkout's
    cmd = command(argv)
    settings = {"epochs": a.epochs, "batch": a.batch, "lr": a.lr, "seed": a.seed, "T": T, "dataset": DATASET,
                "loss": "snntorch.functional.ce_count_loss", "optimizer": "Adam",
                "lr_schedule": "cosine per epoch: lr (1 + cos(pi e / epochs)) / 2", "encoding": "direct: pixel / 255 at "
                "each step"}
    split = load(DATASET, data_dir)
    t0 = time.perf_counter()
    net, record = train(split, settings, force=a.force)
    train_wall = time.perf_counter() - t0
    snn_acc, counts = accuracy(net, split.x_test, split.y_test)
    ties = int((np.sort(counts, axis=1)[:, -1] == np.sort(counts, axis=1)[:, -2]).sum())
    print(f"[nir_spiker] snnTorch test accuracy {snn_acc:.4f} ({ties} of {len(counts)} test images with the most "
          f"spikes tied between classes)", flush=True)

    WORK.mkdir(parents=True, exist_ok=True)
    graph_path = WORK / "graph_source.nir"
    from snntorch import utils as sutils

    sutils.reset(net)
    t0 = time.perf_counter()
    graph = export_to_nir(net, torch.zeros(1, 784), ignore_dims=[0])
    nir.write(graph_path, graph)
    export_s = time.perf_counter() - t0
    rel_graph = graph_path.relative_to(ROOT)
    import_cmd = (f"python -m flow import --nir {rel_graph} --model bench/models/{NAME} --dataset {DATASET} --T {T} "
                  f"--weights int8 --framework snntorch --force")
    t0 = time.perf_counter()
    report = import_graph(rel_graph, RUN.relative_to(ROOT), dataset=DATASET, data_dir=data_dir, T=T, weights="int8",
                          framework="snntorch", force=True, command=import_cmd,
                          say=lambda s: print(f"[nir_spiker] {s}", flush=True))
    import_s = time.perf_counter() - t0
    hist = record["history"]
    write_json_atomic(RUN / "train.json", {"network": NET_DESCRIPTION, "settings": settings, "epochs": hist,
                                           "snntorch_test_accuracy": snn_acc, "command": cmd})
    print(f"[nir_spiker] import: snnTorch (graph) {report['framework_accuracy']:.4f}, golden "
          f"{report['golden_accuracy']:.4f}, agreement {report['agreement']:.4f} on {report['images']} test images",
          flush=True)

    rtl, hw_s = None, None
    if not a.no_hardware:
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, "-m", *ACCELERATOR], cwd=ROOT)
        hw_s = time.perf_counter() - t0
        if rc != 0:
            print(f"error: {shown(ACCELERATOR)} failed (exit {rc})", file=sys.stderr)
            return 1
        entry = json.loads(ACCELERATOR_JSON.read_text())["networks"].get(NAME)
        rtl = rtl_of(entry)
        if rtl is None or rtl["mismatches"]:
            print(f"error: the RTL of {NAME} is not bit-exact: {rtl}", file=sys.stderr)
            return 1

    result = {
        "network": "784-128-10 LIF (the Spiker+ topology), binary spikes, count readout",
        "snntorch_modules": NET_DESCRIPTION,
        "training": settings | {"threads": 1, "epochs_record": hist, "cpu_seconds": record["cpu_seconds"],
                                "checkpoint": str((WORK / 'checkpoint.pt').relative_to(ROOT))},
        "test_images": report["images"],
        "snntorch_accuracy": snn_acc,
        "snntorch_accuracy_of_the_graph": report["framework_accuracy"],
        "golden_accuracy": report["golden_accuracy"], "agreement": report["agreement"],
        "agree": report["agree"], "float_model_agreement": report["float_model_agreement"],
        "tied_test_images": ties,
        "membrane_bits": report["settings"]["membrane_bits"], "dt": report["dt"],
        "weights": "int8 per output channel (error-feedback rounding on the training split)",
        "run": f"bench/models/{NAME}", "graph": f"bench/models/{NAME}/graph.nir",
        "graph_sha256": _sha256(RUN / "graph.nir"), "bundle_sha256": report["bundle_sha256"],
        "vectors": report["vectors"],
        "rtl": rtl,
        "seconds": {"train_cpu": record["cpu_seconds"], "train_wall": sum(h["wall_seconds"] for h in hist),
                    "train_wall_this_run": train_wall, "export": export_s, "import": import_s, "hardware": hw_s},
        "import_command": import_cmd,
        "command": cmd,
        "env": env(),
    }
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results[NAME] = result
    write_json_atomic(RESULTS, results)
    print(f"[nir_spiker] -> {RESULTS.relative_to(ROOT)}: snnTorch {snn_acc:.4f}, golden {report['golden_accuracy']:.4f}, "
          f"agreement {report['agreement']:.4f}"
          + (f", RTL {rtl['rtl_accuracy']:.4f} on {rtl['images_checked']} images ({rtl['mismatches']} mismatches), "
             f"{rtl['cycles_per_inference']:.0f} cycles, {rtl['luts']} LUTs, Fmax {rtl['fmax_mhz']} MHz" if rtl else ""),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
