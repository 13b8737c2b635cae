"""Datasets: the IDX reader on small files written here, the folder loader's errors, augmentation."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from training import data
from training.data import DatasetError, augment, load, load_idx_folder, read_idx


def idx_bytes(a: np.ndarray, magic: int | None = None) -> bytes:
    a = np.asarray(a, dtype=np.uint8)
    magic = (0x0800 | a.ndim) if magic is None else magic
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in a.shape) + a.tobytes()


def write_set(folder, *, n_train=6, n_test=4, h=5, w=3, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, h, w)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, h, w)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, a in arrays.items():
        raw = idx_bytes(a)
        if gz:
            with gzip.open(folder / f"{stem}.gz", "wb") as f:
                f.write(raw)
        else:
            (folder / stem).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_loads_flattened_chw(tmp_path, gz):
    arrays = write_set(tmp_path, gz=gz)
    s = load_idx_folder(tmp_path, name="fashion_mnist")
    assert s.name == "fashion_mnist" and s.shape == (1, 5, 3) and s.input_max == 255 and s.features == 15
    assert s.x_train.dtype == np.uint8 and s.x_train.shape == (6, 15)
    assert np.array_equal(s.x_train, arrays["train-images-idx3-ubyte"].reshape(6, 15))
    assert np.array_equal(s.x_test[2], arrays["t10k-images-idx3-ubyte"][2].ravel())
    assert s.y_train.dtype == np.int64 and np.array_equal(s.y_test, arrays["t10k-labels-idx1-ubyte"])


def test_load_by_name_with_data_dir(tmp_path):
    write_set(tmp_path / "m", gz=False)
    s = load("mnist", data_dir=tmp_path / "m")
    assert s.name == "mnist" and s.x_train.shape == (6, 15)


def test_read_idx_rejects_bad_magic(tmp_path):
    p = tmp_path / "x-idx1-ubyte"
    p.write_bytes(idx_bytes(np.arange(4), magic=0x0D01))       # 0x0D: float, not unsigned bytes
    with pytest.raises(DatasetError, match=r"x-idx1-ubyte: bad IDX magic 0x00000d01"):
        read_idx(p)


def test_read_idx_rejects_truncated_file(tmp_path):
    p = tmp_path / "t.gz"
    with gzip.open(p, "wb") as f:
        f.write(idx_bytes(np.zeros((3, 2, 2)))[:-1])
    with pytest.raises(DatasetError, match=r"t.gz: wrong size: header says 3x2x2 \(28 bytes\), file has 27 bytes"):
        read_idx(p)


def test_label_count_mismatch_names_the_file(tmp_path):
    write_set(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(3)))
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte: wrong count: 3 labels for 4 images"):
        load_idx_folder(tmp_path)


def test_missing_file_and_folder_are_named(tmp_path):
    write_set(tmp_path, gz=True)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte: missing"):
        load_idx_folder(tmp_path)
    with pytest.raises(DatasetError, match=r"nowhere: no such data folder for dataset 'mnist'"):
        load("mnist", data_dir=tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar'; known: digits, fashion_mnist, mnist, cifar10, "
                                         r"cifar100 \(or fashion-mnist, cifar-10, cifar-100\)"):
        load("cifar")


def test_digits_default_split_is_unchanged():
    s = data.load()
    assert s.name == "digits" and s.shape == (1, 8, 8) and s.input_max == 16
    assert s.x_train.shape == (1437, 64) and s.x_test.shape == (360, 64)


def test_augment_crops_and_flips_integer_images():
    x = np.arange(2 * 3 * 4 * 4, dtype=np.uint8).reshape(6, 16)   # 6 images of 1x4x4
    shape = (1, 4, 4)
    assert np.array_equal(augment(x, shape, np.random.default_rng(0), pad=0), x)
    a = augment(x, shape, np.random.default_rng(3), pad=1, flip=True)
    b = augment(x, shape, np.random.default_rng(3), pad=1, flip=True)
    assert a.dtype == np.uint8 and a.shape == x.shape and np.array_equal(a, b)   # seeded
    # each output is a shifted window of the zero-padded image, flipped or not
    rng = np.random.default_rng(3)
    dy, dx, flips = rng.integers(0, 3, 6), rng.integers(0, 3, 6), rng.random(6) < 0.5
    for i in range(6):
        img = np.pad(x[i].reshape(4, 4), 1)[dy[i]:dy[i] + 4, dx[i]:dx[i] + 4]
        assert np.array_equal(a[i].reshape(4, 4), img[:, ::-1] if flips[i] else img)
    # pad 0 with flips (--crop-pad 0): every image is itself or its mirror, and both occur
    f = augment(x, shape, np.random.default_rng(3), pad=0, flip=True).reshape(6, 4, 4)
    same = [np.array_equal(f[i], x[i].reshape(4, 4)) for i in range(6)]
    mirrored = [np.array_equal(f[i], x[i].reshape(4, 4)[:, ::-1]) for i in range(6)]
    assert all(s or m for s, m in zip(same, mirrored)) and any(same) and any(mirrored)


def test_every_bundle_records_its_own_split():
    """A bundle's meta.split names how its data set is split (it once said the digits' split for all)."""
    from training import data

    assert "1437 train / 360 test" in data.split_description("digits")
    for name in ("fashion_mnist", "fashion-mnist", "mnist"):
        assert "60,000" in data.split_description(name) and "t10k" in data.split_description(name)
    for name in ("cifar10", "cifar-10", "cifar100", "cifar-100"):
        assert "50,000" in data.split_description(name) and "10,000" in data.split_description(name)
