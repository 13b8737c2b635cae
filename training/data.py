"""Datasets as unsigned integer pixels.

``digits``: scikit-learn's bundled 8x8 handwritten digits (1,797 images, pixels 0..16).
The split is fixed: ``train_test_split(test_size=0.2, stratify=labels, random_state=0)``,
which holds out 360 images (20 %) for test.  Every stage uses this same split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DATASETS = ("digits",)


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray   # uint8 [N, features]
    y_train: np.ndarray   # int64 [N]
    x_test: np.ndarray
    y_test: np.ndarray
    input_max: int
    name: str


def load(name: str = "digits") -> Split:
    if name != "digits":
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = d.data.astype(np.uint8)
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    return Split(x_tr, y_tr, x_te, y_te, input_max=16, name="digits")
