"""Export: every folding (BatchNorm, weight scales, Mem-BN, Parallel, pooling, binary and 8-bit
weights) reproduces the float network's layers in integers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from golden import load_bundle, run, save_bundle
from golden.executor import requant, synapse
from training.export import ExportError, to_bundle
from training.models import NetConfig, build_model
from training.neurons import MemBNHDLIF

CONFIGS = {
    "mlp_hdlif": dict(arch="mlp:48,32"),
    "vgg_parallel_int8": dict(arch="vgg:6,p,8,p", parallel_ratio=0.5, stem_weights="int8", classifier_weights="int8"),
    "vgg_fc_binary": dict(arch="vgg:6,p,fc24", weights="binary"),
    "mlp_membn": dict(arch="mlp:40,24", neuron="membn"),
    "vgg_membn_first_theta": dict(arch="vgg:6,p,8", neuron="membn", parallel_ratio=0.5, theta_index="first"),
    # the LIF baseline: binary spikes worth theta, soft reset -> LIF layers, reset by subtraction
    "mlp_lif": dict(arch="mlp:48,32", neuron="lif"),
    "vgg_lif_int8": dict(arch="vgg:6,p,8,p", neuron="lif", stem_weights="int8", classifier_weights="int8"),
}


def _randomised(cfg_kw, seed=0):
    """A network in eval mode with non-trivial BatchNorm statistics and neuron parameters."""
    torch.manual_seed(seed)
    cfg = NetConfig(in_shape=(1, 8, 8), input_max=16, input_scale=1 / 16, T=3, **cfg_kw)
    model = build_model(cfg)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                mod.running_mean.uniform_(-0.3, 0.3)
                mod.running_var.uniform_(0.2, 1.5)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.4)
            if isinstance(mod, MemBNHDLIF):
                mod.p.uniform_(-1, 1)
                mod.q.uniform_(-1, 1)
        for n in model.neurons:
            if hasattr(n, "a"):
                n.a.uniform_(-1, 2)
                n.b.uniform_(-1, 1)
            if hasattr(n, "v_th"):                       # LIF: theta = sigmoid(v_th) + 0.5
                n.v_th.uniform_(-2, 2)
    model.eval()
    return model


def _float_codes(model, pixels):
    """The float network's spike codes per layer and step: ``spikes / step`` (a LIF spike is
    worth its threshold)."""
    cfg = model.cfg
    out = {i: [] for i in range(len(model.blocks))}
    step = [float(b.neuron.theta) if hasattr(b.neuron, "v_th") else cfg.spike_step for b in model.blocks]
    with torch.no_grad():
        model.reset()
        cur = model.stem_current(torch.from_numpy(pixels))
        logits = []
        for t in range(cfg.T):
            s = model.blocks[0].fire(cur, t)
            out[0].append(s.flatten(1) / step[0])
            for i, block in enumerate(model.blocks[1:], 1):
                s = block.fire(block.current(s), t)
                out[i].append(s.flatten(1) / step[i])
            logits.append(model.classifier(s.flatten(1)))
    codes = {i: torch.stack(v, 1).round().long().numpy() for i, v in out.items()}
    return codes, torch.stack(logits, 1).numpy()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_exported_layers_match_the_float_network(name, tmp_path):
    model = _randomised(CONFIGS[name])
    save_bundle(to_bundle(model, name), tmp_path)
    bundle = load_bundle(tmp_path)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 17, size=(200, 64))
    res = run(bundle, pixels, trace=True)
    f_codes, f_logits = _float_codes(model, pixels)
    for i, layer in enumerate(bundle.hdlif_layers):
        g = res.codes[layer.name]
        assert g.shape == f_codes[i].shape
        same = (g == f_codes[i]).mean()
        # rounding of folded parameters may move a code by one at a boundary, rarely
        assert same >= 0.99, f"{name} layer {layer.name}: only {same:.4f} of the codes agree"
        assert g.any(), f"{name} layer {layer.name}: no spikes at all, the test would prove nothing"
    agree = (res.classes == f_logits.sum(1).argmax(1)).mean()
    assert agree >= 0.97, f"{name}: golden and float classes agree on only {agree:.3f}"


def test_stem_current_folding_is_within_rounding(tmp_path):
    """BatchNorm, the TWN / 8-bit scales and the input scale fold into mult / bias / shift: the
    integer current times the membrane unit equals the float current to within one unit."""
    for kw in (dict(arch="mlp:32"), dict(arch="vgg:4,p", stem_weights="int8"), dict(arch="mlp:32", stem_weights="binary")):
        model = _randomised(kw, seed=3)
        b = to_bundle(model, "m")
        stem = b.layers[0]
        pixels = np.random.default_rng(1).integers(0, 17, size=(50, 64))
        x = pixels.reshape((50,) + stem.in_shape) if stem.kind == "hdlif_conv" else pixels
        i_int = requant(stem, synapse(stem, x)).reshape(50, -1)
        with torch.no_grad():
            i_float = model.stem_current(torch.from_numpy(pixels)).flatten(1).double().numpy()
        u = model.cfg.spike_step / 2 ** stem.frac
        err = np.abs(i_int * u - i_float).max()
        assert err <= 1.01 * u, f"{kw}: folded current off by {err / u:.2f} membrane units"


def test_membn_export_uses_the_reparameterisation(tmp_path):
    model = _randomised(dict(arch="mlp:16", neuron="membn"))
    b = to_bundle(model, "m")
    stem = b.layers[0]
    assert stem.mult.shape == (3, 16) and stem.lambda_t.shape == (3, 16)
    assert stem.neuron == "vanilla"


def test_parallel_layers_export_as_stateless(tmp_path):
    model = _randomised(dict(arch="mlp:16,16", parallel_ratio=0.5))
    b = to_bundle(model, "m")
    assert [l.neuron for l in b.hdlif_layers] == ["vanilla", "parallel"]
    assert not b.hdlif_layers[1].lambda_t.any()


def test_lif_baseline_exports_as_lif_layers_with_binary_spikes():
    model = _randomised(dict(arch="mlp:16,16", neuron="lif"))
    b = to_bundle(model, "m")
    assert b.spike_bits == 1 and b.max_code == 1
    for layer, n in zip(b.hdlif_layers, model.neurons):
        assert layer.neuron == "lif" and layer.reset == "subtract" and layer.max_code == 1
        assert (layer.theta_t == 2 ** layer.frac).all()                  # the unit is theta / 2**frac
        assert (layer.lambda_t == round(n.lam * 2 ** layer.lambda_frac)).all()


def test_unsupported_parts_are_refused_by_name():
    with pytest.raises(ExportError, match="only SpikingNet"):
        to_bundle(torch.nn.Linear(2, 2), "m")


# ---------------------------------------------------------------------------------------------
# What has no integer form is refused by name, and an export that is refused writes nothing


def test_resnet_is_a_graph_and_seca_outside_one_is_refused_by_name():
    from training.resnet import ResNetConfig
    from training.seca import SECA_I

    torch.manual_seed(0)
    for seca in ("none", "I", "II"):
        resnet = build_model(ResNetConfig(arch="resnet:4,8", in_shape=(1, 8, 8), T=2, seca=seca))
        with pytest.raises(ExportError, match="SpikingResNet: a bundle holds a chain of layers .* a residual network "
                                              "is an integer graph"):
            to_bundle(resnet, "m")
    # a SECA on a plain block is refused with the layer's name
    model = _randomised(dict(arch="vgg:4,p,8"))
    model.blocks[1].seca = SECA_I(8)
    with pytest.raises(ExportError, match=r"layer conv2: SECA \(sigmoid of a global average\) is not in the "
                                          r"integer model"):
        to_bundle(model, "m")


@pytest.mark.parametrize("kw, message", [
    (dict(arch="resnet:4,8", seca="II", spike_bits=None), "float spikes have no integer form"),
    (dict(arch="resnet:4", weights="full"), "full-precision weights have no integer form"),
    (dict(arch="vgg:4,p", spike_bits=None), "float spikes have no integer form"),
], ids=["resnet_float_spikes", "resnet_full_weights", "vgg_float_spikes"])
def test_a_refused_export_leaves_no_bundle(kw, message, tmp_path):
    from training.export import export
    from training.train import train

    run = tmp_path / "run"
    train(run, T=2, epochs=1, batch_size=32, limit=64, progress=False, device="cpu", **kw)
    before = sorted(p.name for p in run.iterdir())
    with pytest.raises(ExportError, match=message):
        export(run)
    assert not (run / "model").exists() and not (run / "vectors.npz").exists() and not (run / "export.json").exists()
    assert sorted(p.name for p in run.iterdir()) == before
