"""C simulation of the HLS projects (hls4ml ``compile()`` + ``predict()``, g++ only) on the
shared vector file, compared with the golden model bit for bit.

Every mismatch names the image, the layer, the time step and the neuron, as the RTL
testbench does: ``image 3, layer fc1, time step 2, neuron 17: HLS 5 != golden 4``.  Neurons of a
conv layer are numbered in the bundle's C, H, W order.

Feeding: one ``predict`` row per time step, an image's ``T`` rows consecutive (see
:mod:`hls.convert`).  The layers' step counters and membranes are static C++ state, so every
simulation starts from a freshly loaded library (:func:`reload`) and feeds whole images.
"""

from __future__ import annotations

import ctypes
import time

import numpy as np

from golden import executor

from . import convert

MAX_DETAILS = 50
CHUNK = 250


def reload(model) -> None:
    """Load the compiled library afresh: step counters at 0, as after reset (no g++ run)."""
    lib = model._top_function_lib
    if lib is None:
        raise RuntimeError("the project is not compiled (call compile() first)")
    path = lib._name
    dlclose = ctypes.CDLL("libdl.so.2").dlclose
    dlclose.argtypes = [ctypes.c_void_p]
    dlclose(lib._handle)
    model._top_function_lib = ctypes.cdll.LoadLibrary(path)


def predict_steps(model, rows: np.ndarray, T: int, *, fresh: bool = True) -> np.ndarray:
    """``rows [N, T, features]`` -> ``[N, T, outputs]`` (int64) through the C simulation.

    ``fresh`` reloads the library first; ``False`` continues after whole images fed before.
    """
    n = rows.shape[0]
    x = np.ascontiguousarray(rows.reshape(n * T, -1), dtype=np.float64)
    if fresh:
        reload(model)
    y = np.asarray(model.predict(x), np.float64).reshape(n, T, -1)
    return np.rint(y).astype(np.int64)


def _chunks(n: int):
    """Image ranges of at most :data:`CHUNK` (bounds the memory of big conv layers)."""
    for a in range(0, n, CHUNK):
        yield a, min(a + CHUNK, n)


def _details(got, want, layer: str, images=None) -> list[str]:
    """Mismatch lines for ``[N, T, neurons]`` arrays, at most 4 per image.

    ``images`` numbers the rows (their index in the vector file; default 0 .. N-1).
    """
    out = []
    for i in np.flatnonzero((got != want).any(axis=(1, 2))):
        for t, k in np.argwhere(got[i] != want[i])[:4]:
            out.append(f"image {i if images is None else images[i]}, layer {layer}, time step {t}, neuron {k}: "
                       f"HLS {got[i, t, k]} != golden {want[i, t, k]}")
    return out


def _is_graph(bundle) -> bool:
    return hasattr(bundle, "nodes")


def _images(bundle, vec, n: int) -> np.ndarray:
    x = np.asarray(vec["images"][:n], np.int64)
    shape = tuple(bundle.input.shape) if _is_graph(bundle) else convert.stream_input_shape(bundle)
    return convert.to_stream_layout(x, shape)


def check_network(model, bundle, vec: dict, n: int = 0, *, localise: bool = True) -> dict:
    """The whole network (a bundle's, or a graph's: :func:`hls.convert.graph_project`) on the first
    ``n`` images (0: all): per-step scores and classes.

    On a mismatch, ``localise`` re-runs the first differing images with hls4ml's trace to name
    the first layer (graph: neuron node) whose spike codes differ (the trace recompiles the
    project once).
    """
    t0 = time.time()
    n = min(n or len(vec["images"]), len(vec["images"]))
    T = bundle.T
    scores = np.zeros((n, T, bundle.classes), np.int64)
    for a, b in _chunks(n):
        images = _images(bundle, {"images": vec["images"][a:b]}, b - a)
        scores[a:b] = predict_steps(model, np.repeat(images[:, None, :], T, axis=1), T, fresh=a == 0)
    want = np.asarray(vec["scores"][:n], np.int64)
    classes = np.argmax(scores.sum(axis=1), axis=1)
    want_classes = np.asarray(vec["classes"][:n], np.int64)
    bad = (scores != want).any(axis=(1, 2)) | (classes != want_classes)
    details = []
    if bad.any() and localise:
        details += localise_codes(model, bundle, vec, np.flatnonzero(bad)[:8])
    details += _details(scores, want, bundle.readout.name)
    for i in np.flatnonzero(classes != want_classes):
        details.append(f"image {i}, layer argmax, time step {T - 1}, neuron -: "
                       f"HLS class {classes[i]} != golden {want_classes[i]}")
    return {"vectors": int(n), "mismatches": int(bad.sum()), "mismatch_details": details[:MAX_DETAILS],
            "accuracy": float((classes == np.asarray(vec["labels"][:n])).mean()),
            "seconds": round(time.time() - t0, 2)}


def _code_outputs(bundle) -> list[tuple[str, str, tuple]]:
    """``(vector name, hls4ml layer, shape in C, H, W order)`` of every traced spike-code output."""
    if _is_graph(bundle):
        return [(n.name, convert.hls_name(n.name), tuple(n.shape)) for n in bundle.neurons]
    shapes = dict(zip((l.name for l in bundle.layers), convert.layer_shapes(bundle)))
    return [(b, h, shapes[b][2]) for b, h in convert.code_layer_names(bundle).items()]


def localise_codes(model, bundle, vec: dict, images: np.ndarray) -> list[str]:
    """Trace the given images and report the first layer whose codes differ from the vectors."""
    outputs = _code_outputs(bundle)
    names = {b: h for b, h, _ in outputs}
    for layer in model.get_layers():
        if layer.name in names.values():
            layer.set_attr("trace", True)
    T = bundle.T
    x = _images(bundle, {"images": np.asarray(vec["images"])[images]}, len(images))
    rows = np.ascontiguousarray(np.repeat(x, T, axis=0), dtype=np.float64)
    _, trace = model.trace(rows)
    model.config.trace_output = False
    out = []
    for bname, hname, shape in outputs:
        got = np.rint(np.asarray(trace[hname], np.float64)).astype(np.int64).reshape(len(images), T, -1)
        got = convert.from_stream_layout(got, shape)
        want = np.asarray(vec[f"codes.{bname}"], np.int64)[images]
        lines = _details(got, want, bname, images)
        if lines:
            out += lines
            break  # the first layer that differs; later layers inherit its error
    return out


def layer_inputs(bundle, vec: dict, index: int, a: int, b: int) -> np.ndarray:
    """Images ``a .. b-1``: the layer's input at every step, ``[N, T, features]``, C, H, W order."""
    T = bundle.T
    if index == 0:
        x = np.asarray(vec["images"][a:b], np.int64)
        return np.repeat(x[:, None, :], T, axis=1)
    return np.asarray(vec[f"codes.{bundle.layers[index - 1].name}"][a:b], np.int64)


def golden_currents(bundle, index: int, x: np.ndarray) -> np.ndarray:
    """Layer ``index``'s current (score for the readout) by the golden executor, ``x [N, T, in]``.

    Conv currents come out flat in C, H, W order, before pooling: ``[N, T, O*Ho*Wo]``.
    """
    layer = bundle.layers[index]
    in_shape = convert.layer_shapes(bundle)[index][0]
    n, T = x.shape[:2]
    out = []
    for t in range(T):
        xt = x[:, t]
        if convert._kind(layer) == "readout_fc":
            out.append(executor.readout(layer, xt))
            continue
        if convert._kind(layer) == "hdlif_conv":
            xt = xt.reshape((n,) + tuple(in_shape))
        out.append(executor.requant(layer, executor.synapse(layer, xt), t).reshape(n, -1))
    return np.stack(out, axis=1)


def check_layer(model, bundle, vec: dict, index: int, n: int = 0) -> dict:
    """One layer's project: the vector file's inputs, currents compared with the golden model's."""
    t0 = time.time()
    n = min(n or len(vec["images"]), len(vec["images"]))
    layer = bundle.layers[index]
    shapes = convert.layer_shapes(bundle)[index]
    what = "score" if convert._kind(layer) == "readout_fc" else "current"
    bad, details = 0, []
    for a, b in _chunks(n):
        x = layer_inputs(bundle, vec, index, a, b)
        want = golden_currents(bundle, index, x)
        got = predict_steps(model, convert.to_stream_layout(x, shapes[0]), bundle.T, fresh=a == 0)
        got = convert.from_stream_layout(got, shapes[1])
        bad += int((got != want).any(axis=(1, 2)).sum())
        if len(details) < MAX_DETAILS:
            details += [s.replace(": HLS", f": HLS {what}", 1)
                        for s in _details(got, want, layer.name, np.arange(a, b))]
    return {"vectors": int(n), "mismatches": bad, "mismatch_details": details[:MAX_DETAILS],
            "seconds": round(time.time() - t0, 2)}
