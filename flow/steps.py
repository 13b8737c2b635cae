"""The flow's steps.  Each takes a run, writes its artifacts atomically and returns a report."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from golden import BundleError, load_bundle
from golden.atomic import atomic_folder, write_json_atomic
from golden.bundle import bundle_hash

from .paths import TOP, build_dir, committed, run_dir


def say(msg: str, *, main_only: bool = False) -> None:
    if main_only and os.environ.get("RANK", "0") != "0":     # torchrun: rank 0 speaks for all
        return
    print(f"[hdlif] {msg}", flush=True)


#: train() keywords -> the command line's flag and the Makefile's variable (for messages).
SETTINGS = {"dataset": ("--dataset", "DATASET"), "data_dir": ("--data-dir", "DATA_DIR"), "arch": ("--arch", "ARCH"),
            "hidden": ("--hidden", "HIDDEN"), "T": ("--T", "T"), "epochs": ("--epochs", "EPOCHS"),
            "seed": ("--seed", "SEED"), "mode": ("--mode", "MODE"), "neuron": ("--neuron", "NEURON"),
            "batch_size": ("--batch-size", "BATCH"), "lr": ("--lr", "LR"), "augment": ("--augment", "AUGMENT"),
            "crop_pad": ("--crop-pad", "CROP_PAD"), "parallel_ratio": ("--parallel-ratio", "PARALLEL"),
            "seca": ("--seca", "SECA"), "shortcut": ("--shortcut", "SHORTCUT"), "head": ("--head", "HEAD"),
            "membrane_frac": ("--membrane-frac", "MEMBRANE_FRAC")}


def _setting(key: str) -> str:
    return SETTINGS[key][1] if key in SETTINGS else key


def _same(key: str, given, stored) -> bool:
    if key == "data_dir" and given is not None and stored is not None:
        return Path(given).resolve() == Path(stored).resolve()
    if key == "dataset":
        from training.data import ALIASES

        return ALIASES.get(given, given) == stored
    if key == "lr":
        return float(given) == float(stored)
    return given == stored


def resume_settings(model: str, given: dict) -> dict:
    """The settings of a resumed run: its stored ones, with ``given`` (what the command line
    said) refused where it differs from them (``epochs`` may grow: that is what resuming is for)."""
    stored = train_settings(model)
    given = dict(given)
    hidden = given.pop("hidden", None)
    if hidden is not None and "arch" not in given:
        arch = "mlp:" + ",".join(str(h) for h in hidden)
        if arch != stored.get("arch"):
            raise ValueError(f"{run_dir(model)}: HIDDEN={','.join(map(str, hidden))} differs from the run's "
                             f"arch {stored.get('arch')}: a resumed run keeps its settings (leave HIDDEN out, "
                             f"or train a new run)")
    for key, value in given.items():
        if key in ("epochs", "resume", "force") or key not in stored:
            continue
        if not _same(key, value, stored[key]):
            raise ValueError(f"{run_dir(model)}: {_setting(key)}={value} differs from the run's "
                             f"{_setting(key)}={stored[key]}: a resumed run keeps its settings "
                             f"(leave {_setting(key)} out, or train a new run)")
        given[key] = stored[key]
    return {**stored, **given}


def train(model: str, *, force: bool = False, **kw) -> dict:
    """Train a run (``training.train.train``).  With ``resume`` the run's stored settings fill in
    what ``kw`` leaves out and a differing one is refused (:func:`resume_settings`); without it a
    run folder that already holds a checkpoint is refused unless ``force``."""
    from training.train import TrainingInterrupted, train as train_run

    run = run_dir(model)
    if _imported(model):
        raise ValueError(f"{run}: an imported NIR graph (import.json), not a trained run: choose another MODEL to "
                         f"train (or remove the folder)")
    if kw.get("resume"):                 # what the command line does not say, the run's checkpoint does
        kw = {**resume_settings(model, kw), "resume": True}
    elif (run / "checkpoint.pt").exists() and not force:
        raise ValueError(f"{run}: already a trained run (checkpoint.pt); RESUME=1 (--resume) continues it, "
                         f"FORCE=1 (--force) trains it again from scratch, or choose another MODEL")
    arch = kw.get("arch") or "mlp:" + ",".join(str(h) for h in kw.get("hidden", (128,)))
    say(f"train {model}: {arch} {kw.get('neuron', 'hdlif')}, {kw.get('mode', 'online')}, T={kw.get('T', 4)}, "
        f"{kw.get('epochs', 30)} epochs{' (resumed)' if kw.get('resume') else ''}", main_only=True)
    try:
        return train_run(run, **kw)
    except TrainingInterrupted as e:                     # one line saying how to go on; exit 130
        if os.environ.get("RANK", "0") == "0":
            again = f"make train MODEL={model}{' FORCE=1' if (run / 'checkpoint.pt').exists() else ''}"
            print(f"[hdlif] {e.message(resume=f'make train MODEL={model} RESUME=1', again=again)}",
                  file=sys.stderr, flush=True)
        raise


def train_settings(model: str) -> dict:
    """The settings a run was trained with (the defaults of ``train --resume``)."""
    from training.train import stored_settings

    return stored_settings(run_dir(model))


def _imported(model: str) -> bool:
    """Whether the run is an imported NIR graph (``make import``: ``import.json``, no checkpoint)."""
    from nir_io import is_imported

    return is_imported(run_dir(model))


def import_nir(model: str, nir: str, *, dataset: str = "digits", data_dir: str | None = None, T: int | None = None,
               dt: float | None = None, reset: str | None = None, weights: str = "int8", framework: str = "snntorch",
               force: bool = False, command: str | None = None) -> dict:
    """A NIR graph -> ``runs/<model>/``: the integer bundle, a copy of the graph, ``import.json``,
    ``eval.json`` (golden model against the framework's forward pass) and ``vectors.npz``
    (:mod:`nir_io`).  An existing run folder is replaced only with ``force``."""
    from nir_io import import_graph

    run = run_dir(model)
    r = import_graph(nir, run, dataset=dataset, data_dir=data_dir, T=T, dt=dt, reset=reset, weights=weights,
                     framework=framework, force=force, command=command, say=say)
    say(f"import {model}: {r['framework']} accuracy {r['framework_accuracy']:.4f}, golden accuracy "
        f"{r['golden_accuracy']:.4f}, agreement {r['agreement']:.4f} ({r['agree']} of {r['images']} "
        f"{r['dataset']} test images) -> {run} (model/, graph.nir, import.json, eval.json, vectors.npz: "
        f"{r['vectors']} images)")
    if r["float_model_agreement"] < 1.0:
        say(f"import: the integer model's neuron in float64 (unquantized) agrees with {r['framework']} on "
            f"{r['float_model_agreement']:.4f}: the rest of the disagreement is the neuron, not the integers")
    for note in r["notes"]:
        say(f"import: note: {note}")
    return r


def export(model: str, *, data_dir: str | None = None) -> dict:
    from training.export import export as export_run

    if _imported(model):
        raise ValueError(f"{run_dir(model)}: an imported NIR graph (import.json) has no checkpoint to export; its "
                         f"bundle is model/ (make import NIR=... MODEL={model} FORCE=1 imports it again)")

    r = export_run(run_dir(model), data_dir=data_dir)
    say(f"export: float accuracy {r['float_accuracy']:.4f}, golden accuracy {r['golden_accuracy']:.4f}, "
        f"agreement {r['agreement']:.4f}")
    return r


#: what a re-check compares with the committed eval.json
EVAL_FIGURES = ("dataset", "images", "float_accuracy", "golden_accuracy", "agreement", "bundle_sha256")


def evaluate(model: str, *, dataset: str | None = None, limit: int | None = None, data_dir: str | None = None) -> dict:
    """Float vs golden accuracy and agreement on the test split -> ``<run>/eval.json``.

    ``data_dir`` (``DATA_DIR=``): where the dataset's files are.  A committed ``<run>/eval.json``
    (``bench/models/<name>``: git tracks it) is left as it is: the re-check goes to
    ``build/<run>/eval.json`` and says whether its figures agree with the committed ones."""
    from training.export import evaluate_run

    own = run_dir(model) / "eval.json"
    out = build_dir(model) / "eval.json" if committed(own) else own
    if _imported(model):                 # an imported NIR graph: its framework's forward pass, not a float model
        from nir_io import evaluate as evaluate_import

        r = evaluate_import(run_dir(model), dataset=dataset, limit=limit, data_dir=data_dir, path=out,
                            command=f"make eval MODEL={model}" + (f" DATASET={dataset}" if dataset else "")
                            + (f" DATA_DIR={data_dir}" if data_dir else ""))
        say(f"eval {model} (imported NIR graph) on {r['images']} {r['dataset']} test images: {r['framework']} "
            f"accuracy {r['framework_accuracy']:.4f}, golden accuracy {r['golden_accuracy']:.4f}, agreement "
            f"{r['agreement']:.4f} ({r['agree']} of {r['images']}) -> {out}")
    else:
        r = evaluate_run(run_dir(model), dataset=dataset, limit=limit, data_dir=data_dir, path=out)
        say(f"eval {model} on {r['images']} {r['dataset']} test images: float accuracy {r['float_accuracy']:.4f}, "
            f"golden accuracy {r['golden_accuracy']:.4f}, agreement {r['agreement']:.4f}, "
            f"golden model {r['golden_seconds']:.1f} s -> {out}")
    if out != own:
        try:
            old = json.loads(own.read_text())
        except (OSError, ValueError):
            old = {}
        differ = [f"{k} {r.get(k)} here, {old.get(k)} there" for k in EVAL_FIGURES if k in old and old[k] != r.get(k)]
        say(f"eval: {own} is committed and left as it is; this re-check "
            f"{'differs from it: ' + '; '.join(differ) if differ else 'agrees with its figures'}")
    return r


def vectors(model: str, *, n: int = 0, dataset: str | None = None, data_dir: str | None = None,
            force: bool = False) -> dict:
    """Write ``<run>/vectors.npz``: test images and the golden model's per-layer outputs.
    ``data_dir`` (``DATA_DIR=``): where the dataset's files are.  A committed vector file
    (``bench/models/<name>``: git tracks it; sim, hls and report read it) is rewritten only with
    ``force``."""
    from training.export import make_vectors

    out = run_dir(model) / "vectors.npz"
    if not force and committed(out):
        raise ValueError(f"{out}: committed (git tracks it), and make sim / hls / report read it as it is; "
                         f"FORCE=1 (--force) rewrites it")
    if _imported(model):                 # the data set recorded by the import
        from nir_io import make_vectors as import_vectors

        r = import_vectors(run_dir(model), n=n, dataset=dataset, data_dir=data_dir)
    else:
        r = make_vectors(run_dir(model), n=n, dataset=dataset, data_dir=data_dir)
    say(f"vectors {model}: {r['images']} images, golden accuracy {r['golden_accuracy']:.4f} -> {out}")
    return r


def _bundle_dir(model: str) -> Path:
    return run_dir(model) / "model"


def _folding_choice(lanes, fold: str | None):
    """``LANES=`` / ``FOLD=`` as the command line gives them -> ``from_bundle``'s ``lanes`` and
    ``folding`` (a comma list becomes one entry per layer)."""
    folding = [f.strip() for f in fold.split(",")] if fold else None
    if folding and len(folding) == 1:
        folding = folding[0]
    if isinstance(lanes, str) and "," in lanes:
        lanes = [n.strip() for n in lanes.split(",")]
    return lanes, folding


def rtl(model: str, *, lanes: int | str | None = None, fold: str | None = None, target: str | None = None,
        skip_zero_weights: bool = False, stem: str = "cache", skip_zero_spikes: bool = False,
        event: str | None = None, pixel_lanes: int = 1, skip_zero_pixels: bool | str = False,
        rom_logic_depth: int | None = None, carry_cells: str | None = None, int8_lanes: str = "logic") -> dict:
    """Generate the accelerator's Verilog into ``build/<run>/rtl/`` and print the estimate.

    The parallelism per layer comes from one of ``fold`` (``PExSIMD[/NL]``, one for all layers or
    a comma list in layer order, readout last), ``target`` (``area``, ``fastest`` or ``cycles=N``;
    a cycle count no folding meets is refused) or ``lanes`` (exactly that many MAC lanes per
    layer, or a comma list, one per layer; refused where a layer cannot have them); none of
    them: at most 16 lanes per layer.  See :mod:`rtl_gen.folding`.  ``stem`` is
    ``cache`` (the stem's sums once per image) or ``recompute`` (at every step, no cache RAM).
    ``skip_zero_spikes``: fc layers after the stem walk only their non-zero input words; with
    the run's vectors the estimate replays their images, each with its own counts of non-zero
    words (exact), and the folding's choice takes each layer's mean activity from them.
    ``event``: the conv layers (after the stem, stride 1) that are event-driven, a comma list,
    ``all`` or ``none`` (:mod:`rtl_gen.event_conv`: cycles follow the non-zero codes; such a
    layer's ``simd`` covers its input channels), or ``auto`` (the default): a folding search
    (``target``) makes a layer event-driven where that is the cheaper way to its goal, while
    ``fold`` / ``lanes`` layers stay dense unless their folding ends in ``e``.  Their activity
    and the estimate come from the run's vectors (without: every code non-zero).  The estimate
    prints the worst case (every input non-zero) beside the expected cycles.  ``pixel_lanes``:
    pixels per beat of the ``pixels`` stream (an fc stem whose ``simd`` it divides; the loader
    then takes ``features / pixel_lanes`` clocks per image, and ``make sim`` drives it so).
    ``skip_zero_pixels``: an fc stem walks only the pixel words that hold a non-zero pixel (the
    loader lists them; ``True`` or ``"words"``), or each of its ``simd`` lanes walks its own list
    of non-zero pixels (``"lanes"``, any ``simd``); with the run's vectors the estimate replays
    their images.  ``rom_logic_depth``: ROMs of at most that many words become LUT logic,
    deeper ones block RAM (None: the default, :data:`rtl_gen.config.ROM_LOGIC_DEPTH`).
    ``carry_cells``: ``"ecp5"`` builds the event-driven layers' adders and the 8-bit multipliers'
    first adders from hand-placed ECP5 carry cells (:mod:`rtl_gen.carry`; ``make bitstream``'s
    ECP5 flow; refused where the network has neither).  ``int8_lanes``: ``"dsp"`` multiplies the
    8-bit weights' lanes (the stem's, the classifier's) in a multiplier block each instead of LUTs
    (refused where the network has no 8-bit weights).
    """
    from golden.graph import Graph, load_model
    from rtl_gen.folding import from_bundle

    bdir = _bundle_dir(model)
    lanes, folding = _folding_choice(lanes, fold)
    bundle = load_model(bdir)
    if isinstance(bundle, Graph):
        return _rtl_graph(model, bundle, lanes=lanes, folding=folding, target=target,
                          skip_zero_weights=skip_zero_weights, stem=stem, skip_zero_spikes=skip_zero_spikes,
                          event=event, pixel_lanes=pixel_lanes, skip_zero_pixels=skip_zero_pixels,
                          rom_logic_depth=rom_logic_depth, carry_cells=carry_cells, int8_lanes=int8_lanes)
    from rtl_gen.config import ROM_LOGIC_DEPTH, event_layers

    roms = dict(rom_logic_depth=ROM_LOGIC_DEPTH if rom_logic_depth is None else rom_logic_depth,
                carry_cells=carry_cells, int8_lanes=int8_lanes)

    auto = event in (None, "auto")
    event = "auto" if auto else event_layers(bundle, event)
    eligible = sorted(event_layers(bundle, "all"))
    activity = None
    if (skip_zero_spikes or skip_zero_pixels or (eligible and (auto or event))) and \
            (run_dir(model) / "vectors.npz").is_file():
        from golden.vectors import load_vectors
        from rtl_gen.folding import input_activity, resolve

        vec = load_vectors(run_dir(model) / "vectors.npz", bdir)
        activity = {}
        if skip_zero_spikes:
            foldings = resolve(bundle, lanes=lanes, folding=folding, target=target, stem=stem,
                               pixel_lanes=pixel_lanes, **roms)
            activity = input_activity(bundle, foldings, vec)
            say(f"rtl: non-zero input words per fc layer (from the vectors): "
                f"{', '.join(f'{k} {v:.2f}' for k, v in activity.items())}")
        if skip_zero_pixels:
            from rtl_gen.folding import pixel_activity

            foldings = resolve(bundle, lanes=lanes, folding=folding, target=target, stem=stem,
                               pixel_lanes=pixel_lanes, skip_zero_pixels=skip_zero_pixels, **roms)
            px = pixel_activity(bundle, foldings, vec, skip_zero_pixels)
            activity.update(px)
            what = ("the stem's longest lane list of non-zero pixels, a share of its words" if skip_zero_pixels == "lanes"
                    else "non-zero pixel words of the stem")
            say(f"rtl: {what} (from the vectors): "
                f"{', '.join(f'{k} {v:.2f}' for k, v in px.items())}")
        if eligible and (auto or event):
            from rtl_gen.folding import code_activity

            codes = code_activity(bundle, vec)
            names = eligible if auto else sorted(event)
            activity.update({k: codes[k] for k in names})
            say(f"rtl: non-zero input codes per {'conv layer that may be' if auto else 'layer'} event-driven "
                f"(from the vectors): {', '.join(f'{k} {codes[k]:.2f}' for k in names)}")
    cfg = from_bundle(bundle, lanes=lanes, folding=folding, target=target, skip_zero_weights=skip_zero_weights,
                      stem=stem, skip_zero_spikes=skip_zero_spikes, activity=activity, event=event,
                      pixel_lanes=pixel_lanes, skip_zero_pixels=skip_zero_pixels, **roms)
    events = None
    if activity is not None:
        from rtl_gen.estimate import item_events

        events = item_events(cfg, load_vectors(run_dir(model) / "vectors.npz", bdir))
    say(f"rtl {bundle.name}: {len(cfg.layers)} HD-LIF layer(s) + readout, folding "
        f"{' '.join(f'{k}={v}' for k, v in cfg.foldings.items())}")
    return _write_rtl(model, cfg, events)


def _rtl_graph(model: str, graph, *, lanes, folding, target, skip_zero_weights: bool, stem: str,
               skip_zero_spikes: bool, event, pixel_lanes: int = 1, skip_zero_pixels: bool = False,
               rom_logic_depth: int | None = None, carry_cells: str | None = None,
               int8_lanes: str = "logic") -> dict:
    """``make rtl`` of a residual network (:mod:`rtl_gen.graph`): MAC lanes or foldings per
    synaptic engine; the options a graph's engines do not take yet are refused, not ignored."""
    from rtl_gen.graph import from_graph

    for given, what in ((target, "TARGET= (a folding search)"), (skip_zero_weights, "skipping zero weights"),
                        (skip_zero_spikes, "skipping zero spikes"),
                        (event not in (None, "auto", "none"), "event-driven layers (EVENT=)"),
                        (pixel_lanes != 1, f"PIXEL_LANES={pixel_lanes} (its conv stem takes one pixel a beat)"),
                        (skip_zero_pixels, f"skipping zero pixels (SKIP_ZERO_PIXELS={skip_zero_pixels})"),
                        (rom_logic_depth is not None, f"ROM_LOGIC_DEPTH={rom_logic_depth}"),
                        (carry_cells, f"CARRY_CELLS={carry_cells}"),
                        (int8_lanes != "logic", f"INT8_LANES={int8_lanes}")):
        if given:
            raise ValueError(f"{_bundle_dir(model)}: a residual network (graph); {what} is not available for graphs "
                             f"yet: choose LANES= or FOLD= (one PExSIMD[/NL] per synaptic engine, readout last)")
    cfg = from_graph(graph, lanes=lanes, folding=folding, stem=stem)
    kinds = sum(1 for layer in cfg.layers if layer.has_neurons), sum(1 for layer in cfg.layers if not layer.has_neurons)
    say(f"rtl {graph.name}: a residual network, {kinds[0]} HD-LIF engine(s), {kinds[1]} shortcut engine(s) + readout, "
        f"{sum(1 for layer in cfg.layers if layer.stream is not None)} current frame(s); folding "
        f"{' '.join(f'{k}={v}' for k, v in cfg.foldings.items())}")
    return _write_rtl(model, cfg, None)


def _write_rtl(model: str, cfg, events) -> dict:
    """Print the estimate and write the Verilog, manifest and ``rtl.json`` (atomically)."""
    from rtl_gen.emit import describe, emit, estimate_lines

    bdir = _bundle_dir(model)
    desc = describe(cfg, events)
    for line in estimate_lines(desc):
        say(f"  {line}")
    out = build_dir(model) / "rtl"
    with atomic_folder(out) as tmp:
        d = emit(cfg, tmp, top=TOP, events=events)
        est = d["estimate"]
        report = {"top": TOP, "verilog": str(out / f"{TOP}.v"), "manifest": str(out / "interface.json"),
                  "bundle": str(bdir), "bundle_sha256": bundle_hash(bdir), "lanes": list(cfg.lanes),
                  "pixel_lanes": cfg.pixel_lanes,
                  "folding": cfg.foldings, "estimated_cycles": est["cycles_per_inference"],
                  "estimated_latency": est["latency_cycles"], "ideal_cycles": est["ideal_cycles"],
                  "estimate": est, "resources": d["resources"]}
        write_json_atomic(tmp / "rtl.json", report)
    say(f"rtl: {out / (TOP + '.v')} (interface.json, lint.json: no latches, undriven nets or unsynthesizable code)")
    return report


def _rtl_report(model: str) -> dict:
    path = build_dir(model) / "rtl" / "rtl.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (generate the RTL first: make rtl MODEL={model})")
    report = json.loads(path.read_text())
    bdir = _bundle_dir(model)
    if report.get("bundle_sha256") != bundle_hash(bdir):
        raise BundleError(f"{path}: generated from an older version of {bdir} (re-run make rtl MODEL={model})")
    return report


def sim(model: str, *, n: int = 0, backpressure: bool = False, seed: int = 1, waves: bool = False,
        coverage: bool = False, trace: bool = False) -> dict:
    """Run the generated Verilog under Verilator on the test vectors; bit-exact or it fails.

    ``waves`` writes ``build/<run>/sim/dump.fst``; ``coverage`` a Verilator coverage report
    (``coverage.dat``, ``coverage.info`` and the annotated sources in ``coverage/``); ``trace``
    checks every layer's output codes too, so a mismatch names the first layer that differs.
    """
    from golden.vectors import load_vectors
    from sim.accelerator_tb import simulate

    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"N={n!r}: the number of images to check must be a whole number >= 0 (0: all of them)")
    rtl_report = _rtl_report(model)
    vectors = run_dir(model) / "vectors.npz"
    vec = load_vectors(vectors, _bundle_dir(model))
    if n > len(vec["images"]):
        raise ValueError(f"N={n}: {vectors} holds {len(vec['images'])} images (make vectors MODEL={model} N={n} "
                         f"first, or N=0 for all of them)")
    count = n or len(vec["images"])
    say(f"sim: verilating and streaming {count} test images through {TOP} "
        f"({'random idle/backpressure' if backpressure else 'full rate'}"
        f"{', FST waves' if waves else ''}{', coverage' if coverage else ''}) ...")
    out = build_dir(model) / "sim"
    manifest = rtl_report.get("manifest")
    layers = json.loads((Path(rtl_report["verilog"]).parent / "config.json").read_text())["trace"] if trace else None
    report = simulate(Path(rtl_report["verilog"]), TOP, vectors, out, n=n, seed=seed,
                      backpressure=backpressure, waves=waves, coverage=coverage,
                      manifest=Path(manifest) if manifest else None, trace=layers,
                      pixel_lanes=rtl_report.get("pixel_lanes", 1))
    report["estimated_cycles"] = rtl_report["estimated_cycles"]
    report["estimated_latency"] = rtl_report.get("estimated_latency")
    write_json_atomic(out / "sim.json", report)
    say(f"sim: {report['images']} images checked, {report['mismatches']} mismatches, "
        f"{report['cycles_per_inference']:.0f} cycles per inference (estimate {report['estimated_cycles']}), "
        f"latency {report['latency_cycles']:.0f} (estimate {report['estimated_latency']})")
    if waves:
        say(f"sim: waves in {report['waves']}")
    if coverage:
        say(f"sim: coverage {report['coverage'].get('total', '?')}; annotated sources in {report['coverage']['annotated']}")
    return report


def hls(model: str, *, n: int = 0, part: str = "xcvu13p-flga2577-2-e", clock_period: float = 5.0) -> dict:
    """hls4ml projects under ``build/<run>/hls/``, C-simulated on the vectors -> ``report.json``."""
    from hls.convert import HLSOptions
    from hls.report import run_hls

    out = build_dir(model) / "hls"
    report = run_hls(run_dir(model), out, n=n, options=HLSOptions(part=part, clock_period=clock_period),
                     progress=lambda s: say(f"hls: {s}"))
    for name, p in report["projects"].items():
        say(f"hls: {name}: {p['vectors']} vectors, {p['mismatches']} mismatches, {p['seconds']:.1f} s")
    say(f"hls: report in {out / 'report.json'}")
    return report


def hls_synth(model: str, *, project: str = "network", cosim: bool = False, vsynth: bool = False) -> dict:
    """Vitis HLS synthesis (and Vivado with ``vsynth``) of one project written by ``hls``."""
    from hls.synth import synthesize

    path = build_dir(model) / "hls" / project
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: missing (write the projects first: make hls MODEL={model})")
    say(f"hls-synth: Vitis HLS on {path} (minutes to hours, depending on the network)")
    report = synthesize(path, cosim=cosim, vsynth=vsynth, log=lambda s: say(f"hls-synth: {s}"))
    say(f"hls-synth: report in {path / 'synth.json'}")
    return report


def bitstream(model: str, *, device: str = "25k", package: str | None = None, target_mhz: float = 50.0) -> dict:
    from fpga.ecp5 import Ecp5Target, build_bitstream

    rtl_report = _rtl_report(model)
    target = Ecp5Target(device=device, package=package, target_mhz=target_mhz)
    out = build_dir(model) / "fpga" / f"ecp5-{device}"
    say(f"bitstream: yosys synth_ecp5 + nextpnr-ecp5 + ecppack for {target.part} "
        f"(the first run of each tool compiles it, a minute or two)")
    report = build_bitstream(Path(rtl_report["verilog"]), TOP, out, target, progress=lambda s: say(f"  {s}"))
    fmax = "n/a (no register-to-register path)" if report["fmax_mhz"] is None else f"{report['fmax_mhz']:.1f} MHz"
    say(f"bitstream: {report['luts']} LUTs, {report['ffs']} FFs, {report['brams']} BRAMs, {report['dsps']} DSPs, "
        f"Fmax {fmax} -> {report['bitstream']}")
    return report


def board_bitstream(model: str, board: str, *, freq="auto", lanes=None, fold: str | None = None,
                    target: str | None = None, stem: str | None = None, baud: int = 115200) -> dict:
    """The network on a board (``fpga/boards.py``): UART host link, PLL clock, bitstream (or,
    for a Xilinx board, a Vivado project and a resource estimate) in ``build/<run>/fpga/<board>/``.

    The board build generates its own RTL from the bundle (the accelerator behind the board's
    UART top), not ``build/<run>/rtl``: ``lanes`` / ``fold`` / ``target`` / ``stem`` choose its
    folding as for :func:`rtl` (none of them: the board's own lanes).  The output says which
    folding it builds, and when ``build/<run>/rtl`` (``make rtl``) has another one."""
    from fpga.board_flow import build_board, build_vivado
    from fpga.boards import get_board
    from fpga.nextpnr import summary

    b = get_board(board)
    out = build_dir(model) / "fpga" / b.name
    lanes, folding = _folding_choice(lanes, fold)
    chosen = (f"FOLD={fold}" if fold else f"TARGET={target}" if target else f"LANES={lanes}" if lanes
              else f"the board's lanes, at most {b.lanes} per layer")
    say(f"bitstream: {b.title}, clock {freq if freq == 'auto' else f'{freq:g} MHz'}"
        f"{' (the first run of each YoWASP tool compiles it, a minute or two)' if b.family != 'xc7' else ''}")
    say(f"bitstream: generates its own RTL from {_bundle_dir(model)}: the accelerator behind the board's UART "
        f"top, folded by {chosen}{f', stem {stem}' if stem else ''} (not {build_dir(model) / 'rtl'})")
    build = build_vivado if b.family == "xc7" else build_board
    report = build(_bundle_dir(model), b, out, lanes=lanes, folding=folding, target=target, stem=stem or "cache",
                   freq=freq, baud=baud, progress=lambda s: say(f"  {s}"))
    simulated = build_dir(model) / "rtl" / "rtl.json"
    if simulated.is_file():
        other = json.loads(simulated.read_text()).get("folding")
        if other and other != report["folding"]:
            say(f"bitstream: note: {simulated.parent} (make rtl) has folding "
                f"{' '.join(f'{k}={v}' for k, v in other.items())}, this build "
                f"{' '.join(f'{k}={v}' for k, v in report['folding'].items())} "
                f"(give make bitstream the FOLD=/TARGET=/LANES= you gave make rtl to build that one)")
    print(summary(report))
    return report


def nir(model: str, *, out: str | None = None) -> Path:
    """The run's integer model as a NIR graph (:mod:`nir_io.export`) -> ``build/<run>/<run>.nir``.

    LIF networks only (a trained LIF baseline, an imported graph); HD-LIF is refused with the
    reason.  The graph goes back through ``make import`` (snnTorch's convention)."""
    from nir_io.export import write

    bundle = load_bundle(_bundle_dir(model))
    path = Path(out) if out else build_dir(model) / f"{run_dir(model).name}.nir"
    write(bundle, path)
    subtract = [l.name for l in bundle.hdlif_layers if l.reset == "subtract"]
    say(f"nir {model}: {len(bundle.hdlif_layers)} LIF layer(s) + {bundle.readout.mode} readout, T={bundle.T} "
        f"(graph metadata), dt=1e-4 (snnTorch's convention) -> {path}")
    if subtract:
        say(f"nir: layers {', '.join(subtract)} reset by subtraction, which NIR cannot express: their nodes carry "
            f"metadata reset: subtract (make import takes it; other readers reset to 0)")
    return path


def report(model: str, *, images: int = 500, out: str | None = None) -> Path:
    """One self-contained HTML page of the run (:mod:`report.html`) -> ``build/<run>/report.html``."""
    from report.html import write_report

    run = run_dir(model)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run folder (MODEL={model}: a name under runs/ or a path to a run folder)")
    path = Path(out) if out else build_dir(model) / "report.html"
    a = write_report(run, path, images=images, build=build_dir(model), command=f"make report MODEL={model}")
    say(f"report {model}: {len(a['network']['layers'])} layers, golden accuracy {a['accuracy_vs_t'][-1]:.4f} on "
        f"{a['images']} vector images, {a['ops']['sops']:,.0f} synaptic ops per inference -> {path}")
    return path


def demo(name: str = "demo", *, epochs: int = 30) -> dict:
    """The whole flow on the digits data (the run ``name`` is trained again from scratch); writes
    ``build/<name>/summary.json``.  :func:`demo_verdict` says whether it passed."""
    t0 = time.time()
    metrics = train(name, epochs=epochs, force=True)
    exp = export(name)
    rtl_r = rtl(name)
    sim_r = sim(name)
    synth = bitstream(name)
    summary = {
        "model": str(run_dir(name)),
        "train": {"dataset": metrics["dataset"], "accuracy": metrics["test_accuracy"], "epochs": epochs},
        "golden": {"accuracy": exp["golden_accuracy"], "agreement_with_float": exp["agreement"],
                   "images": exp["images"]},
        "rtl": {"verilog": rtl_r["verilog"], "estimated_cycles": rtl_r["estimated_cycles"]},
        "sim": {"images": sim_r["images"], "mismatches": sim_r["mismatches"],
                "cycles_per_inference": sim_r["cycles_per_inference"], "accuracy": sim_r["rtl_accuracy"]},
        "synth": {k: synth[k] for k in ("device", "luts", "ffs", "brams", "dsps", "fmax_mhz", "target_mhz",
                                        "timing_met", "bitstream", "sha256")},
        "seconds": round(time.time() - t0, 1),
    }
    out = build_dir(name) / "summary.json"
    summary["path"] = str(out)
    write_json_atomic(out, summary)
    return summary


def demo_verdict(s: dict) -> list[str]:
    """What failed in a demo summary: RTL that disagrees with the golden model, no image
    checked, or missed timing.  Empty when it passed."""
    problems = []
    sim_r, synth = s["sim"], s["synth"]
    if sim_r["mismatches"]:
        problems.append(f"the RTL mismatches the golden model on {sim_r['mismatches']} of {sim_r['images']} images")
    elif not sim_r["images"]:
        problems.append("the simulation checked no image")
    if not synth.get("timing_met"):
        fmax = "n/a" if synth.get("fmax_mhz") is None else f"{synth['fmax_mhz']:.1f} MHz"
        problems.append(f"timing missed on {synth['device']}: Fmax {fmax} < {synth['target_mhz']:g} MHz target")
    return problems


def print_summary(s: dict) -> None:
    sy = s["synth"]
    lines = [
        "",
        "HD-LIF digits accelerator: summary",
        f"  float model     test accuracy {s['train']['accuracy']:.4f}",
        f"  golden model    test accuracy {s['golden']['accuracy']:.4f} (agrees with float on "
        f"{100 * s['golden']['agreement_with_float']:.1f} % of {s['golden']['images']} images)",
        f"  Verilator RTL   {s['sim']['images']} images, {s['sim']['mismatches']} mismatches, "
        f"{s['sim']['cycles_per_inference']:.0f} cycles per inference",
        f"  {sy['device']:<15} {sy['luts']} LUTs, {sy['ffs']} FFs, {sy['brams']} BRAMs, {sy['dsps']} DSPs, "
        f"Fmax {'n/a' if sy['fmax_mhz'] is None else format(sy['fmax_mhz'], '.1f') + ' MHz'} "
        f"(target {sy['target_mhz']:g} MHz, timing {'met' if sy.get('timing_met') else 'MISSED'})",
        f"  bitstream       {sy['bitstream']}",
        f"  took {s['seconds']:.0f} s; summary in {s.get('path', 'build/demo/summary.json')}",
    ]
    print("\n".join(lines))
