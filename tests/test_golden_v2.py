"""Schema hdlif-int/2 in the golden model: conv, pooling, per-channel and per-step parameters,
Parallel neurons, binary and 8-bit weights.  Checked against plain Python loops and torch."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from golden import BundleError, load_bundle, run, save_bundle
from golden.bundle import HDLIFConvLayer, bundle_hash
from golden.executor import conv2d, max_pool
from golden.synthetic import random_bundle, random_images


def _naive_conv(x, w, s, p):
    B, C, H, W = x.shape
    O, _, k, _ = w.shape
    Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    out = np.zeros((B, O, Ho, Wo), np.int64)
    for b in range(B):
        for o in range(O):
            for y in range(Ho):
                for xx in range(Wo):
                    acc = 0
                    for c in range(C):
                        for i in range(k):
                            for j in range(k):
                                yy, xj = y * s + i - p, xx * s + j - p
                                if 0 <= yy < H and 0 <= xj < W:
                                    acc += int(w[o, c, i, j]) * int(x[b, c, yy, xj])
                    out[b, o, y, xx] = acc
    return out


@pytest.mark.parametrize("k,s,p", [(3, 1, 1), (3, 2, 0), (5, 2, 2), (1, 1, 0), (2, 2, 1)])
def test_conv2d_matches_loops_and_torch(k, s, p):
    rng = np.random.default_rng(k * 10 + s + p)
    x = rng.integers(0, 256, size=(2, 3, 7, 6))
    w = rng.integers(-127, 128, size=(4, 3, k, k))
    got = conv2d(x, w, s, p)
    assert np.array_equal(got, _naive_conv(x, w, s, p))
    ref = torch.nn.functional.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                                     stride=s, padding=p).numpy().astype(np.int64)
    assert np.array_equal(got, ref)


def test_max_pool_floor():
    x = np.arange(2 * 3 * 5 * 5).reshape(2, 3, 5, 5) % 7
    got = max_pool(x, 2)
    assert got.shape == (2, 3, 2, 2)
    for y in range(2):
        for xx in range(2):
            assert np.array_equal(got[:, :, y, xx], x[:, :, 2 * y:2 * y + 2, 2 * xx:2 * xx + 2].max(axis=(2, 3)))
    assert max_pool(x, 1) is x


def _reference_run(b, image):
    """One image through plain Python integers, loop by loop: the semantics doc, literally."""
    hd = [l for l in b.layers if l.kind != "readout_fc"]
    v = {l.name: {} for l in hd}
    x0 = [int(p) for p in image]
    stem_acc = None
    scores = []

    def acc_of(layer, x):
        if layer.kind == "hdlif_conv":
            C, H, W = layer.in_shape
            xa = np.array(x, np.int64).reshape(1, C, H, W)
            return _naive_conv(xa, layer.weight, layer.stride, layer.padding).reshape(-1).tolist()
        return [sum(int(wi) * xi for wi, xi in zip(row, x)) for row in layer.weight]

    for t in range(b.T):
        x = x0
        for layer in hd:
            if layer.direct:
                stem_acc = stem_acc or acc_of(layer, x)
                acc = stem_acc
            else:
                acc = acc_of(layer, x)
            per = len(acc) // layer.channels
            codes = []
            for n, a in enumerate(acc):
                o = n // per
                mult = layer.mult[t, o] if layer.mult.ndim == 2 else layer.mult[o]
                bias = layer.bias[t, o] if layer.bias.ndim == 2 else layer.bias[o]
                lam = layer.lambda_t[t, o] if layer.lambda_t.ndim == 2 else layer.lambda_t[t]
                th = layer.theta_t[t, o] if layer.theta_t.ndim == 2 else layer.theta_t[t]
                cur = (a * int(mult) + int(bias)) >> layer.shift
                m = ((int(lam) * v[layer.name].get(n, 0) + (1 << (layer.lambda_frac - 1))) >> layer.lambda_frac) + cur
                s_star = max(m - int(th), 0)
                v[layer.name][n] = min(m, int(th))
                codes.append(min((s_star + (1 << (layer.frac - 1))) >> layer.frac, layer.max_code))
            if layer.kind == "hdlif_conv" and layer.pool == 2:
                O, Ho, Wo = layer.conv_shape
                c = np.array(codes).reshape(O, Ho, Wo)
                codes = max_pool(c[None], 2).reshape(-1).tolist()
            x = codes
        r = b.readout
        scores.append([sum(int(wi) * xi for wi, xi in zip(row, x)) * int(r.mult[c]) + int(r.bias[c])
                       for c, row in enumerate(r.weight)])
    return np.array(scores)


CASES = {
    "conv_ternary": dict(),
    "conv_binary_int8_stem": dict(weights="binary", stem_weights="int8", readout_weights="int8",
                                  input_max=255, layers=(("conv", 3, 3, 2, 1, 1), ("conv", 4, 2, 1, 0, 2), ("fc", 8))),
    "mixed_parallel_per_channel": dict(neuron="mixed", per_channel=True, layers=(("conv", 4, 3, 1, 1, 2), ("fc", 12), ("fc", 6))),
    "membn_step_current": dict(step_current=True, per_channel=True, layers=(("fc", 12), ("fc", 8))),
}


@pytest.mark.parametrize("case", list(CASES))
def test_executor_matches_reference_loops(case, tmp_path):
    b = random_bundle(3, **CASES[case])
    save_bundle(b, tmp_path)
    b = load_bundle(tmp_path)
    x = random_images(b, 6, seed=1)
    res = run(b, x, trace=True)
    for i in range(len(x)):
        assert np.array_equal(res.scores[i], _reference_run(b, x[i])), f"image {i}"
    # the codes are not all zero anywhere: the case exercises the arithmetic
    assert all(c.any() for c in res.codes.values())


def test_chunking_does_not_change_results(tmp_path):
    b = random_bundle(4)
    x = random_images(b, 1100, seed=2)
    whole = run(b, x, trace=True)
    part = run(b, x[700:], trace=True)
    assert np.array_equal(whole.scores[700:], part.scores)
    assert all(np.array_equal(whole.codes[k][700:], part.codes[k]) for k in part.codes)


@pytest.mark.parametrize("case", list(CASES))
def test_widths_hold_on_worst_case_inputs(case, tmp_path):
    b = random_bundle(5, **CASES[case])
    save_bundle(b, tmp_path)
    b = load_bundle(tmp_path)
    rng = np.random.default_rng(0)
    hi = b.input.max_value
    x = np.concatenate([np.zeros((1, b.input.features), np.int64), np.full((1, b.input.features), hi),
                        rng.choice([0, hi], size=(100, b.input.features)), random_images(b, 100, 3)])
    res = run(b, x, trace=True)
    for layer in b.hdlif_layers:
        lo, up = layer.widths["membrane_range"]
        m = res.membranes[layer.name]
        assert lo <= m.min() and m.max() <= up, layer.name
        nbits = layer.widths["membrane_bits"]
        assert -(1 << (nbits - 1)) <= lo and up < (1 << (nbits - 1))
    s_lo, s_hi = b.readout.widths["score_range"]
    assert s_lo <= res.scores.min() and res.scores.max() <= s_hi


def test_conv_bundle_round_trip_is_deterministic(tmp_path):
    b = random_bundle(6, neuron="mixed", per_channel=True)
    h1 = save_bundle(b, tmp_path / "a")
    h2 = save_bundle(load_bundle(tmp_path / "a"), tmp_path / "b")
    assert h1 == h2 == bundle_hash(tmp_path / "b")
    again = load_bundle(tmp_path / "b")
    assert isinstance(again.layers[0], HDLIFConvLayer)
    assert again.layers[0].out_shape == (4, 4, 4)


def _edit(folder, fn_json=None, fn_arrays=None):
    if fn_arrays is not None:
        with np.load(folder / "model.npz") as z:
            arrays = {k: z[k] for k in z.files}
        fn_arrays(arrays)
        np.savez(folder / "model.npz", **arrays)
    doc = json.loads((folder / "model.json").read_text())
    if fn_json is not None:
        fn_json(doc)
    import hashlib
    doc["arrays_sha256"] = hashlib.sha256((folder / "model.npz").read_bytes()).hexdigest()
    (folder / "model.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("edit,message", [
    (dict(fn_json=lambda d: d["layers"][0].update(pool=3)), "field 'pool' must be one of"),
    (dict(fn_json=lambda d: d["layers"][0].update(in_shape=[2, 8, 8])), "field 'in_shape' is [2, 8, 8]"),
    (dict(fn_json=lambda d: d["layers"][0].update(padding=3)), "must be smaller than 'kernel'"),
    (dict(fn_json=lambda d: d["layers"][1].update(weights="binary")), "is binary but holds zeros"),
    (dict(fn_json=lambda d: d["layers"][0].update(neuron="parallel")), "must be all zero for a parallel"),
    (dict(fn_json=lambda d: d["layers"][0].update(neuron="izhikevich")), "field 'neuron' must be one of"),
    (dict(fn_json=lambda d: d["layers"][0].update(neuron="lif")), "'spike.bits' must be 1"),
    (dict(fn_json=lambda d: d["layers"][-1].update(mode="count")), "must be the identity"),
    (dict(fn_json=lambda d: d["layers"][-1].update(mode="vote")), "field 'mode' must be one of"),
    (dict(fn_json=lambda d: d.update(schema="hdlif-int/1")), "re-run the export step"),
    (dict(fn_arrays=lambda a: a.update({"l1.lambda_t": np.zeros((3, 5), np.int64)})), "array 'l1.lambda_t' must have shape"),
    (dict(fn_arrays=lambda a: a.update({"l1.weight": a["l1.weight"] * 2})), "values must lie in [-1, 1]"),
])
def test_loader_names_the_bad_field(tmp_path, edit, message):
    save_bundle(random_bundle(7), tmp_path / "m")
    _edit(tmp_path / "m", **edit)
    with pytest.raises(BundleError) as e:
        load_bundle(tmp_path / "m")
    assert message in str(e.value)


# ---------------------------------------------------------------------------------------------
# LIF / IF neurons (binary spikes) and the spike-count readout

def _lif_bundle(seed, **kw):
    from golden.synthetic import random_bundle
    return random_bundle(seed, spike_bits=1, neuron="lif", T=5, readout="count",
                         layers=(("conv", 3, 3, 1, 1, 2), ("fc", 12), ("fc", 10)), **kw)


@pytest.mark.parametrize("seed", range(4))
def test_lif_layers_follow_the_reference_loop(tmp_path, seed):
    """A plain per-neuron loop (charge, fire at m >= theta, reset to a value or by subtraction)
    against the vectorised executor, and every membrane inside its declared bounds."""
    from golden.bundle import load_bundle, save_bundle
    from golden.executor import charge, requant, run, synapse, _layer_input
    from golden.synthetic import random_images
    save_bundle(_lif_bundle(seed, per_channel=bool(seed % 2)), tmp_path)
    b = load_bundle(tmp_path)
    x = random_images(b, 12, seed)
    r = run(b, x, trace=True)
    for L in b.hdlif_layers:
        assert L.neuron == "lif" and L.reset in ("value", "subtract")
        lo, hi = L.widths["membrane_range"]
        assert lo <= r.membranes[L.name].min() and r.membranes[L.name].max() <= hi
    # replay layer by layer from the traced inputs, neuron by neuron
    prev = None
    for i, L in enumerate(b.hdlif_layers):
        v = None
        for t in range(b.T):
            inp = x if i == 0 else r.codes[prev][:, t]
            cur = requant(L, synapse(L, _layer_input(L, inp)), t).reshape(len(x), -1)
            if v is None:
                v = np.zeros_like(cur)
            th = np.broadcast_to(np.asarray(L.theta_at(t)), (L.channels,))
            ch = (np.arange(cur.shape[1]) // (cur.shape[1] // L.channels))
            shape = (len(x),) + (tuple(L.conv_shape) if L.kind == "hdlif_conv" else (-1,))
            m = charge(L, v.reshape(shape), cur.reshape(shape), t).reshape(len(x), -1)
            assert np.array_equal(m, r.membranes[L.name][:, t])
            spike = np.zeros_like(m)
            for n in range(m.shape[1]):
                for k in range(len(x)):
                    if m[k, n] >= th[ch[n]]:
                        spike[k, n] = 1
                        v[k, n] = m[k, n] - th[ch[n]] if L.reset == "subtract" else L.v_reset
                    else:
                        v[k, n] = m[k, n]
            if L.kind == "hdlif_conv" and L.pool == 2:
                O, H, W = L.conv_shape
                spike = spike.reshape(len(x), O, H // 2, 2, W // 2, 2).max(axis=(3, 5)).reshape(len(x), -1)
            assert np.array_equal(spike, r.codes[L.name][:, t]), (L.name, t)
        prev = L.name
    # the count readout: the class is the last layer's neuron with the most spikes (lowest on a tie)
    counts = r.codes[b.hdlif_layers[-1].name].sum(axis=1)
    assert np.array_equal(r.classes, np.argmax(counts, axis=1))


def test_if_neuron_integrates_without_loss():
    """IF is LIF with lambda_t = 2**lambda_frac: the rounded leak is exactly v."""
    from golden.executor import charge
    b = _lif_bundle(0)
    L = b.hdlif_layers[1]
    import dataclasses
    L = dataclasses.replace(L, lambda_t=np.full(b.T, 2 ** L.lambda_frac, np.int64))
    v = np.arange(-300, 300).reshape(1, -1)
    assert np.array_equal(charge(L, v, np.zeros_like(v), 0), v)


def test_lif_needs_binary_spikes():
    from golden.synthetic import random_bundle
    with pytest.raises(ValueError, match="spike_bits=1"):
        random_bundle(0, spike_bits=4, neuron="lif")
