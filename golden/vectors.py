"""Vector files: input images and the golden model's expected outputs, shared by every checker.

One ``.npz`` (no pickle) holds ``images`` [N, features], ``labels`` [N], ``scores`` [N, T, C],
``classes`` [N] and, per HD-LIF layer, ``codes.<layer>`` [N, T, out_features] (uint8, uint16 for a sum pool's sums past 255; after
pooling; for a graph, per neuron node, its own codes) and ``membranes.<layer>`` [N, T, neurons] (the charged ``m`` before pooling; int32
where the width allows; left out for very large traces).  The RTL testbenches and the HLS C simulation read the same
file, so the same vectors follow the design all the way down.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .atomic import save_npz_atomic
from .bundle import Bundle, BundleError, bundle_hash
from .graph import Graph, run_model


#: membrane traces are left out of a vector file past this many values (they dwarf the rest)
MAX_MEMBRANE_VALUES = 50_000_000


def _narrow(a: np.ndarray, bits: int | None = None, *, largest: int = 255) -> np.ndarray:
    """Codes as uint8 (uint16 where a sum pool's outputs, up to ``largest``, pass 255), membranes
    as int32 where their width allows (the bound analysis says)."""
    if bits is None:
        return a.astype(np.uint8 if largest <= 255 else np.uint16)
    return a.astype(np.int32) if bits <= 32 else a


def write_vectors(bundle: Bundle | Graph, bundle_dir: Path, images: np.ndarray, labels: np.ndarray,
                  path: Path, *, membranes: bool | None = None) -> dict:
    """Run the golden model with a trace and write the vector file atomically.

    ``membranes=None`` keeps the membrane traces unless they exceed
    :data:`MAX_MEMBRANE_VALUES` values.
    """
    result = run_model(bundle, images, trace=True)
    if membranes is None:
        membranes = sum(m.size for m in result.membranes.values()) <= MAX_MEMBRANE_VALUES
    arrays = {"images": np.asarray(images, np.int64), "labels": np.asarray(labels, np.int64),
              "scores": result.scores, "classes": result.classes,
              "bundle_sha256": np.frombuffer(bytes.fromhex(bundle_hash(bundle_dir)), np.uint8)}
    for layer in (bundle.neurons if isinstance(bundle, Graph) else bundle.hdlif_layers):
        arrays[f"codes.{layer.name}"] = _narrow(result.codes[layer.name],
                                                largest=getattr(layer, "out_max", layer.max_code))
        if membranes:
            arrays[f"membranes.{layer.name}"] = _narrow(result.membranes[layer.name],
                                                        getattr(layer, "widths", {}).get("membrane_bits", 64))
    path = Path(path)
    save_npz_atomic(path, **arrays)
    return {"images": int(len(images)),
            "golden_accuracy": float((result.classes == np.asarray(labels)).mean()) if len(labels) else 0.0}


def load_vectors(path: Path, bundle_dir: Path | None = None) -> dict:
    """Load a vector file; with ``bundle_dir``, check it was made from that very bundle."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: vector file missing (run the export step or `make vectors`)")
    try:
        with np.load(path, allow_pickle=False) as z:
            vec = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001
        raise BundleError(f"{path}: not a readable vector file ({e})") from None
    for key in ("images", "labels", "scores", "classes", "bundle_sha256"):
        if key not in vec:
            raise BundleError(f"{path}: missing array {key!r}")
    if bundle_dir is not None and vec["bundle_sha256"].tobytes().hex() != bundle_hash(bundle_dir):
        raise BundleError(f"{path}: made from a different model than {bundle_dir} (re-run `make vectors`)")
    return vec
