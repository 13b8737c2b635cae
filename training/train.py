"""Online training of HD-LIF networks (paper Algorithm 1, spec section 6).

For each batch one time step ``t_g`` is drawn uniformly from ``0 .. T-1``; the forward pass
runs from ``t = 0`` to ``t_g`` with the membrane detached between steps, the loss is taken on
the logits at ``t_g`` and back-propagated once.  Inference sums the logits over all ``T``
steps.  A run folder holds ``config.json``, ``checkpoint.pt`` and ``metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from . import data
from .models import NetConfig, build_model

MODES = ("online", "stbp")


def evaluate(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 512) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(torch.from_numpy(x[i:i + batch])).sum(0)
            correct += int((logits.argmax(1).numpy() == y[i:i + batch]).sum())
    return correct / max(len(x), 1)


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    write(tmp)
    os.replace(tmp, path)


def load_checkpoint(run_dir: Path) -> tuple[torch.nn.Module, dict]:
    """Rebuild the network of a run from its checkpoint (loaded with ``weights_only=True``)."""
    path = Path(run_dir) / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint (train the model first: make train)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        cfg = NetConfig.from_dict(json.loads(ckpt["config"]))
        model = build_model(cfg)
        model.load_state_dict(ckpt["model"])
    except Exception as e:  # noqa: BLE001 - report any decode failure as a corrupt file
        raise ValueError(f"{path}: unreadable checkpoint ({type(e).__name__}: {e})") from None
    model.eval()
    return model, ckpt


def train(run_dir: Path, *, dataset: str = "digits", hidden=(128,), arch: str | None = None,
          T: int = 4, epochs: int = 30, batch_size: int = 32, lr: float = 2e-3, seed: int = 0,
          spike_bits: int = 4, mode: str = "online", neuron: str = "hdlif", parallel_ratio: float = 0.0,
          weights: str = "ternary", stem_weights: str = "ternary", classifier_weights: str = "ternary",
          progress: bool = True) -> dict:
    """Train a run.  ``mode="online"``: one random step per batch, membrane detached;
    ``mode="stbp"``: backpropagation through all ``T`` steps, loss on the mean logits."""
    if mode not in MODES:
        raise ValueError(f"training mode must be one of {', '.join(MODES)}, not {mode!r}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    split = data.load(dataset)
    cfg = NetConfig(arch=arch or "mlp:" + ",".join(str(h) for h in hidden),
                    in_shape=tuple(getattr(split, "shape", (1, 8, 8))), T=T,
                    spike_bits=spike_bits, input_max=split.input_max,
                    input_scale=1.0 / split.input_max, classes=int(split.y_train.max()) + 1,
                    neuron=neuron, parallel_ratio=parallel_ratio, weights=weights,
                    stem_weights=stem_weights, classifier_weights=classifier_weights)
    model = build_model(cfg)
    model.set_online(mode == "online")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = -(-len(split.x_train) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    history = []
    x_train = torch.from_numpy(split.x_train)
    y_train = torch.from_numpy(split.y_train)
    bar = tqdm(range(epochs), desc=f"train {run_dir.name}", disable=not progress, file=sys.stderr)
    for epoch in bar:
        model.train()
        t0 = time.time()
        perm = torch.from_numpy(rng.permutation(len(x_train)))
        total = 0.0
        for i in range(0, len(perm), batch_size):
            idx = perm[i:i + batch_size]
            if mode == "online":
                t_g = int(rng.integers(T))           # one random time step per batch
                model.reset()
                cur = model.stem_current(x_train[idx])
                for t in range(t_g + 1):             # forward stops at the drawn step
                    logits = model.step(cur, t)
            else:
                logits = model(x_train[idx]).mean(0)  # STBP: through all T steps
            loss = loss_fn(logits, y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        acc = evaluate(model, split.x_test, split.y_test)
        history.append({"epoch": epoch + 1, "loss": total / len(x_train), "test_accuracy": acc,
                        "seconds": time.time() - t0})
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", test_acc=f"{acc:.4f}")
    ckpt = {"model": model.state_dict(), "config": cfg.to_json(), "epochs": epochs}
    _atomic_write(run_dir / "checkpoint.pt", lambda p: torch.save(ckpt, p))
    metrics = {"dataset": dataset, "arch": cfg.arch, "neuron": neuron, "mode": mode, "T": T, "seed": seed,
               "epochs": history, "test_accuracy": history[-1]["test_accuracy"]}
    _atomic_write(run_dir / "metrics.json", lambda p: Path(p).write_text(json.dumps(metrics, indent=2) + "\n"))
    (run_dir / "config.json").write_text(json.dumps(json.loads(cfg.to_json()), indent=2) + "\n")
    return metrics


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n")[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--dataset", default="digits", choices=data.DATASETS)
    p.add_argument("--hidden", default="128", help="comma-separated hidden sizes (an MLP)")
    p.add_argument("--arch", default=None, help="architecture, e.g. mlp:128 or vgg:16,p,32,p (overrides --hidden)")
    p.add_argument("--neuron", default="hdlif", choices=("hdlif", "parallel", "membn", "lif"))
    p.add_argument("--parallel-ratio", type=float, default=0.0)
    p.add_argument("--weights", default="ternary", choices=("ternary", "binary"))
    p.add_argument("--stem-weights", default="ternary", choices=("ternary", "binary", "int8"))
    p.add_argument("--classifier-weights", default="ternary", choices=("ternary", "binary", "int8"))
    p.add_argument("--T", type=int, default=4)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", default="online", choices=MODES)
    a = p.parse_args(argv)
    m = train(a.run_dir, dataset=a.dataset, hidden=[int(h) for h in a.hidden.split(",")], T=a.T, arch=a.arch,
              neuron=a.neuron, parallel_ratio=a.parallel_ratio, weights=a.weights,
              stem_weights=a.stem_weights, classifier_weights=a.classifier_weights,
              epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, seed=a.seed, mode=a.mode)
    print(f"test accuracy {m['test_accuracy']:.4f} -> {a.run_dir}/metrics.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
