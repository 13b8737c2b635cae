"""Data-parallel training with ``torch.distributed`` (used by :mod:`training.train`).

Launch with ``torchrun --nproc_per_node=N -m training.train RUN ...``: every rank builds the same
network from the same seed (and rank 0's parameters are broadcast to be sure), draws the same
permutation, the same online time step ``t_g`` and the same augmentation from the shared seed,
and takes a contiguous shard of every global batch.  After ``backward`` the gradients are summed
over the ranks with one all-reduce; each rank's loss is its shard's summed loss divided by the
*global* batch size, so the sum is exactly the gradient one process computes on the whole batch.

BatchNorm statistics are synchronised too (:class:`DistBatchNorm`, a CPU-capable
``SyncBatchNorm``: ``nn.SyncBatchNorm`` refuses CPU tensors), otherwise each rank would normalise
with its shard's statistics and the result would depend on the number of ranks.  Gradients are
all-reduced explicitly rather than through ``DistributedDataParallel`` because online training
calls ``model.step`` several times per batch (DDP hooks only ``forward``) and may leave some
parameters unused (Mem-BN's per-step BatchNorms after ``t_g``); every rank runs the same graph,
so the set of parameters with a gradient is the same on every rank.

Backend: ``nccl`` when the device is CUDA, ``gloo`` otherwise.  Only rank 0 writes files and
shows progress bars.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False     # this process initialised the group (and destroys it at the end)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def pick_device(device: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto``: the CUDA device of this rank when one is present, else the CPU."""
    if device == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    d = torch.device(device)
    if d.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
    return d


def setup(device: str = "auto") -> Context:
    """The rank, world size and device of this process.  Initialises the process group from
    torchrun's environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...) unless one exists."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_available() and dist.is_initialized():
        dev = pick_device(device, local_rank)
        return Context(dist.get_rank(), dist.get_world_size(), local_rank, dev)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = pick_device(device, local_rank)
    if world <= 1:
        return Context(device=dev)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Context(dist.get_rank(), dist.get_world_size(), local_rank, dev, owns_group=True)


def teardown(ctx: Context) -> None:
    """Leave the process group together: a rank that tears gloo down while its peer still
    talks to it can abort the peer at exit ("terminate called without an active exception")."""
    if ctx.owns_group and dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def shard(n: int, rank: int, world: int) -> slice:
    """The contiguous part of a global batch of ``n`` samples that ``rank`` takes (sizes differ
    by at most one; the first ``n % world`` ranks take one more)."""
    base, extra = divmod(n, world)
    lo = rank * base + min(rank, extra)
    return slice(lo, lo + base + (rank < extra))


def broadcast_module(model: nn.Module, src: int = 0) -> None:
    """Make every rank's parameters and buffers equal to rank ``src``'s."""
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(t.data, src)


def allreduce_gradients(model: nn.Module) -> None:
    """Sum the gradients over the ranks, in one flat all-reduce."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    i = 0
    for g in grads:
        g.copy_(flat[i:i + g.numel()].view_as(g))
        i += g.numel()


def allreduce_sum(value: float, device: torch.device) -> float:
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item())


class _AllReduceSum(torch.autograd.Function):
    """Sum over the ranks; its backward sums the incoming gradients over the ranks."""

    @staticmethod
    def forward(ctx, t):
        t = t.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad)
        return grad


def _all_reduce(t: torch.Tensor) -> torch.Tensor:
    return _AllReduceSum.apply(t)


class DistBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics are over the global batch, on any device.

    Mean and (biased) variance are computed in two passes, each one differentiable all-reduce
    of per-channel sums; the running statistics are updated as ``nn.BatchNorm`` does (unbiased
    variance, ``momentum``, or the cumulative average when ``momentum is None``).  In eval mode,
    or with one rank, it is an ordinary BatchNorm.
    """

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        shape = [1, c] + [1] * (x.dim() - 2)
        count = torch.full((1,), x.numel() // max(c, 1), dtype=x.dtype, device=x.device)
        s = _all_reduce(torch.cat([x.sum(dims), count]))
        n = s[c]
        mean = s[:c] / n
        var = _all_reduce((x - mean.view(shape)).pow(2).sum(dims)) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                f = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                nn_ = float(n)
                self.running_mean.mul_(1 - f).add_(f * mean.detach())
                self.running_var.mul_(1 - f).add_(f * var.detach() * nn_ / max(nn_ - 1, 1.0))
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_batchnorm(model: nn.Module) -> nn.Module:
    """Replace every BatchNorm in ``model`` (in place) by a :class:`DistBatchNorm` holding the
    same parameters and buffers, so state-dict keys and export are unchanged."""
    for name, child in list(model.named_children()):
        if isinstance(child, _BatchNorm) and not isinstance(child, DistBatchNorm):
            new = DistBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                child.track_running_stats)
            new.to(next(iter(child.buffers()), torch.zeros(())).device)
            new.load_state_dict(child.state_dict())
            new.train(child.training)
            if child.affine:
                new.weight, new.bias = child.weight, child.bias
            model._modules[name] = new
        else:
            convert_batchnorm(child)
    return model
