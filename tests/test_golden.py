"""The golden model and its bundle: hand-checked arithmetic, widths, loader robustness."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from golden import BundleError, load_bundle, run, save_bundle
from golden.bounds import signed_bits
from golden.bundle import HDLIFLayer, bundle_hash
from golden.executor import hdlif_step, requant


def _layer(**kw):
    base = dict(name="l", in_features=2, out_features=1, weight=np.array([[1, -1]], np.int8),
                mult=np.array([1]), bias=np.array([0]), shift=0, lambda_t=np.array([2048, 2048]),
                theta_t=np.array([256, 256]), lambda_frac=12, frac=8, max_code=15, direct=True)
    base.update(kw)
    return HDLIFLayer(**base)


def test_hdlif_step_hand_checked():
    # theta = 256 (= 1.0 in units of step/2**8 with step 1/4 -> theta is 4 spike LSBs... here
    # simply 256 membrane units); lambda = 0.5.
    layer = _layer()
    v = np.array([0])
    code, m, v = hdlif_step(layer, v, np.array([1000]), 0)
    # m = 1000, s* = 744 -> (744 + 128) >> 8 = 3, v = 256 (P2-reset lands on theta)
    assert (m[0], code[0], v[0]) == (1000, 3, 256)
    code, m, v = hdlif_step(layer, v, np.array([-10]), 1)
    # m = round(0.5 * 256) - 10 = 118 < theta: no spike, v = m
    assert (m[0], code[0], v[0]) == (118, 0, 118)


def test_fire_rounds_half_up_and_saturates():
    layer = _layer()
    # s* = 128 -> exactly half an LSB -> rounds up to 1; s* = 127 -> 0
    assert hdlif_step(layer, np.array([0]), np.array([256 + 128]), 0)[0][0] == 1
    assert hdlif_step(layer, np.array([0]), np.array([256 + 127]), 0)[0][0] == 0
    # far above threshold: the code saturates at max_code
    assert hdlif_step(layer, np.array([0]), np.array([10 ** 6]), 0)[0][0] == 15


def test_requant_floor_shift():
    layer = _layer(mult=np.array([3]), bias=np.array([2]), shift=2)
    # (acc * 3 + 2) >> 2, floor for negatives
    assert requant(layer, np.array([[5]]))[0, 0] == (5 * 3 + 2) >> 2 == 4
    assert requant(layer, np.array([[-5]]))[0, 0] == -4  # floor(-13 / 4)


def test_signed_bits():
    assert signed_bits(0, 0) == 1
    assert signed_bits(-1, 0) == 1
    assert signed_bits(0, 1) == 2
    assert signed_bits(-128, 127) == 8
    assert signed_bits(-129, 127) == 9


def test_widths_hold_for_worst_case_inputs(digits_bundle):
    """Every intermediate of the golden model stays inside the declared widths, also for
    adversarial images (all-max, all-zero, random extremes)."""
    b = digits_bundle
    rng = np.random.default_rng(0)
    x = np.concatenate([np.full((1, 64), b.input.max_value), np.zeros((1, 64), np.int64),
                        rng.choice([0, b.input.max_value], size=(200, 64)),
                        rng.integers(0, b.input.max_value + 1, size=(200, 64))])
    r = run(b, x, trace=True)
    for layer in b.hdlif_layers:
        lo, hi = layer.widths["membrane_range"]
        mem = r.membranes[layer.name]
        assert lo <= mem.min() and mem.max() <= hi
        bits = layer.widths["membrane_bits"]
        assert -(2 ** (bits - 1)) <= mem.min() and mem.max() < 2 ** (bits - 1)
    sb = b.readout.widths["score_bits"]
    assert np.abs(r.scores).max() < 2 ** (sb - 1)


def test_save_is_deterministic(digits_run, tmp_path):
    b = load_bundle(digits_run["dir"] / "model")
    save_bundle(b, tmp_path / "a")
    save_bundle(b, tmp_path / "b")
    assert (tmp_path / "a" / "model.npz").read_bytes() == (tmp_path / "b" / "model.npz").read_bytes()
    assert bundle_hash(tmp_path / "a") == bundle_hash(tmp_path / "b")
    again = load_bundle(tmp_path / "a")
    x = np.random.default_rng(1).integers(0, 17, size=(50, 64))
    assert np.array_equal(run(b, x).scores, run(again, x).scores)


@pytest.fixture
def bundle_copy(digits_run, tmp_path):
    dst = tmp_path / "model"
    shutil.copytree(digits_run["dir"] / "model", dst)
    return dst


def _edit_json(path, fn):
    doc = json.loads((path / "model.json").read_text())
    fn(doc)
    (path / "model.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("edit, needle", [
    (lambda d: d.update(T="four"), "'T' must be an integer"),
    (lambda d: d.update(schema="other/9"), "'schema'"),
    (lambda d: d["layers"][0].update(kind="conv9"), "'kind'"),
    (lambda d: d["layers"][0].update(in_features=63), "'in_features'"),
    (lambda d: d["layers"][0]["widths"].update(membrane_bits=4), "'membrane_bits'"),
    (lambda d: d["layers"][0].update(max_code=7), "'max_code'"),
    (lambda d: d["layers"][1].update(name="fc9"), "missing array 'fc9.weight'"),
])
def test_hand_edited_json_names_the_field(bundle_copy, edit, needle):
    _edit_json(bundle_copy, edit)
    with pytest.raises(BundleError) as e:
        load_bundle(bundle_copy)
    assert needle in str(e.value) and "model." in str(e.value)


def test_corrupt_npz_is_rejected(bundle_copy):
    data = bytearray((bundle_copy / "model.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bundle_copy / "model.npz").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model.npz.*arrays_sha256"):
        load_bundle(bundle_copy)


def test_out_of_range_weight_is_rejected(bundle_copy):
    b = load_bundle(bundle_copy)
    w = b.layers[0].weight.copy()
    w[0, 0] = 2
    bad = replace(b, layers=(replace(b.layers[0], weight=w),) + b.layers[1:])
    with pytest.raises(BundleError, match=r"fc1.weight.*\[-1, 1\]"):
        save_bundle(bad, bundle_copy)
        load_bundle(bundle_copy)


def test_missing_files(tmp_path):
    with pytest.raises(BundleError, match="no such model folder"):
        load_bundle(tmp_path / "nope")
    (tmp_path / "m").mkdir()
    with pytest.raises(BundleError, match="model.json: missing"):
        load_bundle(tmp_path / "m")


def test_run_rejects_bad_images(digits_bundle):
    with pytest.raises(ValueError, match="shape"):
        run(digits_bundle, np.zeros((3, 10)))
    with pytest.raises(ValueError, match="pixel values"):
        run(digits_bundle, np.full((1, 64), 99))
