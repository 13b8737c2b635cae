"""Training benchmarks (not run in CI): ``python -m bench.training --part memory|epoch_time|fashion_mnist|all``.

Results are merged into ``bench/results/training.json`` (each part replaces only its own key):

``memory_vs_T``
    ``online`` / ``stbp`` -> ``{"1", "2", "4", "8", "16"}``: peak bytes held for backward in one
    training step (:class:`training.memory.SavedTensorMeter`: the tensors autograd saves, each
    storage once, while alive; the same method for both modes; online measured at
    ``t_g = T - 1``, its longest forward).  ``seconds_per_step.{online,stbp}.{T}``: wall time of
    one step (online: the mean over ``t_g = 0 .. T-1``, each once, i.e. the expected cost of a
    step with ``t_g`` drawn uniformly; STBP: the mean of ``--repeats`` steps).
``epoch_time``
    ``hdlif_online`` and ``spikingjelly_lif_stbp`` (plus ``hdlif_stbp`` for reference): seconds
    per epoch of the same network (``--arch``), batch and data.  SpikingJelly's ``LIFNode``
    (multi-step, soft reset, tau 2, its default sigmoid surrogate; on CPU SpikingJelly 2.0 runs
    its PyTorch implementation) replaces the HD-LIF neurons and the network runs layer by layer
    over ``[T, B, ...]`` with STBP; ``snntorch_lif_stbp`` does the same with snnTorch's ``Leaky``
    (beta 0.5 = tau 2, threshold 1, subtractive reset, its default surrogate), stepped over T.
    ``--batches N`` times N batches after 2 warm-up batches and
    extrapolates to a full epoch (``seconds_per_batch * batches_per_epoch``); ``--batches 0``
    times a whole epoch.
``fashion_mnist``
    ``hdlif_online``, ``lif_online``, ``lif_stbp`` -> ``test_accuracy``: the same network,
    epochs and seed trained three ways; each run folder (checkpoint, metrics, config, and for
    HD-LIF the integer bundle) is kept under ``bench/models/<name>/``.  ``--limit N`` makes a
    short smoke run on the first N images.

Every part records the ``command`` that produced it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from golden.atomic import write_json_atomic
from training import data
from training.memory import SavedTensorMeter
from training.models import build_model
from training.summary import accuracy_summary
from training.train import make_config, train, train_step

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "training.json"
MODELS = HERE / "models"
PARTS = ("memory", "epoch_time", "fashion_mnist")
T_VALUES = (1, 2, 4, 8, 16)


def _command() -> str:
    return "python -m bench.training " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _env(device: torch.device) -> dict:
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "machine": platform.machine(), "device": str(device),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def _merge(path: Path, updates: dict) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(path.read_text()) if path.is_file() else {}
    results.update(updates)
    write_json_atomic(path, results)
    return results


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _model(split: data.Split, a, T: int, device: torch.device) -> nn.Module:
    torch.manual_seed(0)
    cfg = make_config(a.arch, split, T=T, spike_bits=4, stem_weights=a.stem_weights,
                      classifier_weights=a.classifier_weights)
    model = build_model(cfg).to(device)
    model.train()
    return model


# --------------------------------------------------------------------------------------------
# memory_vs_T


def bench_memory(split: data.Split, a, device: torch.device) -> dict:
    x = torch.from_numpy(split.x_train[:a.batch]).to(device)
    y = torch.from_numpy(split.y_train[:a.batch]).to(device)
    peak = {"online": {}, "stbp": {}}
    secs = {"online": {}, "stbp": {}}
    cpu = {"online": {}, "stbp": {}}
    cuda_peak = {"online": {}, "stbp": {}}
    for T in T_VALUES:
        for mode in ("online", "stbp"):
            model = _model(split, a, T, device)
            model.set_online(mode == "online")
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)

            def step(t_g):
                opt.zero_grad()
                train_step(model, x, y, mode=mode, t_g=t_g, global_batch=len(x))
                opt.step()

            step(T - 1 if mode == "online" else None)               # warm-up
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            with SavedTensorMeter() as meter:
                step(T - 1 if mode == "online" else None)
            peak[mode][str(T)] = meter.peak_bytes
            if device.type == "cuda":
                cuda_peak[mode][str(T)] = torch.cuda.max_memory_allocated(device)
            t_gs = list(range(T)) if mode == "online" else [None] * a.repeats
            _sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            for t_g in t_gs:
                step(t_g)
            _sync(device)
            secs[mode][str(T)] = (time.perf_counter() - t0) / len(t_gs)
            cpu[mode][str(T)] = (time.process_time() - c0) / len(t_gs)
            print(f"memory T={T:2d} {mode:6s}: peak saved {peak[mode][str(T)] / 2**20:8.2f} MiB, "
                  f"{secs[mode][str(T)]:.3f} s/step ({cpu[mode][str(T)]:.3f} s CPU)", flush=True)
    out = {**peak, "seconds_per_step": secs, "cpu_seconds_per_step": cpu, "unit": "bytes",
           "method": "peak bytes of the tensors autograd saves for backward during one training step "
                     "(torch.autograd.graph.saved_tensors_hooks, each storage counted once while alive); "
                     "online at t_g = T-1; seconds_per_step: online mean over t_g = 0..T-1, STBP mean of "
                     f"{a.repeats} steps; wall clock (seconds_per_step) and process CPU time (cpu_seconds_per_step, "
                     "less sensitive to other load on a shared machine)",
           "network": a.arch, "dataset": split.name, "batch": a.batch, "env": _env(device),
           "weights": {"hidden": "ternary", "stem": a.stem_weights, "classifier": a.classifier_weights},
           "command": _command()}
    if device.type == "cuda":
        out["cuda_max_memory_allocated"] = cuda_peak
    return out


# --------------------------------------------------------------------------------------------
# epoch_time


class SpikingJellyNet(nn.Module):
    """The synapses, BatchNorms, pools and classifier of a :class:`~training.models.SpikingNet`
    with SpikingJelly ``LIFNode`` s (multi-step) in place of its neurons, run layer by layer over
    ``[T, B, ...]`` (BatchNorm over ``T * B``, SpikingJelly's ``SeqToANNContainer`` style)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        from spikingjelly.activation_based import neuron

        self.net = net
        self.lifs = nn.ModuleList(neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=1.0, v_reset=None,
                                                 step_mode="m") for _ in net.blocks)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        from spikingjelly.activation_based import functional

        functional.reset_net(self)
        T = self.net.cfg.T
        cur = self.net.stem_current(pixels)
        x_seq = cur.unsqueeze(0).expand(T, *cur.shape)             # direct encoding
        s_seq = None
        for i, (block, lif) in enumerate(zip(self.net.blocks, self.lifs)):
            if i > 0:
                flat = block.current(s_seq.flatten(0, 1))
                x_seq = flat.reshape(T, -1, *flat.shape[1:])
            s_seq = lif(x_seq.contiguous())
            if block.pool is not None:
                p = block.pool(s_seq.flatten(0, 1))
                s_seq = p.reshape(T, -1, *p.shape[1:])
        logits = self.net.classifier(s_seq.flatten(2).flatten(0, 1))
        return logits.reshape(T, -1, logits.shape[-1])


class SnnTorchNet(nn.Module):
    """:class:`SpikingJellyNet` with snnTorch ``Leaky`` neurons (single-step, stepped over ``T``)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        import snntorch

        self.net = net
        self.lifs = nn.ModuleList(snntorch.Leaky(beta=0.5, threshold=1.0, reset_mechanism="subtract")
                                  for _ in net.blocks)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        T = self.net.cfg.T
        cur = self.net.stem_current(pixels)
        x_seq = cur.unsqueeze(0).expand(T, *cur.shape)             # direct encoding
        s_seq = None
        for i, (block, lif) in enumerate(zip(self.net.blocks, self.lifs)):
            if i > 0:
                flat = block.current(s_seq.flatten(0, 1))
                x_seq = flat.reshape(T, -1, *flat.shape[1:])
            mem = lif.init_leaky()
            spikes = []
            for t in range(T):
                spk, mem = lif(x_seq[t], mem)
                spikes.append(spk)
            s_seq = torch.stack(spikes)
            if block.pool is not None:
                p = block.pool(s_seq.flatten(0, 1))
                s_seq = p.reshape(T, -1, *p.shape[1:])
        logits = self.net.classifier(s_seq.flatten(2).flatten(0, 1))
        return logits.reshape(T, -1, logits.shape[-1])


def bench_epoch_time(split: data.Split, a, device: torch.device) -> dict:
    for pkg in ("spikingjelly", "snntorch"):
        try:
            __import__(pkg)
        except ImportError:
            raise SystemExit(f"error: {pkg} is not installed "
                             "(make setup installs it: requirements.lock, requirements-nodeps.lock)") from None
    rng = np.random.default_rng(0)
    n = len(split.x_train) if not a.limit else min(a.limit, len(split.x_train))
    perm = rng.permutation(n)
    batches_per_epoch = math.ceil(n / a.batch)
    timed = batches_per_epoch if a.batches == 0 else min(a.batches, batches_per_epoch)
    out = {}
    for name in ("hdlif_online", "spikingjelly_lif_stbp", "snntorch_lif_stbp", "hdlif_stbp"):
        model = _model(split, a, a.T, device)
        mode = "online" if name.endswith("online") else "stbp"
        model.set_online(mode == "online")
        net = (SpikingJellyNet(model).to(device) if name.startswith("spikingjelly") else
               SnnTorchNet(model).to(device) if name.startswith("snntorch") else model)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        t_rng = np.random.default_rng(1)

        def step(i):
            idx = perm[(i * a.batch) % n:][:a.batch]
            x = torch.from_numpy(split.x_train[idx]).to(device)
            y = torch.from_numpy(split.y_train[idx]).to(device)
            opt.zero_grad()
            if net is model:
                train_step(model, x, y, mode=mode, t_g=int(t_rng.integers(a.T)) if mode == "online" else None,
                           global_batch=len(x))
            else:
                nn.functional.cross_entropy(net(x).mean(0), y).backward()
            opt.step()

        for i in range(2):
            step(i)
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(timed):
            step(i)
        _sync(device)
        per_batch = (time.perf_counter() - t0) / timed
        out[name] = per_batch * batches_per_epoch
        out.setdefault("seconds_per_batch", {})[name] = per_batch
        out.setdefault("cpu_seconds_per_epoch", {})[name] = (time.process_time() - c0) / timed * batches_per_epoch
        print(f"epoch_time {name:22s}: {per_batch:.3f} s/batch -> {out[name]:.0f} s/epoch "
              f"({'measured' if timed == batches_per_epoch else 'extrapolated'})", flush=True)
    out.update({"unit": "seconds per epoch", "network": a.arch, "dataset": split.name, "T": a.T,
                "batch": a.batch, "train_images": n, "batches_per_epoch": batches_per_epoch,
                "timed_batches": timed, "extrapolated": timed != batches_per_epoch,
                "what": (f"{timed} batches of {a.batch} timed after 2 warm-up batches, one process, "
                         + ("a whole epoch" if timed == batches_per_epoch else
                            f"scaled to {batches_per_epoch} batches per epoch")
                         + "; online draws t_g uniformly as training does; no evaluation; wall clock, and process "
                         "CPU time in cpu_seconds_per_epoch"),
                "spikingjelly": _sj_version(), "snntorch": _sj_version("snntorch"), "env": _env(device),
                "command": _command()})
    return out


def _sj_version(package: str = "spikingjelly") -> str:
    try:
        from importlib.metadata import version

        return version(package)
    except Exception:  # noqa: BLE001
        return "not installed"


# --------------------------------------------------------------------------------------------
# fashion_mnist


def bench_fashion(a, device: torch.device, models_dir: Path, export_failures: list[str] | None = None) -> dict:
    """The three runs; a bundle that fails to export is left out of its entry (no ``bundle``) and
    named in ``export_failures``: the accuracy is still written, and :func:`main` exits 1."""
    export_failures = [] if export_failures is None else export_failures
    runs = {"hdlif_online": ("hdlif", "online"), "lif_online": ("lif", "online"), "lif_stbp": ("lif", "stbp")}
    out = {}
    for name, (neuron, mode) in runs.items():
        run = models_dir / name
        t0 = time.perf_counter()
        m = train(run, dataset=a.dataset, data_dir=a.data_dir, arch=a.arch, T=a.T, epochs=a.epochs,
                  batch_size=a.batch, lr=a.lr, seed=a.seed, mode=mode, neuron=neuron, augment=a.augment,
                  crop_pad=a.crop_pad, limit=a.limit, device=a.device, stem_weights=a.stem_weights,
                  classifier_weights=a.classifier_weights, resume=a.resume and (run / "checkpoint.pt").is_file(),
                  progress=not a.no_progress)
        entry = {"test_accuracy": m["test_accuracy"], **accuracy_summary(m["epochs"]), "neuron": neuron,
                 "mode": mode, "epochs": len(m["epochs"]), "seconds": time.perf_counter() - t0, "run": _rel(run)}
        if neuron == "hdlif":
            try:
                entry["bundle"] = _save_bundle(run)
            except Exception as e:  # noqa: BLE001 - the accuracy is kept, the step fails (main exits 1)
                msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                export_failures.append(f"{_rel(run)}: the integer bundle was not exported: {msg}")
                print(f"error: {export_failures[-1]}", file=sys.stderr, flush=True)
        out[name] = entry
        print(f"fashion_mnist {name:13s}: test accuracy {m['test_accuracy']:.4f}", flush=True)
    out.update({"dataset": a.dataset, "network": a.arch, "T": a.T, "epochs": a.epochs, "batch": a.batch,
                "lr": a.lr, "seed": a.seed, "augment": a.augment, "crop_pad": a.crop_pad, "limit": a.limit,
                "weights": {"hidden": "ternary", "stem": a.stem_weights, "classifier": a.classifier_weights},
                "env": _env(device), "command": _command()})
    return out


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(HERE.parent))
    except ValueError:
        return str(p)


def _save_bundle(run: Path) -> str:
    """The integer bundle of an HD-LIF run (no test vectors: they would be large)."""
    from golden import save_bundle
    from training.export import to_bundle
    from training.train import load_checkpoint

    model, _ = load_checkpoint(run)
    save_bundle(to_bundle(model, run.name), run / "model")
    return _rel(run / "model")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.training", description=__doc__.split("\n")[0])
    p.add_argument("--part", default="all", choices=(*PARTS, "all"))
    p.add_argument("--dataset", default="fashion_mnist", choices=data.DATASETS)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--arch", default="vgg:32,p,64,p,64,p", help="the network of every part")
    p.add_argument("--T", type=int, default=4, help="time steps (epoch_time, fashion_mnist)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--batches", type=int, default=20, help="epoch_time: batches timed (0: a whole epoch)")
    p.add_argument("--repeats", type=int, default=2, help="memory: STBP steps timed per T")
    p.add_argument("--epochs", type=int, default=10, help="fashion_mnist: epochs per run")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--augment", action="store_true", help="random crop (+ flip for Fashion-MNIST)")
    p.add_argument("--crop-pad", type=int, default=None,
                   help="--augment's random shift (default H // 7; 0: flips only)")
    p.add_argument("--stem-weights", default="ternary", help="ternary | binary | int8 (every part)")
    p.add_argument("--classifier-weights", default="ternary", help="ternary | binary | int8 (every part)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N train (and test) images")
    p.add_argument("--resume", action="store_true", help="fashion_mnist: continue runs that have a checkpoint")
    p.add_argument("--device", default="auto")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--models-dir", type=Path, default=MODELS)
    p.add_argument("--threads", type=int, default=1, help="intra-op CPU threads (recorded with the results)")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    from training.distributed import pick_device

    device = pick_device(a.device)
    parts = PARTS if a.part == "all" else (a.part,)
    split = data.load(a.dataset, a.data_dir) if {"memory", "epoch_time"} & set(parts) else None
    export_failures: list[str] = []
    for part in parts:
        if part == "memory":
            r = {"memory_vs_T": bench_memory(split, a, device)}
        elif part == "epoch_time":
            r = {"epoch_time": bench_epoch_time(split, a, device)}
        else:
            r = {"fashion_mnist": bench_fashion(a, device, a.models_dir, export_failures)}
        _merge(a.results, r)
        print(f"{part} -> {a.results}", flush=True)
    if export_failures:
        print(f"error: {len(export_failures)} bundle export(s) failed (accuracies written to {a.results}, "
              "without their bundle): " + "; ".join(export_failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
