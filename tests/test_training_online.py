"""Online training: Theorem 4.2's gradient by hand, the spike quantizer, stateless Parallel
HD-LIF, and activation memory that does not grow with T."""

from __future__ import annotations

import pytest
import torch

from training.memory import SavedTensorMeter
from training.neurons import HDLIF, ParallelHDLIF
from training.quant import spike_quant


def two_step_neuron(detach: bool) -> HDLIF:
    n = HDLIF(T=2, bits=None, detach=detach)
    with torch.no_grad():
        n.a.zero_()                                          # lambda_0 = lambda_1 = 0.5
        n.b.copy_(torch.logit(torch.tensor([0.5, 0.8])))     # theta_0 = 0.5, theta_1 = 0.8
    return n


def run_two_steps(n: HDLIF):
    x0 = torch.tensor([2.0, 0.3, 1.0], requires_grad=True)
    x1 = torch.tensor([1.0, 1.0, 0.1], requires_grad=True)
    w = torch.tensor([1.0, 2.0, 3.0])                        # L = sum(w * s_1)
    n(x0, 0)
    (w * n(x1, 1)).sum().backward()
    return x0, x1


def test_fire_gradient_is_one_above_threshold_zero_below():
    n = HDLIF(T=1, bits=4, step=0.25)                        # theta_0 = 0.5
    m = torch.tensor([0.2, 0.49, 0.51, 1.0, 9.0], requires_grad=True)
    n(m, 0).backward(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]))
    # ds*/dm = [m > theta]; the quantizer is straight-through (also past its clamp, 9.0)
    assert torch.equal(m.grad, torch.tensor([0.0, 0.0, 3.0, 4.0, 5.0]))


def test_online_gradient_by_hand():
    """Theorem 4.2 with the membrane detached between steps.

    t = 0: m_0 = x_0 = [2, 0.3, 1]; v_0 = min(m_0, 0.5) = [0.5, 0.3, 0.5]
    t = 1: m_1 = 0.5 * v_0 + x_1 = [1.25, 1.15, 0.35]; above theta_1 = 0.8: [1, 1, 0]
    dL/dx_1 = w * [m_1 > theta_1] = [1, 2, 0];  dL/dx_0 = 0 (v_0 detached)
    dL/da_1 = sum(w * [m_1 > theta_1] * v_0) * sigmoid'(a_1) = (0.5 + 0.6) * 0.25 = 0.275
    dL/db_1 = -sum(w * [m_1 > theta_1]) * theta_1 (1 - theta_1) = -3 * 0.16 = -0.48
    dL/da_0 = dL/db_0 = 0: step 0 only reaches the loss through the detached membrane
    """
    n = two_step_neuron(detach=True)
    x0, x1 = run_two_steps(n)
    assert torch.allclose(x1.grad, torch.tensor([1.0, 2.0, 0.0]))
    assert x0.grad is None or torch.all(x0.grad == 0)
    assert torch.allclose(n.a.grad, torch.tensor([0.0, 0.275]))
    assert torch.allclose(n.b.grad, torch.tensor([0.0, -0.48]))


def test_stbp_gradient_by_hand_adds_the_temporal_path():
    """Without the detach the path through v_0 = min(m_0, theta_0) adds, per neuron i above
    theta_1: lambda_1 * w_i * (dv_0/dm_0 = [m_0 < theta_0], dv_0/dtheta_0 = [m_0 > theta_0]).
    dL/dx_0 = [0, 2 * 0.5, 0] = [0, 1, 0];  dL/db_0 = 1 * 0.5 * sigmoid'(0) = 0.125."""
    n = two_step_neuron(detach=False)
    x0, x1 = run_two_steps(n)
    assert torch.allclose(x1.grad, torch.tensor([1.0, 2.0, 0.0]))
    assert torch.allclose(x0.grad, torch.tensor([0.0, 1.0, 0.0]))
    assert torch.allclose(n.a.grad, torch.tensor([0.0, 0.275]))
    assert torch.allclose(n.b.grad, torch.tensor([0.125, -0.48]))


def test_spike_quantizer_on_known_tensors():
    x = torch.tensor([-1.0, 0.2, 0.25, 0.26, 0.74, 0.75, 1.4, 5.0], requires_grad=True)
    y = spike_quant(x, 0.5, 2)                 # codes 0..3, step 0.5
    # x / 0.5 = [-2, 0.4, 0.5, 0.52, 1.48, 1.5, 2.8, 10]: round half to even, clamp to 0..3
    assert torch.equal(y, torch.tensor([0.0, 0.0, 0.0, 0.5, 0.5, 1.0, 1.5, 1.5]))
    g = torch.arange(8.0)
    y.backward(g)
    assert torch.equal(x.grad, g)              # straight-through: the identity, clamp or not


def test_parallel_hdlif_output_does_not_depend_on_earlier_steps():
    torch.manual_seed(0)
    n = ParallelHDLIF(T=4, bits=4, step=0.25)
    with torch.no_grad():
        n.b.copy_(torch.tensor([-1.0, 0.0, 0.5, 1.0]))
    xs = torch.randn(4, 16) * 2
    fresh = [n(xs[t], t) for t in range(4)]
    for history in (torch.zeros(16), torch.full((16,), 50.0), -torch.ones(16)):
        n.reset()
        for t in range(4):
            n(history, t)                      # any earlier input ...
            assert torch.equal(n(xs[t], t), fresh[t])   # ... leaves step t unchanged
        assert n.v is None


def _mlp(T: int):
    from training.models import NetConfig, build_model

    torch.manual_seed(0)
    return build_model(NetConfig(arch="mlp:32,32", in_shape=(1, 8, 8), T=T))


def test_online_step_without_graph_before_t_g_gives_the_same_gradient():
    """train_step runs t < t_g under no_grad; with the membrane detached the gradient is the
    one of the full graph."""
    from training.train import train_step

    x = torch.randint(0, 17, (8, 64))
    y = torch.randint(0, 10, (8,))
    a, b = _mlp(4), _mlp(4)
    for m in (a, b):
        m.set_online(True)
    train_step(a, x, y, mode="online", t_g=3, global_batch=8)
    b.reset()
    cur = b.stem_current(x)
    for t in range(4):
        logits = b.step(cur, t)
    torch.nn.functional.cross_entropy(logits, y).backward()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(pa.grad, pb.grad, atol=1e-7), name


def _peak(T: int, mode: str) -> int:
    from training.train import train_step

    torch.manual_seed(1)
    model = _mlp(T)
    model.set_online(mode == "online")
    x = torch.randint(0, 17, (16, 64))
    y = torch.randint(0, 10, (16,))
    with SavedTensorMeter() as meter:
        train_step(model, x, y, mode=mode, t_g=T - 1 if mode == "online" else None, global_batch=16)
    assert meter.live_bytes == 0               # backward freed everything it saved
    return meter.peak_bytes


def test_online_memory_does_not_grow_with_T_stbp_does():
    online = {T: _peak(T, "online") for T in (1, 8)}
    stbp = {T: _peak(T, "stbp") for T in (1, 8)}
    assert online[1] == stbp[1]
    # t_g = T - 1 (the longest online forward).  The one thing that grows is the [T]-shaped
    # parameters themselves: sigmoid(a), sigmoid(b) save their [T] output, 2 layers x 2 x 4 bytes
    # per step, against ~20 kB of activations per extra step under STBP.
    assert online[8] - online[1] == 7 * 2 * 2 * 4
    assert stbp[8] > 4 * stbp[1]
    assert _peak(8, "online") == online[8]     # deterministic


def test_meter_counts_a_shared_storage_once():
    w = torch.ones(1000, requires_grad=True)
    with SavedTensorMeter() as m:
        y = (w * w).sum()                      # mul saves w twice: one 4000-byte storage
        assert m.peak_bytes == 4000
        y.backward()
    assert m.live_bytes == 0 and m.peak_bytes == 4000


@pytest.mark.parametrize("bad", [0, -1])
def test_train_rejects_a_bad_batch_size(bad):
    from training.train import train

    with pytest.raises(ValueError, match=f"batch_size must be a positive integer, not {bad}"):
        train("unused", batch_size=bad, progress=False)
