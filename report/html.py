"""One self-contained HTML page per run: ``make report MODEL=<run>`` -> ``build/<run>/report.html``.

Everything is inside the file: the figures are PNGs in ``data:`` URIs, the network diagram is
inline SVG, the style sheet is inline, and nothing links outside the page (only ``#`` anchors),
so the file can be mailed, archived or opened offline.  The sections (:data:`SECTIONS`, each a
``<section id=...>``): summary, network, training, accuracy against time step, spike rate per
layer and step, where the weights are zero, synaptic operations and energy, cycles per layer,
resources per block, verification.  A small inline script marks ``<body data-images-decoded="k/n">``
once the page has loaded, which the benchmark's headless-browser check reads.
"""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path

import numpy as np

from golden.atomic import write_text_atomic
from . import analysis, diagram, figures

#: (id, title) of every section, in page order
SECTIONS = (
    ("summary", "Summary"),
    ("network", "Network"),
    ("training", "Training"),
    ("accuracy", "Accuracy against time step"),
    ("spikes", "Spike rate per layer and time step"),
    ("weights", "Where the weights are zero"),
    ("operations", "Synaptic operations and energy"),
    ("cycles", "Cycles per layer"),
    ("resources", "Resources per block"),
    ("verification", "Verification"),
)

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:0 20px 40px;
color:#222;line-height:1.45}
h1{margin:24px 0 4px}h2{border-bottom:2px solid #4a6785;padding-bottom:3px;margin-top:34px}
nav a{margin-right:12px;font-size:14px}table{border-collapse:collapse;margin:10px 0;font-size:14px}
th,td{border:1px solid #ccc;padding:3px 9px;text-align:right}th{background:#eef3f8}td:first-child,th:first-child{text-align:left}
img{max-width:100%;height:auto;display:block;margin:8px 0}.diagram{width:100%;height:auto}
.ok{color:#fff;background:#2e7d32;padding:1px 7px;border-radius:4px}.bad{color:#fff;background:#c62828;padding:1px 7px;border-radius:4px}
.na{color:#fff;background:#888;padding:1px 7px;border-radius:4px}.note{color:#555;font-size:13px}code{background:#f3f3f3;padding:0 3px}
"""

SCRIPT = ("window.addEventListener('load',function(){var im=Array.prototype.slice.call(document.images);"
          "var ok=im.filter(function(i){return i.complete&&i.naturalWidth>0;}).length;"
          "document.body.setAttribute('data-images-decoded',ok+'/'+im.length);});")


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">'


def _table(headers, rows) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers) if any(headers) else ""
    body = "".join("<tr>" + "".join(f"<td>{c if isinstance(c, _Raw) else escape(_fmt(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table>{f'<thead><tr>{head}</tr></thead>' if head else ''}<tbody>{body}</tbody></table>"


class _Raw(str):
    """Table cell content that is already HTML."""


def _fmt(v) -> str:
    if v is None:
        return "not measured"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _pct(v) -> str:
    return "not measured" if v is None else f"{100 * v:.2f} %"


def _status(images, mismatches, stale: bool = False) -> _Raw:
    if images is None:
        return _Raw('<span class="na">not run</span>')
    if stale:
        return _Raw(f'<span class="na">stale: {images} images, RTL older than the bundle</span>')
    if mismatches:
        return _Raw(f'<span class="bad">{mismatches} mismatches in {images} images</span>')
    return _Raw(f'<span class="ok">bit-exact on {images} images</span>')


def _stem_pixel_map(bundle) -> np.ndarray | None:
    """Fraction of zero stem weights at each input pixel, when the stem is fc on an image."""
    stem = bundle.layers[0]
    w = np.asarray(stem.weight)
    if w.ndim != 2:
        return None
    shape = bundle.input.shape
    zero = (w == 0).mean(axis=0)
    if len(shape) == 3:
        return zero.reshape(shape).mean(axis=0)
    side = int(round(np.sqrt(len(zero))))
    return zero.reshape(side, side) if side * side == len(zero) else None


# ---------------------------------------------------------------------------------------------
# Sections


def _summary(a: dict, command: str) -> str:
    v = a["verification"]
    hw = a["hardware"]
    fg = v.get("float_vs_golden", {})
    rtl = v.get("rtl_benchmark") or v.get("rtl") or {}
    hls = v.get("hls_benchmark") or v.get("hls") or {}
    rows = [
        ("data set", a.get("dataset") or "unknown"),
        ("time steps T", a["network"]["T"]),
        ("parameters (weights)", a["network"]["parameters"]),
        ("float accuracy", _pct(fg.get("float_accuracy")) + (f" ({fg['images']:,} images)" if fg else "")),
        ("golden (integer) accuracy", _pct(fg.get("golden_accuracy")) + (f" ({fg['images']:,} images)" if fg else "")),
        ("golden accuracy on the vector file", f"{_pct(v['vectors']['golden_accuracy'])} ({v['vectors']['images']:,} images)"),
        ("RTL (Verilator)", _status(rtl.get("images"), rtl.get("mismatches"), rtl.get("stale", False))),
        ("HLS (hls4ml C simulation)", _status(hls.get("images"), hls.get("mismatches"))),
        ("cycles per inference (estimate)", hw["cycles_per_inference"]),
        ("synaptic operations per inference", round(a["ops"]["sops"])),
        ("energy per inference (integer arithmetic, estimate)", f"{a['energy']['integer_pj'] / 1e3:,.2f} nJ"),
    ]
    return (_table(("", ""), rows)
            + f'<p class="note">Regenerate: <code>{escape(command)}</code>. Run folder <code>{escape(a["run"])}</code>, '
              f'bundle sha256 <code>{a["bundle_sha256"][:16]}</code>; trace statistics from the first '
              f'{a["images"]:,} images of <code>vectors.npz</code>.</p>')


def _network(a: dict) -> str:
    net = a["network"]
    rows = []
    for layer in net["layers"]:
        rows.append((layer["name"], layer["kind"], _dims(layer["in_shape"]), _dims(layer["out_shape"]),
                     layer["weights"], layer.get("neuron", "-"), layer["parameters"], _pct(layer["zero_fraction"])))
    return (diagram.network_svg(net)
            + _table(("layer", "kind", "input", "output", "weights", "neuron", "weights", "zero"), rows))


def _dims(shape) -> str:
    return "\u00d7".join(str(d) for d in shape)


def _training(a: dict) -> str:
    t = a["training"]
    if not t:
        return '<p><span class="na">not measured</span> no <code>metrics.json</code> in the run folder.</p>'
    desc = ", ".join(f"{k} {t[k]}" for k in ("dataset", "arch", "neuron", "mode", "T", "seed") if k in t)
    return (f"<p>{escape(desc)}; final test accuracy {_pct(t.get('test_accuracy'))} after "
            f"{len(t['epochs'])} epochs.</p>" + _img(figures.training_curves(t["epochs"]), "training curves"))


def _accuracy(a: dict) -> str:
    acc = a["accuracy_vs_t"]
    rows = [(f"1..{t + 1}", _pct(x)) for t, x in enumerate(acc)]
    return (f"<p>The golden model's class when the readout's scores are summed over the first <i>t</i> steps only, "
            f"on the first {a['images']:,} vector images (the model itself sums all T = {a['network']['T']}).</p>"
            + _img(figures.accuracy_vs_t(acc), "accuracy against time step") + _table(("steps summed", "accuracy"), rows))


def _spikes(a: dict) -> str:
    s = a["spikes"]
    rows = [(name, v["outputs"], *[_pct(x) for x in v["nonzero_fraction"]]) for name, v in s.items()]
    T = a["network"]["T"]
    return ("<p>Fraction of each HD-LIF layer's output codes that are non-zero (after pooling: what the next layer "
            "reads), and the mean graded code, per time step, from the golden trace.</p>"
            + _img(figures.spike_rates(s), "spike rate per layer and time step")
            + _table(("layer", "outputs", *[f"t={t + 1}" for t in range(T)]), rows))


def _weights(a: dict, bundle) -> str:
    net = a["network"]
    rows = [(l["name"], l["weights"], l["parameters"], l["zero_weights"], _pct(l["zero_fraction"]),
             l["outputs_without_inputs"], l.get("inputs_without_outputs", "-")) for l in net["layers"]]
    layers = [(layer.name, np.asarray(layer.weight), layer.weights) for layer in bundle.layers]
    return ("<p>Ternary weights are zero where training pushed them below the threshold; the hardware as generated "
            "still schedules them (a dense schedule; <code>make rtl</code> with <code>--skip-zero-weights</code> "
            "drops only all-zero blocks). The synaptic-operation count below skips them.</p>"
            + _img(figures.zero_weights(layers, _stem_pixel_map(bundle)), "zero weights")
            + _table(("layer", "weights", "count", "zero", "zero %", "outputs with no input", "inputs with no output"),
                     rows))


def _operations(a: dict) -> str:
    ops, en = a["ops"], a["energy"]
    rows = [(r["name"], r["weights"], round(r["sops"]), r["dense_macs"],
             _pct(r["sops"] / r["dense_macs"]) if r["dense_macs"] else "-", r["neuron_updates"]) for r in ops["layers"]]
    rows.append(("total", "", round(ops["sops"]), ops["dense_macs"],
                 _pct(ops["sops"] / ops["dense_macs"]) if ops["dense_macs"] else "-", ops["neuron_updates"]))
    e_rows = [("integer arithmetic of this hardware", f"{en['integer_pj'] / 1e3:,.3f} nJ",
               f"synapses {en['integer_synapse_pj'] / 1e3:,.3f} nJ, neurons and readout {en['integer_neuron_pj'] / 1e3:,.3f} nJ",
               en["sources"]["integer"]),
              ("SNN-literature convention", f"{en['float_convention_pj'] / 1e3:,.3f} nJ",
               f"stem MACs {en['float_mac_pj'] / 1e3:,.3f} nJ, accumulates {en['float_ac_pj'] / 1e3:,.3f} nJ",
               en["sources"]["float_convention"])]
    hw = a["hardware"]
    return (f"<p>{escape(ops['counted'])}; averaged over {ops['images']:,} images. The hardware as generated performs "
            f"{hw['mac_ops']:,} MAC-lane operations per inference (a dense schedule on {hw['mac_lanes']} lanes).</p>"
            + _img(figures.operations(ops["layers"]), "operations per layer")
            + _table(("layer", "weights", "synaptic ops", "dense MACs", "ratio", "neuron updates"), rows)
            + "<h3>Energy estimate</h3>"
            + _table(("model", "per inference", "parts", "per-operation energies"), e_rows)
            + f'<p class="note">{escape(en["scope"])}; an estimate from operation counts, not a measurement.</p>')


def _cycles(a: dict) -> str:
    hw = a["hardware"]
    eng = hw["engine_cycles_per_image"]
    rows = [(l["name"], l["kind"], l["folding"], l["mac_lanes"], l["beats_per_item"],
             max(v for k, v in eng.items() if k == l["name"] or k.startswith(l["name"] + "_")))
            for l in hw["layers"]]
    meas = hw["measured"].get("benchmark", {})
    extra = (f" Measured in Verilator: {meas['cycles_per_inference']:,.0f} cycles per inference."
             if meas.get("cycles_per_inference") else "")
    return (f"<p>The generator's estimate for {escape(hw['source'])}: {hw['cycles_per_inference']:,} cycles per "
            f"inference in steady state (the slowest engine sets it), latency {hw['latency_cycles']:,}, ideal "
            f"{hw['ideal_cycles']:,}.{escape(extra)}</p>"
            + _img(figures.cycles_per_layer(eng, hw["cycles_per_inference"], hw["ideal_cycles"]), "cycles per layer")
            + _table(("layer", "kind", "folding PExSIMD/NL", "MAC lanes", "beats per item", "cycles per image"), rows))


def _resources(a: dict) -> str:
    hw = a["hardware"]
    parts = hw["resources_per_block"]
    rows = [(k, v.get("luts", 0), v.get("ffs", 0), v.get("brams", 0), v.get("dsps", 0)) for k, v in parts.items()]
    r = hw["resources"]
    rows.append(("total (with pass-through LUTs)", r["luts"], r["ffs"], r["brams"], r["dsps"]))
    meas_rows = [(name, m.get("device"), m.get("luts"), m.get("ffs"), m.get("brams"), m.get("dsps"), m.get("fmax_mhz"))
                 for name, m in hw["measured"].items() if m.get("luts") is not None]
    measured = (_table(("build", "device", "LUTs", "FFs", "BRAMs", "DSPs", "Fmax MHz"), meas_rows) if meas_rows else
                '<p><span class="na">not measured</span> no synthesis report for this bundle '
                '(<code>make bitstream</code> or the accelerator benchmark).</p>')
    return ("<p>ECP5 resources per block, the generator's estimate (fitted to nextpnr) for the same folding.</p>"
            + _img(figures.per_block(parts), "resources per block")
            + _table(("block", "LUTs", "FFs", "BRAMs (DP16KD)", "DSPs"), rows)
            + "<h3>Synthesized (yosys + nextpnr)</h3>" + measured)


def _verification(a: dict) -> str:
    v = a["verification"]
    rows = []
    fg = v.get("float_vs_golden")
    rows.append(("float vs golden (export / eval)", fg["images"] if fg else "-",
                 _Raw(f"agreement {_pct(fg['agreement'])}") if fg else _status(None, None),
                 fg["source"] if fg else "-"))
    for key, title in (("rtl", "RTL in Verilator (make sim)"), ("rtl_benchmark", "RTL in Verilator (benchmark)"),
                       ("hls", "hls4ml C simulation (make hls)"), ("hls_benchmark", "hls4ml C simulation (benchmark)")):
        e = v.get(key)
        rows.append((title, e["images"] if e else "-",
                     _status(e["images"], e["mismatches"], e.get("stale", False)) if e else _status(None, None),
                     e["source"] if e else "-"))
    details = [d for key in ("rtl", "rtl_benchmark") for d in (v.get(key) or {}).get("mismatch_details", [])]
    return ("<p>Every checker compares against the golden model's vectors (scores per step and class, classes), "
            "bit for bit; a mismatch names the image, layer, step and neuron.</p>"
            + _table(("check", "images", "status", "source"), rows)
            + ("<h3>First mismatches</h3><ul>" + "".join(f"<li><code>{escape(str(d))}</code></li>" for d in details)
               + "</ul>" if details else ""))


def render(a: dict, bundle, *, command: str) -> str:
    """The page's HTML for the analysis ``a`` of a run and its ``bundle``."""
    body = {"summary": _summary(a, command), "network": _network(a), "training": _training(a),
            "accuracy": _accuracy(a), "spikes": _spikes(a), "weights": _weights(a, bundle),
            "operations": _operations(a), "cycles": _cycles(a), "resources": _resources(a),
            "verification": _verification(a)}
    nav = "".join(f'<a href="#{sid}">{escape(title)}</a>' for sid, title in SECTIONS)
    sections = "".join(f'<section id="{sid}"><h2>{escape(title)}</h2>{body[sid]}</section>' for sid, title in SECTIONS)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{escape(a['name'])}: HD-LIF "
            f"accelerator report</title><style>{CSS}</style><script>{SCRIPT}</script></head><body>"
            f"<h1>{escape(a['name'])}</h1><p class=\"note\">HD-LIF network report: training, integer model, "
            f"accelerator, verification.</p><nav>{nav}</nav>{sections}"
            f"<script type=\"application/json\" id=\"analysis\">{_json_for_script(a)}</script></body></html>\n")


def _json_for_script(a: dict) -> str:
    return json.dumps(a, sort_keys=True).replace("</", "<\\/")


def write_report(run: Path, out: Path, *, images: int = analysis.DEFAULT_IMAGES, build: Path | None = None,
                 results: Path = analysis.RESULTS, command: str | None = None) -> dict:
    """Analyse ``run`` and write its page to ``out`` atomically; returns the analysis."""
    a = analysis.analyse(run, images=images, build=build, results=results)
    bundle, _ = analysis.load_run(run)
    html = render(a, bundle, command=command or f"make report MODEL={run}")
    write_text_atomic(out, html)
    return a
