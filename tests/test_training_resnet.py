"""The spiking ResNet: structure, residual add of currents, SECA variants, training through train()."""

from __future__ import annotations

import pytest
import torch

from training.models import build_model
from training.neurons import HDLIF, ParallelHDLIF
from training.resnet import ResNetConfig, SpikingResNet, parse_resnet


def cfg(**kw) -> ResNetConfig:
    return ResNetConfig(**{"arch": "resnet:4,8", "in_shape": (1, 8, 8), "T": 3, **kw})


def test_parse_resnet_and_its_errors():
    assert parse_resnet("resnet:16,32x2,64") == [("stage", 16, 1), ("stage", 32, 2), ("stage", 64, 1)]
    with pytest.raises(ValueError, match=r"architecture 'resnet:16,p': cannot read 'p'"):
        ResNetConfig(arch="resnet:16,p")
    with pytest.raises(ValueError, match="ResNetConfig.seca must be one of none, I, II, not 'III'"):
        cfg(seca="III")


def test_build_model_dispatches_and_the_interface_holds():
    torch.manual_seed(0)
    m = build_model(cfg())
    assert isinstance(m, SpikingResNet) and len(m.blocks) == 2 and len(m.neurons) == 5
    assert m.blocks[0].shortcut is None and m.blocks[1].shortcut is not None      # 4 -> 8, stride 2
    pixels = torch.randint(0, 17, (5, 64))
    out = m(pixels)
    assert out.shape == (3, 5, 10)
    m.reset()
    cur = m.stem_current(pixels)
    assert cur.shape == (5, 4, 8, 8)
    assert torch.allclose(torch.stack([m.step(cur, t) for t in range(3)]), out)


def test_identity_block_adds_its_current_to_the_incoming_current():
    torch.manual_seed(0)
    m = build_model(cfg(arch="resnet:4x2"))
    m.eval()
    b = m.blocks[1]                                   # 4 -> 4, stride 1: identity shortcut
    x = torch.randn(2, 4, 8, 8)
    b.neuron1.reset(); b.neuron2.reset()
    out = b(x, 0)
    b.neuron1.reset(); b.neuron2.reset()
    branch = b.bn2(b.conv2(b.neuron2(b.bn1(b.conv1(b.neuron1(x, 0))), 0)))
    assert torch.allclose(out, x + branch)            # currents are added, not spikes


@pytest.mark.parametrize("seca", ["I", "II"])
def test_seca_variants_build_and_backpropagate(seca):
    torch.manual_seed(0)
    m = build_model(cfg(seca=seca))
    m.set_online(True)
    m.reset()
    cur = m.stem_current(torch.randint(0, 17, (4, 64)))
    m.step(cur, 0).sum().backward()
    convs = [b.seca2.conv.weight for b in m.blocks]
    assert all(w.grad is not None for w in convs)
    assert (m.blocks[0].seca1 is not None) == (seca == "I")


def test_parallel_ratio_half_makes_every_second_neuron_of_a_block_parallel():
    m = build_model(cfg(parallel_ratio=0.5))
    kinds = [type(n) for n in m.neurons]
    assert kinds == [HDLIF, ParallelHDLIF, HDLIF, ParallelHDLIF, HDLIF]


def test_resnet_trains_through_train_and_reloads(tmp_path):
    from training.train import load_checkpoint, train

    m = train(tmp_path / "r", arch="resnet:4,8", T=2, epochs=1, batch_size=32, limit=64, seca="II",
              progress=False, device="cpu")
    assert m["arch"] == "resnet:4,8" and m["net"]["seca"] == "II" and len(m["epochs"]) == 1
    model, _ = load_checkpoint(tmp_path / "r")
    assert isinstance(model, SpikingResNet) and model.cfg.seca == "II"
    with pytest.raises(ValueError, match="SECA is wired into resnet blocks only"):
        train(tmp_path / "v", arch="mlp:8", seca="I", epochs=1, progress=False)
