"""Online training of HD-LIF networks (paper Algorithm 1, spec section 6).

For each batch one time step ``t_g`` is drawn uniformly from ``0 .. T-1``; the forward pass
runs from ``t = 0`` to ``t_g`` with the membrane detached between steps, the loss is taken on
the logits at ``t_g`` and back-propagated once.  The steps before ``t_g`` run without building
a graph (``torch.no_grad``): with the membrane detached nothing flows back into them, so the
gradient is the same and memory holds one step's graph whatever ``T``.  ``mode="stbp"``
back-propagates through all ``T`` steps with the loss on the mean logits.  Inference sums the
logits over all ``T`` steps.

A run folder holds ``config.json`` (the network, the dataset and the data folder read),
``checkpoint.pt`` (model, optimizer, scheduler, epoch and
RNG states; written after every epoch, loads with ``weights_only=True``) and ``metrics.json``
(one entry per epoch with ``test_accuracy``).  ``resume=True`` continues a run from its
checkpoint and appends to its metrics.  The folder is created with the first checkpoint, so a
run refused for its settings or data leaves nothing behind.

Progress goes to stderr: bars on a terminal, one line per epoch otherwise (a log file).  Ctrl-C
raises :class:`TrainingInterrupted` (a ``KeyboardInterrupt``) saying which epoch it stopped in and
which one the checkpoint holds; the command lines print it as one line and exit 130.

Data parallel: under ``torchrun --nproc_per_node=N`` every rank takes a shard of each global
batch and gradients are summed over the ranks (:mod:`training.distributed`); only rank 0 writes
files and shows progress.  The device is the GPU when one is present (``device="auto"``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from golden.atomic import atomic_file, write_json_atomic

from . import data
from . import distributed as dist_
from .models import NEURONS, NetConfig, build_model
from .quant import QUANTIZERS

MODES = ("online", "stbp")
DEVICES = ("auto", "cpu", "cuda")

#: train() arguments a resumed run must share with the run it continues (``epochs`` may grow).
RESUME_KEYS = ("dataset", "data_dir", "arch", "T", "batch_size", "lr", "seed", "spike_bits", "mode",
               "augment", "crop_pad", "limit", "net")


#: NetConfig fields a caller may set besides those that follow from the data (``net`` options).
NET_OPTIONS = ("neuron", "parallel_ratio", "theta_index", "weights", "stem_weights", "classifier_weights", "seca",
               "shortcut", "head", "membrane_frac")


def make_config(arch: str, split: data.Split, *, T: int, spike_bits: int, **net) -> NetConfig:
    """The :class:`NetConfig` of ``arch`` for ``split``'s images (``resnet:...`` gives a
    :class:`~training.resnet.ResNetConfig`, the only one with ``seca``)."""
    unknown = sorted(set(net) - set(NET_OPTIONS))
    if unknown:
        raise ValueError(f"unknown network option {unknown[0]!r}; known: {', '.join(NET_OPTIONS)}")
    return config_from_dict(dict(arch=arch, in_shape=tuple(split.shape), classes=split.classes, T=T,
                                 spike_bits=spike_bits, input_max=split.input_max,
                                 input_scale=1.0 / split.input_max, **net))


def config_from_dict(d: dict) -> NetConfig:
    if str(d.get("arch", "")).startswith("resnet:"):
        from .resnet import ResNetConfig

        return ResNetConfig.from_dict(d)
    if d.get("seca", "none") != "none":
        raise ValueError(f"seca={d['seca']!r}: SECA is wired into resnet blocks only, not {d.get('arch')!r}")
    for k in ("shortcut", "head"):
        if d.get(k, "spikes") != "spikes":
            raise ValueError(f"{k}={d[k]!r}: a resnet option, not for {d.get('arch')!r}")
    if d.get("membrane_frac") is not None:
        raise ValueError(f"membrane_frac={d['membrane_frac']!r}: a resnet option, not for {d.get('arch')!r}")
    return NetConfig.from_dict({k: v for k, v in d.items() if k not in ("seca", "shortcut", "head", "membrane_frac")})


def config_from_json(text: str) -> NetConfig:
    return config_from_dict(json.loads(text))


def model_from_config(cfg: NetConfig) -> nn.Module:
    return build_model(cfg)


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 512,
             device: torch.device | str = "cpu") -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(torch.from_numpy(x[i:i + batch]).to(device)).sum(0)
            correct += int((logits.argmax(1).cpu().numpy() == y[i:i + batch]).sum())
    return correct / max(len(x), 1)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`train`: ``epoch`` is the epoch it stopped in (None: before the
    first), ``saved`` the last epoch in the run's checkpoint (0: none of this training)."""

    def __init__(self, run_dir: Path, *, epoch: int | None, saved: int, epochs: int):
        self.run_dir, self.epoch, self.saved, self.epochs = Path(run_dir), epoch, saved, epochs
        super().__init__(self.message())

    def message(self, resume: str = "--resume", again: str = "the same command again") -> str:
        """One line: where it stopped, what the checkpoint holds and the command that goes on
        (``resume``), or, with nothing saved, the one that starts again (``again``)."""
        where = f"in epoch {self.epoch} of {self.epochs}" if self.epoch else "before the first epoch"
        if self.saved:
            return (f"train: stopped {where} (Ctrl-C); {self.run_dir / 'checkpoint.pt'} holds epoch {self.saved}: "
                    f"continue with {resume}")
        return f"train: stopped {where} (Ctrl-C), before any epoch was saved: nothing to resume; run {again}"


def _read_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint (train the model first: make train)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - report any decode failure as a corrupt file
        raise ValueError(f"{path}: unreadable checkpoint ({type(e).__name__}: {e})") from None


def load_checkpoint(run_dir: Path) -> tuple[nn.Module, dict]:
    """Rebuild the network of a run from its checkpoint (loaded with ``weights_only=True``)."""
    path = Path(run_dir) / "checkpoint.pt"
    ckpt = _read_checkpoint(path)
    try:
        model = model_from_config(config_from_json(ckpt["config"]))
        model.load_state_dict(ckpt["model"])
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{path}: unreadable checkpoint ({type(e).__name__}: {e})") from None
    model.eval()
    return model, ckpt


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, mode: str, t_g: int | None,
               global_batch: int) -> torch.Tensor:
    """Forward one (shard of a) batch and back-propagate; returns the shard's summed loss.

    The loss is ``sum(cross_entropy) / global_batch``: summing gradients over the shards of a
    global batch gives exactly the gradient of the mean loss over the whole batch.
    """
    if mode == "online":
        model.reset()
        cur = model.stem_current(x)
        with torch.no_grad():                    # nothing flows back into t < t_g (membrane detached)
            for t in range(t_g):
                model.step(cur, t)
        logits = model.step(cur, t_g)            # forward stops at the drawn step
    else:
        logits = model(x).mean(0)                # STBP: through all T steps
    loss_sum = nn.functional.cross_entropy(logits, y, reduction="sum")
    (loss_sum / global_batch).backward()
    return loss_sum.detach()


def _rng_state(rng: np.random.Generator) -> str:
    return json.dumps(rng.bit_generator.state)


def _set_rng_state(rng: np.random.Generator, text: str) -> None:
    rng.bit_generator.state = json.loads(text)


def train(run_dir: Path, *, dataset: str = "digits", data_dir: str | None = None, arch: str | None = None,
          hidden=(128,), T: int = 4, epochs: int = 30, batch_size: int = 32, lr: float = 2e-3, seed: int = 0,
          spike_bits: int = 4, mode: str = "online", augment: bool = False, crop_pad: int | None = None,
          limit: int | None = None, resume: bool = False, stop_after: int | None = None, device: str = "auto",
          neuron: str = "hdlif", parallel_ratio: float = 0.0, theta_index: str = "step",
          weights: str = "ternary", stem_weights: str = "ternary", classifier_weights: str = "ternary",
          seca: str = "none", shortcut: str = "spikes", head: str = "spikes", membrane_frac: int | None = None,
          progress: bool = True) -> dict:
    """Train a run (``mode="online"``: one random step per batch, membrane detached;
    ``mode="stbp"``: backpropagation through all ``T`` steps, loss on the mean logits).

    ``arch`` (default ``mlp:<hidden>``; ``vgg:...``, ``resnet:...``), ``neuron``,
    ``parallel_ratio``, ``theta_index``, the weight quantizers, ``seca`` and ``membrane_frac``
    (resnet only: the integer graph's fixed point, :mod:`training.fixed_point`) describe the
    network (:class:`~training.models.NetConfig`).  ``augment`` crops (and for Fashion-MNIST
    flips) the training images, with ``crop_pad`` zero pixels of random shift (default ``H // 7``;
    0: flips only); ``limit`` keeps the first ``limit`` train and test images.  ``resume`` continues the run in
    ``run_dir`` from its checkpoint; ``stop_after`` stops after that epoch (the schedule still
    spans ``epochs``), so a run can be split in pieces that equal one straight run.
    """
    dataset = data.canonical(dataset)
    if mode not in MODES:
        raise ValueError(f"training mode must be one of {', '.join(MODES)}, not {mode!r}")
    if device not in DEVICES and not str(device).startswith("cuda:"):
        raise ValueError(f"device must be one of {', '.join(DEVICES)} or cuda:N, not {device!r}")
    for name, v in (("epochs", epochs), ("batch_size", batch_size), ("T", T)):
        if not (isinstance(v, int) and v > 0):
            raise ValueError(f"{name} must be a positive integer, not {v!r}")
    if crop_pad is not None and not (isinstance(crop_pad, int) and crop_pad >= 0):
        raise ValueError(f"crop_pad must be a non-negative integer, not {crop_pad!r}")
    if limit is not None and not (isinstance(limit, int) and limit > 0):
        raise ValueError(f"limit must be a positive integer, not {limit!r}")
    arch = arch or "mlp:" + ",".join(str(h) for h in hidden)
    net = dict(neuron=neuron, parallel_ratio=float(parallel_ratio), theta_index=theta_index, weights=weights,
               stem_weights=stem_weights, classifier_weights=classifier_weights, seca=seca,
               # the authors' forms (resnet): only when asked, so earlier runs' settings read the same
               **{k: v for k, v in (("shortcut", shortcut), ("head", head)) if v != "spikes"},
               **({} if membrane_frac is None else {"membrane_frac": membrane_frac}))
    args = {"dataset": dataset, "data_dir": None if data_dir is None else str(data_dir), "arch": arch, "T": T,
            "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "spike_bits": spike_bits,
            "mode": mode, "augment": bool(augment), "crop_pad": crop_pad, "limit": limit,
            "net": dict(sorted(net.items()))}
    run_dir = Path(run_dir)
    ckpt_path = run_dir / "checkpoint.pt"
    ckpt = _read_checkpoint(ckpt_path) if resume else None
    if ckpt is not None:
        old = json.loads(ckpt["train_args"]) if "train_args" in ckpt else None
        if old is None:
            raise ValueError(f"{ckpt_path}: written by an older version, without its training state; cannot resume")
        diff = [k for k in RESUME_KEYS if old.get(k) != args[k]]
        if diff:
            k = diff[0]
            raise ValueError(f"{ckpt_path}: cannot resume with {k}={args[k]!r}, the run used {k}={old.get(k)!r}")

    state = {"epoch": None, "saved": int(ckpt["epoch"]) if ckpt is not None else 0, "bars": []}
    ctx = dist_.setup(device)
    try:
        return _train(run_dir, ctx, args, ckpt, stop_after=stop_after, progress=progress, state=state)
    except KeyboardInterrupt:
        for bar in state["bars"]:
            bar.close()
        raise TrainingInterrupted(run_dir, epoch=state["epoch"], saved=state["saved"], epochs=epochs) from None
    finally:
        dist_.teardown(ctx)


def _train(run_dir: Path, ctx: dist_.Context, args: dict, ckpt: dict | None, *, stop_after, progress,
           state: dict) -> dict:
    """The epochs.  ``state`` follows them for Ctrl-C: the epoch running, the last one saved
    and the progress bars.  Progress goes to stderr: bars on a terminal, else (a log file) one
    line per epoch."""
    main = ctx.is_main
    show = progress and main
    bars = show and sys.stderr.isatty()
    T, mode, epochs, batch_size = args["T"], args["mode"], args["epochs"], args["batch_size"]
    torch.manual_seed(args["seed"])
    rng = np.random.default_rng(args["seed"])                 # permutation and t_g: shared by all ranks
    aug_rng = np.random.default_rng([args["seed"], 1])        # augmentation: shared by all ranks
    split = data.load(args["dataset"], args["data_dir"])
    folder = data.folder(args["dataset"], args["data_dir"])
    x_train, y_train, x_test, y_test = split.x_train, split.y_train, split.x_test, split.y_test
    if args["limit"]:
        x_train, y_train = x_train[:args["limit"]], y_train[:args["limit"]]
        x_test, y_test = x_test[:args["limit"]], y_test[:args["limit"]]
    cfg = make_config(args["arch"], split, T=T, spike_bits=args["spike_bits"], **args["net"])
    model = build_model(cfg)
    model.to(ctx.device)
    if ctx.distributed:
        dist_.convert_batchnorm(model)
        dist_.broadcast_module(model)
    model.set_online(mode == "online")
    opt = torch.optim.Adam(model.parameters(), lr=args["lr"])
    steps_per_epoch = -(-len(x_train) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    history: list[dict] = []
    start = 0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        sched.T_max = epochs * steps_per_epoch                 # a resumed run may extend its epochs
        _set_rng_state(rng, ckpt["rng"])
        _set_rng_state(aug_rng, ckpt["aug_rng"])
        torch.set_rng_state(ckpt["torch_rng"])
        history = json.loads(ckpt["history"])
        start = int(ckpt["epoch"])
    flip = data.FLIP_BY_DEFAULT.get(split.name, False)
    stop = epochs if stop_after is None else min(epochs, stop_after)
    bar = tqdm(range(start, stop), desc=f"train {run_dir.name}", disable=not bars, file=sys.stderr,
               initial=start, total=stop)
    state["bars"].append(bar)
    for epoch in bar:
        state["epoch"] = epoch + 1
        model.train()
        t0 = time.time()
        perm = rng.permutation(len(x_train))
        total = 0.0
        steps = range(0, len(perm), batch_size)
        inner = tqdm(steps, desc=f"epoch {epoch + 1}", leave=False, disable=not bars, file=sys.stderr, unit="batch")
        state["bars"][1:] = [inner]
        for i in inner:
            gidx = perm[i:i + batch_size]
            if len(gidx) < ctx.world:                          # a final batch too small to shard
                continue
            t_g = int(rng.integers(T)) if mode == "online" else None
            xb = x_train[gidx]
            if args["augment"]:
                xb = data.augment(xb, split.shape, aug_rng, pad=args.get("crop_pad"), flip=flip)
            part = dist_.shard(len(gidx), ctx.rank, ctx.world)
            x = torch.from_numpy(np.ascontiguousarray(xb[part])).to(ctx.device)
            y = torch.from_numpy(y_train[gidx][part]).to(ctx.device)
            opt.zero_grad()
            loss_sum = train_step(model, x, y, mode=mode, t_g=t_g, global_batch=len(gidx))
            if ctx.distributed:
                dist_.allreduce_gradients(model)
            opt.step()
            sched.step()
            total += float(loss_sum)
        if ctx.distributed:
            total = dist_.allreduce_sum(total, ctx.device)
        acc = evaluate(model, x_test, y_test, device=ctx.device) if main else float("nan")
        history.append({"epoch": epoch + 1, "loss": total / len(x_train), "test_accuracy": acc,
                        "seconds": time.time() - t0, "lr": sched.get_last_lr()[0], "device": str(ctx.device)})
        if main:
            _save(run_dir, model, cfg, opt, sched, epoch + 1, rng, aug_rng, history, args, ctx, folder)
            state["saved"] = epoch + 1
            bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", test_acc=f"{acc:.4f}")
            if show and not bars:
                h = history[-1]
                print(f"train {run_dir.name}: epoch {epoch + 1}/{epochs}: loss {h['loss']:.4f}, test accuracy "
                      f"{acc:.4f}, {h['seconds']:.1f} s", file=sys.stderr, flush=True)
        if ctx.distributed:
            torch.distributed.barrier()
    return _metrics(args, cfg, history, ctx)


def _metrics(args: dict, cfg, history: list[dict], ctx: dist_.Context) -> dict:
    return {"dataset": args["dataset"], "data_dir": args["data_dir"], "arch": args["arch"],
            "neuron": args["net"]["neuron"], "net": args["net"],
            "mode": args["mode"], "T": args["T"], "seed": args["seed"], "batch_size": args["batch_size"],
            "lr": args["lr"], "augment": args["augment"], "crop_pad": args.get("crop_pad"), "limit": args["limit"],
            "world_size": ctx.world,
            "device": str(ctx.device), "planned_epochs": args["epochs"], "epochs": history,
            "test_accuracy": history[-1]["test_accuracy"] if history else None}


def _save(run_dir, model, cfg, opt, sched, epoch, rng, aug_rng, history, args, ctx, folder=None) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)         # only now: a refused run leaves no folder
    ckpt = {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "config": cfg.to_json(),
            "epochs": epoch, "epoch": epoch, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "rng": _rng_state(rng), "aug_rng": _rng_state(aug_rng), "torch_rng": torch.get_rng_state(),
            "history": json.dumps(history), "train_args": json.dumps(args)}
    with atomic_file(run_dir / "checkpoint.pt", "wb") as f:
        torch.save(ckpt, f)
    write_json_atomic(run_dir / "metrics.json", _metrics(args, cfg, history, ctx))
    config = {**json.loads(cfg.to_json()), "dataset": args["dataset"],
              "data_dir": None if folder is None else str(folder)}      # the folder actually read
    write_json_atomic(run_dir / "config.json", config)


def stored_settings(run_dir: Path) -> dict:
    """The training settings of a run, from its checkpoint, keyed as :func:`train`'s arguments
    (network options flattened): the defaults of a resumed run on the command line."""
    old = json.loads(_read_checkpoint(Path(run_dir) / "checkpoint.pt").get("train_args", "{}"))
    flat = {k: v for k, v in old.items() if k != "net"}
    flat.update(old.get("net", {}))
    return flat


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n")[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--dataset", default="digits", choices=data.DATASETS,
                   type=lambda s: data.ALIASES.get(s, s), help="fashion-mnist is fashion_mnist")
    p.add_argument("--data-dir", default=None, help="folder of the four IDX files (mnist, fashion_mnist)")
    p.add_argument("--hidden", default="128", help="comma-separated hidden sizes (an MLP)")
    p.add_argument("--arch", default=None,
                   help="architecture, e.g. mlp:128, vgg:16,p,32,p or resnet:16,32,64 (overrides --hidden)")
    p.add_argument("--neuron", default="hdlif", choices=NEURONS)
    p.add_argument("--parallel-ratio", type=float, default=0.0, help="fraction of layers made Parallel HD-LIF")
    p.add_argument("--theta-index", default="step", choices=("step", "first"), help="Parallel HD-LIF threshold")
    p.add_argument("--weights", default="ternary", choices=tuple(QUANTIZERS))
    p.add_argument("--stem-weights", default="ternary", choices=tuple(QUANTIZERS))
    p.add_argument("--classifier-weights", default="ternary", choices=tuple(QUANTIZERS))
    p.add_argument("--seca", default="none", choices=("none", "I", "II"), help="SECA in resnet blocks")
    p.add_argument("--shortcut", default="spikes", choices=("spikes", "stream"),
                   help="resnet: the 1x1 shortcut conv reads the spikes, or the current stream (the authors' code)")
    p.add_argument("--head", default="spikes", choices=("spikes", "stream"),
                   help="resnet: the head pools the spikes of a head neuron, or the stream (the authors' code)")
    p.add_argument("--membrane-frac", type=int, default=None,
                   help="resnet: compute the integer graph's fixed point (membrane unit step / 2**N; export's is 8), "
                        "so that float and golden agree; default: float")
    p.add_argument("--T", type=int, default=4)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32, help="global batch (split over the ranks)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", default="online", choices=MODES)
    p.add_argument("--augment", action="store_true", help="random crop (+ flip for Fashion-MNIST)")
    p.add_argument("--crop-pad", type=int, default=None,
                   help="--augment's random shift in pixels (default H // 7; 0: flips only)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N train and test images")
    p.add_argument("--resume", action="store_true", help="continue the run from its checkpoint")
    p.add_argument("--stop-after", type=int, default=None, help="stop after this epoch (resume later)")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op CPU threads (torch.set_num_threads; 1 is fastest on a busy machine)")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.resume:                      # the run's own settings are the defaults of a resumed run
        try:
            old = stored_settings(a.run_dir)
        except (FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        p.set_defaults(**{k: v for k, v in old.items() if k in _CLI_KEYS})
        a = p.parse_args(argv)
    try:
        m = _run_cli(a)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {str(e).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    except TrainingInterrupted as e:
        if int(os.environ.get("RANK", "0")) == 0:
            print(e.message(resume=f"python -m training.train {a.run_dir} --resume"), file=sys.stderr)
        return 130
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"test accuracy {m['test_accuracy']:.4f} -> {a.run_dir}/metrics.json")
    return 0


_CLI_KEYS = ("dataset", "data_dir", "arch", "T", "epochs", "batch_size", "lr", "seed", "mode", "augment", "crop_pad",
             "limit", *NET_OPTIONS)


def _run_cli(a) -> dict:
    return train(a.run_dir, dataset=a.dataset, data_dir=a.data_dir, arch=a.arch,
                 hidden=[int(h) for h in a.hidden.split(",")], T=a.T, epochs=a.epochs, batch_size=a.batch_size,
                 lr=a.lr, seed=a.seed, mode=a.mode, augment=a.augment, crop_pad=a.crop_pad, limit=a.limit,
                 resume=a.resume, stop_after=a.stop_after, device=a.device, neuron=a.neuron,
                 parallel_ratio=a.parallel_ratio, theta_index=a.theta_index, weights=a.weights, stem_weights=a.stem_weights,
                 classifier_weights=a.classifier_weights, seca=a.seca, shortcut=a.shortcut, head=a.head,
                 membrane_frac=a.membrane_frac,
                 progress=not a.no_progress)


if __name__ == "__main__":
    sys.exit(main())
