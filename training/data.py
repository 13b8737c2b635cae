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

``cifar10`` and ``cifar100``: 32x32 colour images (3 channels R, G, B; pixels 0..255; 50,000
train / 10,000 test, the standard split) read from the distribution's own files, either version:

* binary: ``cifar-10-batches-bin/`` (``data_batch_1.bin`` .. ``data_batch_5.bin``,
  ``test_batch.bin``; records of 1 label byte + 3,072 pixel bytes) or ``cifar-100-binary/``
  (``train.bin``, ``test.bin``; records of 2 label bytes, coarse then fine, + 3,072 pixel bytes;
  the fine label, 100 classes, is the one used);
* Python: ``cifar-10-batches-py/`` (``data_batch_1`` .. ``data_batch_5``, ``test_batch``) or
  ``cifar-100-python/`` (``train``, ``test``): pickled dicts (``b"data"`` a uint8 array
  ``[N, 3072]``, ``b"labels"`` / ``b"fine_labels"``) read by :func:`read_cifar_pickle`, which
  rebuilds numpy arrays and refuses every other global (no arbitrary object is unpickled).

The pixels of a record are the R, G then B planes, each 32x32 row-major: flattened C, H, W as
the rest of the flow wants them.  ``data_dir`` may name the batches folder or its parent (the
binary version is taken when both are there).  Without one, Keras's download cache
(``~/.keras/datasets``) is looked in.  ``cifar-10`` and ``cifar-100`` name them too.

A missing or malformed file (bad magic number, truncated or over-long body, image and label
counts that differ, a record size that does not divide the file, a label out of range) raises
:class:`DatasetError` with one line naming the file.

:func:`augment` is the optional training-time augmentation (random crop with zero padding and
an optional horizontal flip), done on the integer images with a caller-provided generator.
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATASETS = ("digits", "fashion_mnist", "mnist", "cifar10", "cifar100")

#: Other spellings accepted for a dataset name.
ALIASES = {"fashion-mnist": "fashion_mnist", "cifar-10": "cifar10", "cifar-100": "cifar100"}

#: Folders searched, in order, when no ``data_dir`` is given (``~`` is the user's home; a CIFAR
#: folder counts when it, or a batches folder in it, holds the files).
DEFAULT_DIRS = {
    "fashion_mnist": ("/usr/share/datasets/fashion-mnist",),
    "mnist": ("/usr/share/datasets/mnist",),
    "cifar10": ("~/.keras/datasets", "~/.keras/datasets/cifar-10-batches-py-target"),      # Keras 2, Keras 3
    "cifar100": ("~/.keras/datasets", "~/.keras/datasets/cifar-100-python-target"),
}

#: Horizontal flips make sense for clothes and CIFAR's photographs, not for digits.
FLIP_BY_DEFAULT = {"digits": False, "mnist": False, "fashion_mnist": True, "cifar10": True, "cifar100": True}

#: Image height of each data set (square images).
IMAGE_SIDE = {"digits": 8, "mnist": 28, "fashion_mnist": 28, "cifar10": 32, "cifar100": 32}

#: Colour channels of each data set's images (``Split.shape[0]``).
CHANNELS = {"digits": 1, "mnist": 1, "fashion_mnist": 1, "cifar10": 3, "cifar100": 3}


def default_crop_pad(h: int) -> int:
    """:func:`augment`'s random shift when none is given: ``H // 7`` (1 for 8x8, 4 for 28x28 and
    for 32x32, CIFAR's usual 4)."""
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
    if name == "cifar10":
        return "the data set's own split: data_batch_1..5 (50,000 images) / test_batch (10,000 images)"
    if name == "cifar100":
        return "the data set's own split: train (50,000 images) / test (10,000 images), fine labels (100 classes)"
    return "the data set's own split: train-* (60,000 images) / t10k-* (10,000 images) IDX files"


def canonical(name: str) -> str:
    """The dataset's own name for ``name`` (``fashion-mnist`` -> ``fashion_mnist``); an unknown
    name raises ``ValueError`` naming the known ones."""
    name = ALIASES.get(name, name)
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} (or {', '.join(ALIASES)})")
    return name


def folder(name: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """The folder ``load(name, data_dir)`` reads (None for the bundled ``digits``)."""
    name = canonical(name)
    if name == "digits":
        return None
    if name in _CIFAR:
        return find_cifar(name, data_dir)[1].resolve()
    return _find_dir(name, data_dir).resolve()


def load(name: str = "digits", data_dir: str | os.PathLike | None = None) -> Split:
    """Load a dataset by name; ``data_dir`` is the folder of IDX files (MNIST-like sets) or of
    the CIFAR batches (the batches folder or its parent)."""
    name = canonical(name)
    if name == "digits":
        if data_dir is not None:
            raise ValueError("dataset 'digits' is bundled with scikit-learn and takes no data folder")
        return _load_digits()
    if name in _CIFAR:
        return load_cifar(name, data_dir)
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


# --- CIFAR-10 / CIFAR-100 -------------------------------------------------------------------------

_CIFAR_PIXELS = 3 * 32 * 32


@dataclass(frozen=True)
class _CifarLayout:
    title: str                      # CIFAR-10
    classes: int
    label_bytes: int                # binary records: 1 (CIFAR-10) or 2 (coarse, fine: CIFAR-100)
    bin_dir: str
    bin_train: tuple
    bin_test: str
    py_dir: str
    py_train: tuple
    py_test: str
    py_label_key: bytes
    tarballs: tuple                 # the distribution's archives, named when found unpacked nowhere


_CIFAR = {
    "cifar10": _CifarLayout(
        "CIFAR-10", 10, 1,
        "cifar-10-batches-bin", tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin",
        "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch", b"labels",
        ("cifar-10-binary.tar.gz", "cifar-10-python.tar.gz")),
    "cifar100": _CifarLayout(
        "CIFAR-100", 100, 2,
        "cifar-100-binary", ("train.bin",), "test.bin",
        "cifar-100-python", ("train",), "test", b"fine_labels",
        ("cifar-100-binary.tar.gz", "cifar-100-python.tar.gz")),
}
_CIFAR100_COARSE = 20


def _cifar_files(lay: _CifarLayout, version: str) -> tuple:
    return (lay.bin_train + (lay.bin_test,)) if version == "binary" else (lay.py_train + (lay.py_test,))


def _cifar_expected(lay: _CifarLayout) -> str:
    def names(train, test):
        return (f"{train[0].replace('_1', '_1..5')}, {test}" if len(train) == 5 else f"{train[0]}, {test}")
    return (f"{lay.bin_dir}/ ({names(lay.bin_train, lay.bin_test)}) or "
            f"{lay.py_dir}/ ({names(lay.py_train, lay.py_test)})")


def _cifar_in(folder: Path, lay: _CifarLayout) -> tuple[str, Path] | None:
    """``(version, folder)`` when ``folder`` or its batches subfolder holds any file of a version."""
    for cand in (folder, folder / lay.bin_dir, folder / lay.py_dir):
        for version in ("binary", "python"):
            if any((cand / f).is_file() for f in _cifar_files(lay, version)):
                return version, cand
    return None


def find_cifar(name: str, data_dir: str | os.PathLike | None = None) -> tuple[str, Path]:
    """``("binary" | "python", folder of the batch files)`` for ``cifar10`` / ``cifar100``:
    ``data_dir`` is the batches folder or its parent; without it :data:`DEFAULT_DIRS` are tried."""
    name = canonical(name)
    lay = _CIFAR[name]
    if data_dir is not None:
        d = Path(data_dir)
        if not d.is_dir():
            raise DatasetError(f"{d}: no such data folder for dataset {name!r}")
        found = _cifar_in(d, lay)
        if found is None:
            packed = [t for t in lay.tarballs if (d / t).is_file()]
            hint = (f"; unpack {d / packed[0]} first (tar xzf)" if packed
                    else "; DATA_DIR= / --data-dir names the batches folder or its parent")
            raise DatasetError(f"{d}: no {lay.title} files: expected {_cifar_expected(lay)} in it or "
                               f"in a subfolder of that name{hint}")
        return found
    for cand in DEFAULT_DIRS.get(name, ()):
        d = Path(cand).expanduser()
        found = _cifar_in(d, lay) if d.is_dir() else None
        if found is not None:
            return found
    raise DatasetError(f"dataset {name!r}: no data folder given and no {lay.title} files in "
                       f"{', '.join(DEFAULT_DIRS.get(name, ()))} (pass --data-dir / DATA_DIR= the folder "
                       f"{_cifar_expected(lay)}, or its parent)")


def read_cifar_bin(path: str | os.PathLike, *, label_bytes: int = 1, classes: int = 10
                   ) -> tuple[np.ndarray, np.ndarray]:
    """One file of the binary version: records of ``label_bytes`` label bytes (CIFAR-100: coarse
    then fine; the last one is returned) and 3,072 pixel bytes.  ``(x uint8 [N, 3072], y int64 [N])``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{path}: unreadable ({e.strerror or e})") from None
    rec = label_bytes + _CIFAR_PIXELS
    what = "1 label byte" if label_bytes == 1 else f"{label_bytes} label bytes"
    if not raw or len(raw) % rec:
        raise DatasetError(f"{path}: wrong size: {len(raw)} bytes is not a whole number (> 0) of {rec}-byte "
                           f"records ({what} + {_CIFAR_PIXELS} pixel bytes)")
    a = np.frombuffer(raw, dtype=np.uint8).reshape(-1, rec)
    checks = [(a[:, label_bytes - 1], classes, "label")]
    if label_bytes == 2:
        checks.insert(0, (a[:, 0], _CIFAR100_COARSE, "coarse label"))
    for labels, top, what in checks:
        bad = np.flatnonzero(labels >= top)
        if len(bad):
            raise DatasetError(f"{path}: record {int(bad[0])}: {what} {int(labels[bad[0]])} out of range "
                               f"0..{top - 1}")
    return a[:, label_bytes:].copy(), a[:, label_bytes - 1].astype(np.int64)


def _latin1_encode(text, encoding="utf-8", errors="strict"):
    """``_codecs.encode`` as Python 3's protocol-2 pickles of ``bytes`` call it (latin-1 only)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise pickle.UnpicklingError(f"_codecs.encode({type(text).__name__}, {encoding!r}): only a str to "
                                     f"latin-1 bytes is allowed")
    return codecs.encode(text, "latin-1")


def _pickle_globals() -> dict:
    reconstruct = np.ndarray(0).__reduce__()[0]           # numpy's own _reconstruct, whatever its module
    frombuffer = np.ndarray(0).__reduce_ex__(5)[0]        # numpy's _frombuffer (protocol-5 pickles)
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): _latin1_encode}
    for mod in ("numpy.core", "numpy._core"):
        allowed[(f"{mod}.multiarray", "_reconstruct")] = reconstruct
        if getattr(frombuffer, "__name__", "") == "_frombuffer":
            allowed[(f"{mod}.numeric", "_frombuffer")] = frombuffer
    return allowed


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles what a CIFAR batch holds (dicts, lists, numbers, strings and numpy uint8 arrays)
    and nothing else: any global but numpy's array reconstruction is refused before it is loaded."""

    def __init__(self, file, path: Path):
        super().__init__(file, encoding="bytes")         # Python 2's str -> bytes, as b"data"
        self._path = path
        self._allowed = _pickle_globals()

    def find_class(self, module, name):
        obj = self._allowed.get((module, name))
        if obj is None:
            raise DatasetError(f"{self._path}: refused: the pickle asks for {module}.{name}; a CIFAR batch "
                               f"needs only numpy's array reconstruction, nothing else is unpickled")
        return obj

    def persistent_load(self, pid):
        raise DatasetError(f"{self._path}: refused: the pickle holds a persistent id; a CIFAR batch has none")


def read_cifar_pickle(path: str | os.PathLike, *, label_key: bytes = b"labels", classes: int = 10
                      ) -> tuple[np.ndarray, np.ndarray]:
    """One file of the Python version (a pickled dict: ``b"data"`` uint8 ``[N, 3072]``,
    ``label_key`` a list of ``N`` labels), read without unpickling arbitrary objects (only numpy's
    array reconstruction is allowed).  ``(x uint8 [N, 3072], y int64 [N])``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{path}: unreadable ({e.strerror or e})") from None
    try:
        d = _BatchUnpickler(io.BytesIO(raw), path).load()
    except DatasetError:
        raise
    except Exception as e:  # noqa: BLE001 - any malformed pickle is one line naming the file
        why = " ".join(str(e).split())[:120] or type(e).__name__
        raise DatasetError(f"{path}: not a readable CIFAR batch pickle ({why})") from None
    if not isinstance(d, dict):
        raise DatasetError(f"{path}: not a CIFAR batch: the pickle holds a {type(d).__name__}, not a dict")

    def get(key: bytes):
        for k in (key, key.decode()):                     # Python 2's b"data", or a Python 3 "data"
            if k in d:
                return d[k]
        raise DatasetError(f"{path}: not a CIFAR batch: no {key!r} entry (has {', '.join(map(repr, d))[:80]})")

    x = get(b"data")
    if not (isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 2 and x.shape[1] == _CIFAR_PIXELS):
        got = (f"{x.dtype} array {'x'.join(map(str, x.shape))}" if isinstance(x, np.ndarray)
               else type(x).__name__)
        raise DatasetError(f"{path}: b'data' must be a uint8 array [N, {_CIFAR_PIXELS}], not a {got}")
    labels = get(label_key)
    try:
        y = np.asarray(labels)
    except Exception:  # noqa: BLE001
        y = np.zeros(0, dtype=object)
    if not (y.ndim == 1 and (y.dtype.kind in "iu" or len(y) == 0)):
        raise DatasetError(f"{path}: {label_key!r} must be a list of whole numbers")
    if len(y) != len(x):
        raise DatasetError(f"{path}: wrong count: {len(y)} labels ({label_key!r}) for {len(x)} images")
    if not len(x):
        raise DatasetError(f"{path}: no images")
    bad = np.flatnonzero((y < 0) | (y >= classes))
    if len(bad):
        raise DatasetError(f"{path}: image {int(bad[0])}: label {int(y[bad[0]])} out of range 0..{classes - 1}")
    return np.ascontiguousarray(x), y.astype(np.int64)


def load_cifar(name: str = "cifar10", data_dir: str | os.PathLike | None = None) -> Split:
    """A :class:`Split` of ``cifar10`` or ``cifar100`` from the binary or the Python version
    (``data_dir``: the batches folder or its parent; see :func:`find_cifar`)."""
    name = canonical(name)
    lay = _CIFAR[name]
    version, folder = find_cifar(name, data_dir)
    if version == "binary":
        train, test = lay.bin_train, lay.bin_test
        read = lambda p: read_cifar_bin(p, label_bytes=lay.label_bytes, classes=lay.classes)  # noqa: E731
    else:
        train, test = lay.py_train, lay.py_test
        read = lambda p: read_cifar_pickle(p, label_key=lay.py_label_key, classes=lay.classes)  # noqa: E731
    for f in train + (test,):
        if not (folder / f).is_file():
            raise DatasetError(f"{folder / f}: missing (the {version} version of {lay.title} is "
                               f"{', '.join(train + (test,))} in {folder})")
    parts = [read(folder / f) for f in train]
    x_test, y_test = read(folder / test)
    x_train = np.concatenate([x for x, _ in parts]) if len(parts) > 1 else parts[0][0]
    y_train = np.concatenate([y for _, y in parts]) if len(parts) > 1 else parts[0][1]
    return Split(x_train, y_train, x_test, y_test, input_max=255, name=name, shape=(3, 32, 32))


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
