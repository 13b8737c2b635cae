"""Data-parallel training: two gloo processes on 127.0.0.1 train exactly what one process does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training.distributed import shard


ROOT = Path(__file__).resolve().parent.parent

# tiny: a conv net (BatchNorm2d and BatchNorm1d), 125 digits images in global batches of 64 (the
# last one of 61, split 31 / 30), online with a shared t_g, augmentation drawn from the shared
# seed, 2 epochs = 4 optimizer steps
TINY = dict(arch="vgg:4,p,fc16", T=3, epochs=2, batch_size=64, limit=125, augment=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_shards_cover_a_global_batch_once():
    for n in (1, 7, 64):
        for world in (1, 2, 3):
            parts = [shard(n, r, world) for r in range(world)]
            idx = [i for p in parts for i in range(n)[p]]
            assert idx == list(range(n))
            assert max(len(range(n)[p]) for p in parts) - min(len(range(n)[p]) for p in parts) <= 1


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="torch.distributed with gloo is not available")
def test_two_gloo_processes_match_one_process(tmp_path):
    from training.train import train

    two = tmp_path / "two"
    cli = [f"--arch={TINY['arch']}", f"--T={TINY['T']}", f"--epochs={TINY['epochs']}",
           f"--batch-size={TINY['batch_size']}", f"--limit={TINY['limit']}", "--augment", "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
                        "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
                        "-m", "training.train", str(two), *cli],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("test accuracy") == 1                 # only rank 0 reports
    assert sorted(p.name for p in two.iterdir()) == ["checkpoint.pt", "config.json", "metrics.json"]

    one = train(tmp_path / "one", progress=False, device="cpu", **TINY)
    a = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=True)
    b = torch.load(two / "checkpoint.pt", weights_only=True)
    assert one["world_size"] == 1 and '"world_size": 2' in (two / "metrics.json").read_text()
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:                                        # parameters and BN running statistics
        assert torch.allclose(a["model"][k].double(), b["model"][k].double(), rtol=1e-5, atol=1e-6), k
    steps = [s["step"] for s in a["optimizer"]["state"].values()]
    assert all(int(s) == 4 for s in steps)                      # 2 epochs of 2 global batches
