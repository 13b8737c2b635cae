"""Datasets as unsigned integer pixels, flattened in C, H, W order.

``digits`` (the default): scikit-learn's bundled 8x8 handwritten digits (1,797 images,
pixels 0..16).  The split is fixed: ``train_test_split(test_size=0.2, stratify=labels,
random_state=0)``, which holds out 360 images (20 %) for test.  Every stage uses this split.

``fashion_mnist`` and ``mnist``: 28x28 grey images (pixels 0..255, 60,000 train / 10,000 test,
the standard split) read from a folder holding the four standard IDX files
(``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``, each optionally gzipped; the ``train-images.idx3-ubyte`` spelling
is accepted too).  Fashion-MNIST is found without a ``data_dir`` when the Debian package
``dataset-fashion-mnist`` is installed (``/usr/share/datasets/fashion-mnist``).  ``fashion-mnist``
(the Debian package's spelling) names ``fashion_mnist`` too (:func:`canonical`).

A missing or malformed file (bad magic number, truncated or over-long body, image and label
counts that differ) raises :class:`DatasetError` with one line naming the file.

:func:`augment` is the optional training-time augmentation (random crop with zero padding and
an optional horizontal flip), done on the integer images with a caller-provided generator.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATASETS = ("digits", "fashion_mnist", "mnist")

#: Other spellings accepted for a dataset name.
ALIASES = {"fashion-mnist": "fashion_mnist"}

#: Folders searched, in order, when no ``data_dir`` is given.
DEFAULT_DIRS = {
    "fashion_mnist": ("/usr/share/datasets/fashion-mnist",),
    "mnist": ("/usr/share/datasets/mnist",),
}

#: Horizontal flips make sense for clothes, not for digits.
FLIP_BY_DEFAULT = {"digits": False, "mnist": False, "fashion_mnist": True}

#: Image height of each data set (square images).
IMAGE_SIDE = {"digits": 8, "mnist": 28, "fashion_mnist": 28}


def default_crop_pad(h: int) -> int:
    """:func:`augment`'s random shift when none is given: ``H // 7`` (1 for 8x8, 4 for 28x28)."""
    return max(1, h // 7)

_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_IDX_UBYTE = 0x08


class DatasetError(ValueError):
    """A dataset folder or file is missing or malformed (the message names it)."""


@dataclass(frozen=True)
class Split:
    """A train / test split of integer images.

    ``x_*`` are unsigned integer arrays ``[N, C*H*W]`` (flattened C, H, W, as ``torch.flatten``),
    ``y_*`` int64 labels ``[N]``, ``shape`` is ``(C, H, W)`` and pixels lie in ``0 .. input_max``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    input_max: int
    name: str
    shape: tuple = (1, 8, 8)

    @property
    def features(self) -> int:
        return int(np.prod(self.shape))

    @property
    def classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def split_description(name: str) -> str:
    """How the train / test split of data set ``name`` is made (recorded in every bundle's meta)."""
    name = canonical(name)
    if name == "digits":
        return "sklearn train_test_split(test_size=0.2, stratify, random_state=0): 1437 train / 360 test"
    return "the data set's own split: train-* (60,000 images) / t10k-* (10,000 images) IDX files"


def canonical(name: str) -> str:
    """The dataset's own name for ``name`` (``fashion-mnist`` -> ``fashion_mnist``); an unknown
    name raises ``ValueError`` naming the known ones."""
    name = ALIASES.get(name, name)
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} (or fashion-mnist)")
    return name


def folder(name: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """The folder ``load(name, data_dir)`` reads (None for the bundled ``digits``)."""
    name = canonical(name)
    return None if name == "digits" else _find_dir(name, data_dir).resolve()


def load(name: str = "digits", data_dir: str | os.PathLike | None = None) -> Split:
    """Load a dataset by name; ``data_dir`` is the folder of IDX files (MNIST-like sets)."""
    name = canonical(name)
    if name == "digits":
        if data_dir is not None:
            raise ValueError("dataset 'digits' is bundled with scikit-learn and takes no data folder")
        return _load_digits()
    return load_idx_folder(_find_dir(name, data_dir), name=name)


def _load_digits() -> Split:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = d.data.astype(np.uint8)
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    return Split(x_tr, y_tr, x_te, y_te, input_max=16, name="digits", shape=(1, 8, 8))


def _find_dir(name: str, data_dir) -> Path:
    if data_dir is not None:
        d = Path(data_dir)
        if not d.is_dir():
            raise DatasetError(f"{d}: no such data folder for dataset {name!r}")
        return d
    for cand in DEFAULT_DIRS.get(name, ()):
        if Path(cand).is_dir():
            return Path(cand)
    raise DatasetError(f"dataset {name!r}: no data folder given and none of "
                       f"{', '.join(DEFAULT_DIRS.get(name, ())) or '(no default)'} exists "
                       f"(pass --data-dir / DATA_DIR= a folder with the four IDX files)")


def _idx_path(folder: Path, stem: str) -> Path:
    dotted = stem.replace("-idx", ".idx")          # train-images.idx3-ubyte (yann.lecun.com spelling)
    for s in (stem, dotted):
        for suffix in ("", ".gz"):
            p = folder / (s + suffix)
            if p.is_file():
                return p
    raise DatasetError(f"{folder / stem}: missing (neither {stem} nor {stem}.gz in {folder})")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzipped when its name ends in ``.gz``) of unsigned bytes."""
    path = Path(path)
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as e:
        raise DatasetError(f"{path}: unreadable ({e})") from None
    if len(raw) < 4:
        raise DatasetError(f"{path}: not an IDX file ({len(raw)} bytes)")
    zero, dtype, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or dtype != _IDX_UBYTE or not 1 <= ndim <= 4:
        raise DatasetError(f"{path}: bad IDX magic 0x{raw[:4].hex()} (expected 0x000008NN: unsigned bytes, "
                           f"1..4 dimensions)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    want = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != want:
        raise DatasetError(f"{path}: wrong size: header says {'x'.join(map(str, dims))} ({want} bytes), "
                           f"file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()   # writable


def load_idx_folder(folder: str | os.PathLike, *, name: str = "mnist") -> Split:
    """A :class:`Split` from a folder of the four standard IDX files (MNIST layout)."""
    folder = Path(folder)
    arrays = {key: (p := _idx_path(folder, stem), read_idx(p)) for key, stem in _IDX_FILES.items()}
    for part in ("train", "test"):
        (px, x), (py, y) = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.ndim != 3:
            raise DatasetError(f"{px}: expected images [N, H, W], got {x.ndim} dimension(s)")
        if y.ndim != 1:
            raise DatasetError(f"{py}: expected labels [N], got {y.ndim} dimension(s)")
        if len(x) != len(y):
            raise DatasetError(f"{py}: wrong count: {len(y)} labels for {len(x)} images in {px.name}")
        if len(y) and y.max() > 9:
            raise DatasetError(f"{py}: label {int(y.max())} out of range 0..9")
    (_, xtr), (_, xte) = arrays["x_train"], arrays["x_test"]
    if xtr.shape[1:] != xte.shape[1:]:
        raise DatasetError(f"{arrays['x_test'][0]}: images are {xte.shape[1]}x{xte.shape[2]}, "
                           f"train images {xtr.shape[1]}x{xtr.shape[2]}")
    h, w = xtr.shape[1:]
    flat = lambda a: np.ascontiguousarray(a.reshape(len(a), h * w))  # noqa: E731
    return Split(flat(xtr), arrays["y_train"][1].astype(np.int64), flat(xte), arrays["y_test"][1].astype(np.int64),
                 input_max=255, name=name, shape=(1, h, w))


def augment(x: np.ndarray, shape: tuple, rng: np.random.Generator, *, pad: int | None = None,
            flip: bool = False) -> np.ndarray:
    """Random crop with ``pad`` zero pixels on every side (default ``H // 7``: 1 for 8x8, 4 for
    28x28), and a horizontal flip with probability 1/2 when ``flip``.  ``x`` is ``[N, C*H*W]``
    integer; the result has the same dtype and shape.  Draws from ``rng`` in a fixed order
    (offsets y, offsets x, flips), so equal generators give equal batches.
    """
    c, h, w = shape
    n = len(x)
    pad = default_crop_pad(h) if pad is None else int(pad)
    img = x.reshape(n, c, h, w)
    dy = rng.integers(0, 2 * pad + 1, size=n)
    dx = rng.integers(0, 2 * pad + 1, size=n)
    flips = rng.random(n) < 0.5
    if pad:
        img = np.pad(img, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    rows = dy[:, None] + np.arange(h)[None, :]                       # [N, H]
    cols = dx[:, None] + np.arange(w)[None, :]                       # [N, W]
    if flip:
        cols = np.where(flips[:, None], cols[:, ::-1], cols)
    out = img[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None],
              rows[:, None, :, None], cols[:, None, None, :]]
    return np.ascontiguousarray(out.reshape(n, c * h * w))
