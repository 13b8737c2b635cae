"""CIFAR-10 / CIFAR-100: both distribution formats on tiny files written here in the exact byte
layout (binary records; Python 2 pickles of a dict with byte keys and a numpy uint8 array), the
restricted unpickler, malformed files refused in one line, and one run through the whole flow
(train -> export -> eval -> vectors -> rtl) on 3x32x32 images."""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import struct

import numpy as np
import pytest

from training import data
from training.data import DatasetError, load

PIXELS = 3 * 32 * 32
CIFAR10_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


# --- writers: the distribution's own layouts ------------------------------------------------------

class Py2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle wrote the original batches (protocol 2): every ``str`` and
    ``bytes`` is a byte string (SHORT_BINSTRING / BINSTRING), so Python 3 reads them back as
    ``bytes`` with ``encoding="bytes"``; numpy's reconstruction is named ``numpy.core.multiarray``."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_string8(self, obj):
        raw = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)

    dispatch[bytes] = save_string8
    dispatch[str] = save_string8


def py2_pickle(obj) -> bytes:
    f = io.BytesIO()
    Py2Pickler(f, protocol=2).dump(obj)
    return f.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def images(rng, n):
    return rng.integers(0, 256, (n, PIXELS), dtype=np.uint8)


def write_cifar10(folder, *, fmt="binary", n_train=20, n_test=10, seed=0, py3=False):
    """``cifar-10-batches-bin/`` or ``cifar-10-batches-py/`` under ``folder`` with ``n_train``
    images over the five training batches; returns the batches folder and the arrays written."""
    rng = np.random.default_rng(seed)
    x_tr, y_tr = images(rng, n_train), rng.integers(0, 10, n_train)
    x_te, y_te = images(rng, n_test), rng.integers(0, 10, n_test)
    y_tr[0], y_te[0] = 9, 9                                 # every class count is 10
    d = folder / ("cifar-10-batches-bin" if fmt == "binary" else "cifar-10-batches-py")
    d.mkdir(parents=True, exist_ok=True)
    chunks = np.array_split(np.arange(n_train), 5)
    files = [(stem, x_tr[c], y_tr[c]) for stem, c in zip(CIFAR10_TRAIN, chunks)] + [("test_batch", x_te, y_te)]
    for stem, x, y in files:
        if fmt == "binary":
            (d / f"{stem}.bin").write_bytes(np.concatenate([y[:, None].astype(np.uint8), x], axis=1).tobytes())
        else:
            batch = {b"batch_label": b"training batch", b"labels": [int(v) for v in y], b"data": x,
                     b"filenames": [b"img_%d.png" % i for i in range(len(y))]}
            (d / stem).write_bytes(pickle.dumps(batch, protocol=2) if py3 else py2_pickle(batch))
    return d, (x_tr, y_tr, x_te, y_te)


def write_cifar100(folder, *, fmt="binary", n_train=20, n_test=10, seed=1):
    rng = np.random.default_rng(seed)
    x_tr, fine_tr, coarse_tr = images(rng, n_train), rng.integers(0, 100, n_train), rng.integers(0, 20, n_train)
    x_te, fine_te, coarse_te = images(rng, n_test), rng.integers(0, 100, n_test), rng.integers(0, 20, n_test)
    fine_tr[0] = 99
    d = folder / ("cifar-100-binary" if fmt == "binary" else "cifar-100-python")
    d.mkdir(parents=True, exist_ok=True)
    for stem, x, fine, coarse in (("train", x_tr, fine_tr, coarse_tr), ("test", x_te, fine_te, coarse_te)):
        if fmt == "binary":
            labels = np.stack([coarse, fine], axis=1).astype(np.uint8)
            (d / f"{stem}.bin").write_bytes(np.concatenate([labels, x], axis=1).tobytes())
        else:
            batch = {b"filenames": [b"f%d.png" % i for i in range(len(x))], b"batch_label": b"training batch",
                     b"fine_labels": [int(v) for v in fine], b"coarse_labels": [int(v) for v in coarse], b"data": x}
            (d / stem).write_bytes(py2_pickle(batch))
    return d, (x_tr, fine_tr, x_te, fine_te)


# --- loading --------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["binary", "python"])
@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_both_versions_round_trip_exactly(tmp_path, name, fmt):
    writer = write_cifar10 if name == "cifar10" else write_cifar100
    batches, (x_tr, y_tr, x_te, y_te) = writer(tmp_path, fmt=fmt)
    for where in (batches, tmp_path):                       # the batches folder or its parent
        s = load(name, data_dir=where)
        assert s.name == name and s.shape == (3, 32, 32) and s.input_max == 255 and s.features == 3072
        assert s.x_train.dtype == np.uint8 and s.x_train.shape == (20, 3072) and s.x_test.shape == (10, 3072)
        assert np.array_equal(s.x_train, x_tr) and np.array_equal(s.x_test, x_te)
        assert s.y_train.dtype == np.int64 and np.array_equal(s.y_train, y_tr) and np.array_equal(s.y_test, y_te)
        assert s.classes == (10 if name == "cifar10" else 100)
        assert data.folder(name, where) == batches.resolve()


def test_pixels_are_r_g_b_planes_row_major(tmp_path):
    """Record byte 1 + c*1024 + r*32 + col is channel c, row r, column col: C, H, W as the flow wants."""
    batches, (x_tr, *_) = write_cifar10(tmp_path)
    s = load("cifar-10", data_dir=batches)                  # the alias
    img = s.x_train[3].reshape(3, 32, 32)
    raw = (batches / "data_batch_1.bin").read_bytes()
    rec = raw[3 * 3073:4 * 3073]
    assert img[1, 5, 7] == rec[1 + 1 * 1024 + 5 * 32 + 7] and img[2, 31, 0] == rec[1 + 2 * 1024 + 31 * 32]


def test_python3_pickles_are_read_too(tmp_path):
    """A batch pickled again by Python 3 (protocol 2 keeps bytes as _codecs.encode(str, 'latin1'))."""
    batches, (x_tr, y_tr, x_te, y_te) = write_cifar10(tmp_path, fmt="python", py3=True)
    s = load("cifar10", data_dir=batches)
    assert np.array_equal(s.x_train, x_tr) and np.array_equal(s.y_test, y_te)


def test_binary_version_is_taken_when_both_are_there(tmp_path):
    write_cifar10(tmp_path, fmt="python", seed=5)
    batches, (x_tr, *_) = write_cifar10(tmp_path, fmt="binary", seed=6)
    assert data.find_cifar("cifar10", tmp_path) == ("binary", batches)
    assert np.array_equal(load("cifar10", tmp_path).x_train, x_tr)


def test_cifar_split_flip_and_crop():
    assert "50,000" in data.split_description("cifar10") and "test_batch" in data.split_description("cifar-10")
    assert "fine labels (100 classes)" in data.split_description("cifar100")
    assert data.FLIP_BY_DEFAULT["cifar10"] and data.FLIP_BY_DEFAULT["cifar100"]
    assert data.IMAGE_SIDE["cifar100"] == 32 and data.default_crop_pad(32) == 4
    x = np.arange(2 * PIXELS).reshape(2, PIXELS).astype(np.uint8)
    a = data.augment(x, (3, 32, 32), np.random.default_rng(0), pad=4, flip=True)
    assert a.shape == x.shape and a.dtype == np.uint8


# --- refusals: one line naming the file -----------------------------------------------------------

class Boom:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def one_line(excinfo, *needles):
    msg = str(excinfo.value)
    assert "\n" not in msg, msg
    for needle in needles:
        assert needle in msg, msg


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_forbidden_global_is_refused_and_nothing_runs(tmp_path, protocol):
    batches, _ = write_cifar10(tmp_path, fmt="python")
    marker = tmp_path / "pwned"
    bad = {b"data": np.zeros((2, PIXELS), np.uint8), b"labels": [0, 1], b"x": Boom(marker)}
    (batches / "data_batch_3").write_bytes(pickle.dumps(bad, protocol=protocol))
    with pytest.raises(DatasetError) as e:
        load("cifar10", tmp_path)
    one_line(e, "data_batch_3", "refused", "system")
    assert not marker.exists()


def test_other_smuggled_callables_are_refused(tmp_path):
    """builtins.eval by GLOBAL, and _codecs.encode with another codec."""
    p = tmp_path / "test_batch"
    p.write_bytes(b"\x80\x02cbuiltins\neval\nX\x06\x00\x00\x001 + 1\x85R.")
    with pytest.raises(DatasetError) as e:
        data.read_cifar_pickle(p)
    one_line(e, "test_batch: refused", "builtins.eval")
    p.write_bytes(b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x06\x00\x00\x00base64\x86R.")
    with pytest.raises(DatasetError) as e:
        data.read_cifar_pickle(p)
    one_line(e, "test_batch: not a readable CIFAR batch pickle", "latin-1")


def test_malformed_binary_files(tmp_path):
    batches, _ = write_cifar10(tmp_path)
    p = batches / "data_batch_2.bin"
    p.write_bytes(p.read_bytes()[:-1])                      # truncated
    with pytest.raises(DatasetError) as e:
        load("cifar10", batches)
    one_line(e, "data_batch_2.bin: wrong size", "3073-byte records")
    p.write_bytes(b"")
    with pytest.raises(DatasetError) as e:
        load("cifar10", batches)
    one_line(e, "data_batch_2.bin: wrong size: 0 bytes")
    rec = bytearray(3073 * 2)
    rec[3073] = 10                                          # second record, label 10
    p.write_bytes(bytes(rec))
    with pytest.raises(DatasetError) as e:
        load("cifar10", batches)
    one_line(e, "data_batch_2.bin: record 1: label 10 out of range 0..9")
    # CIFAR-100 records are 3074 bytes: a CIFAR-10 file there does not divide
    b100, _ = write_cifar100(tmp_path)
    (b100 / "test.bin").write_bytes(bytes(3073 * 2))
    with pytest.raises(DatasetError) as e:
        load("cifar100", tmp_path)
    one_line(e, "test.bin: wrong size: 6146 bytes", "3074-byte records (2 label bytes")
    (b100 / "test.bin").write_bytes(bytes([3, 100]) + bytes(3072))
    with pytest.raises(DatasetError) as e:
        load("cifar100", tmp_path)
    one_line(e, "test.bin: record 0: label 100 out of range 0..99")


def test_malformed_pickles(tmp_path):
    batches, _ = write_cifar10(tmp_path, fmt="python")
    p = batches / "test_batch"
    good = p.read_bytes()
    p.write_bytes(good[:len(good) // 2])                    # truncated
    with pytest.raises(DatasetError) as e:
        load("cifar10", batches)
    one_line(e, "test_batch: not a readable CIFAR batch pickle")
    for batch, needles in (
            ({b"data": np.zeros((3, PIXELS), np.uint8), b"labels": [0, 1]}, ("wrong count: 2 labels", "3 images")),
            ({b"data": np.zeros((2, PIXELS), np.uint8), b"labels": [0, 10]}, ("image 1: label 10 out of range",)),
            ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, ("uint8 array", "float32")),
            ({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}, ("uint8 array [N, 3072]", "2x1024")),
            ({b"labels": [0, 1]}, ("no b'data' entry",)),
            ([1, 2], ("holds a list, not a dict",))):
        p.write_bytes(py2_pickle(batch))
        with pytest.raises(DatasetError) as e:
            load("cifar10", batches)
        one_line(e, "test_batch", *needles)


def test_missing_files_and_folders(tmp_path, monkeypatch):
    batches, _ = write_cifar10(tmp_path)
    (batches / "data_batch_4.bin").unlink()
    with pytest.raises(DatasetError) as e:
        load("cifar10", tmp_path)
    one_line(e, "data_batch_4.bin: missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError) as e:
        load("cifar100", empty)
    one_line(e, "empty: no CIFAR-100 files", "cifar-100-binary/ (train.bin, test.bin)",
             "cifar-100-python/ (train, test)", "DATA_DIR=")
    (empty / "cifar-10-python.tar.gz").write_bytes(b"")
    with pytest.raises(DatasetError) as e:
        load("cifar10", empty)
    one_line(e, "data_batch_1..5.bin, test_batch.bin", "unpack", "cifar-10-python.tar.gz")
    with pytest.raises(DatasetError) as e:
        load("cifar10", tmp_path / "nowhere")
    one_line(e, "nowhere: no such data folder for dataset 'cifar10'")
    monkeypatch.setitem(data.DEFAULT_DIRS, "cifar10", (str(tmp_path / "nowhere"),))
    with pytest.raises(DatasetError) as e:
        load("cifar10")
    one_line(e, "dataset 'cifar10': no data folder given", "DATA_DIR=", "cifar-10-batches-bin/")
    monkeypatch.setitem(data.DEFAULT_DIRS, "cifar10", (str(tmp_path / "nowhere"), str(tmp_path)))
    (batches / "data_batch_4.bin").write_bytes(bytes(3073))
    assert load("cifar10").x_train.shape == (17, 3072)     # found in the default folders


# --- the whole flow on 3x32x32 images -------------------------------------------------------------

def test_cifar10_through_the_flow(tmp_path, capsys):
    from flow.__main__ import main
    from golden import load_bundle
    from golden.vectors import load_vectors

    batches, (x_tr, y_tr, x_te, y_te) = write_cifar10(tmp_path / "data")
    run = tmp_path / "c10"
    rc = main(["train", str(run), "--dataset", "cifar-10", "--data-dir", str(tmp_path / "data"), "--arch", "vgg:4,p",
               "--T", "2", "--epochs", "1", "--batch-size", "10", "--augment"])
    assert rc == 0, capsys.readouterr().err
    config = json.loads((run / "config.json").read_text())
    assert config["dataset"] == "cifar10" and config["in_shape"] == [3, 32, 32]
    assert config["data_dir"] == str(batches.resolve()) and config["classes"] == 10
    assert main(["export", str(run)]) == 0
    bundle = load_bundle(run / "model")
    assert list(bundle.input.shape) == [3, 32, 32] and bundle.input.max_value == 255
    assert "50,000" in bundle.meta["split"]
    assert main(["eval", str(run)]) == 0
    ev = json.loads((run / "eval.json").read_text())
    assert ev["dataset"] == "cifar10" and ev["images"] == 10
    assert main(["vectors", str(run), "--n", "4"]) == 0
    vec = load_vectors(run / "vectors.npz", run / "model")
    assert np.array_equal(vec["images"], x_te[:4]) and np.array_equal(vec["labels"], y_te[:4])
    from flow.paths import build_dir

    try:
        assert main(["rtl", str(run)]) == 0, capsys.readouterr().err
        assert any((build_dir(str(run)) / "rtl").glob("*.v"))
    finally:
        shutil.rmtree(build_dir(str(run)), ignore_errors=True)


def test_another_data_set_is_checked_against_the_runs_channels(tmp_path):
    """``make eval DATASET=`` with another data set: CIFAR's images are 3x32x32, so a 3-channel run
    takes CIFAR-10 or CIFAR-100 and refuses MNIST, and a 1-channel run refuses CIFAR."""
    from golden.synthetic import random_bundle
    from training.export import _check_input

    rgb = random_bundle(0, input_shape=(3, 32, 32), input_max=255, layers=(("conv", 2, 3, 2, 1, 2),), T=1)
    for name in ("cifar10", "cifar100"):
        _check_input(tmp_path, rgb, name)
    with pytest.raises(ValueError, match="DATASET=mnist: its images are 1x28x28"):
        _check_input(tmp_path, rgb, "mnist")
    grey = random_bundle(0, input_shape=(1, 32, 32), input_max=255, layers=(("conv", 2, 3, 2, 1, 2),), T=1)
    with pytest.raises(ValueError, match="DATASET=cifar10: its images are 3x32x32"):
        _check_input(tmp_path, grey, "cifar10")


def test_a_cifar10_resnet_with_seca_through_export_eval_vectors_hls_and_rtl(tmp_path, capsys):
    """3x32x32 images, a ResNet with SECA_II and Mem-BN (an integer graph): train, export, eval,
    vectors, the HLS C simulation and the RTL in Verilator (every traced layer), bit-exact."""
    from flow.__main__ import main
    from golden.graph import load_graph

    write_cifar10(tmp_path / "data")
    run = tmp_path / "c10rn"
    rc = main(["train", str(run), "--dataset", "cifar-10", "--data-dir", str(tmp_path / "data"), "--arch",
               "resnet:4,6", "--T", "2", "--epochs", "1", "--batch-size", "10", "--seca", "II", "--neuron", "membn",
               "--parallel-ratio", "0.5"])
    assert rc == 0, capsys.readouterr().err
    assert main(["export", str(run)]) == 0
    g = load_graph(run / "model")
    assert list(g.input.shape) == [3, 32, 32] and any(n.kind == "seca" for n in g.nodes)
    assert main(["eval", str(run)]) == 0 and json.loads((run / "eval.json").read_text())["images"] == 10
    assert main(["vectors", str(run), "--n", "6", "--force"]) == 0
    from flow.paths import build_dir

    try:
        assert main(["hls", str(run)]) == 0, capsys.readouterr().err
        report = json.loads((build_dir(str(run)) / "hls" / "report.json").read_text())
        assert report["vectors"] == 6 and report["mismatches"] == 0
        assert main(["rtl", str(run)]) == 0, capsys.readouterr().err
        assert main(["sim", str(run), "--n", "6", "--trace"]) == 0, capsys.readouterr().err
        sim = json.loads((build_dir(str(run)) / "sim" / "sim.json").read_text())
        assert sim["images"] == 6 and sim["mismatches"] == 0 and sim["layers_checked"]
    finally:
        shutil.rmtree(build_dir(str(run)), ignore_errors=True)
