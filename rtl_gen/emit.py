"""Amaranth -> Verilog for a whole accelerator, with its interface manifest, lint and estimates.

:func:`emit` writes into a folder::

    <top>.v          the Verilog
    interface.json   ports and streams, read back from the Verilog by pyverilog
    lint.json        the pyverilog lint (latches, undriven nets, unsynthesizable constructs)
    config.json      the folding of every layer, the cycle and resource estimates
"""

from __future__ import annotations

import json
from pathlib import Path

from amaranth.back import verilog

from .carry import WRAPPER
from .config import AcceleratorConfig
from .estimate import cycles, layer_lanes, resources
from .manifest import check, signed_ports_of
from .top import Accelerator


#: images of a vector file replayed for a zero-skipping estimate (each its own spike counts)
EVENT_IMAGES = 1000


def describe(cfg: AcceleratorConfig, events: dict | None = None) -> dict:
    """The folding and the estimates, as written to ``config.json`` and printed by the flow.

    ``events`` (:func:`rtl_gen.estimate.item_events` of a vector file) makes the estimate of a
    zero-skipping accelerator replay those images (the first :data:`EVENT_IMAGES`), each with
    its own counts of non-zero words; ``cycles_per_inference`` is then their mean interval,
    what a simulation of the same images measures."""
    if events:
        n = min(EVENT_IMAGES, min(len(v) for v in events.values()))
        est = cycles(cfg, images=max(n, 2), events=events)
        est = {**est, "cycles_per_inference": int(round(est["mean_interval"])), "event_images": n}
    else:
        est = cycles(cfg)
    dynamic = any(layer.synapse.event or layer.synapse.skip_zero_inputs for layer in list(cfg.layers) + [cfg.readout])
    if dynamic:
        # cycles that follow the data: the bound when every input is non-zero, for real-time sizing
        worst = cycles(cfg, worst=True)
        est = {**est, "worst_cycles_per_inference": worst["cycles_per_inference"],
               "worst_latency_cycles": worst["latency_cycles"]}
    res = resources(cfg)
    layers = []
    for layer in list(cfg.layers) + [cfg.readout]:
        syn = layer.synapse
        layers.append({"name": layer.name, "kind": "fc" if syn.is_fc else ("conv/event" if syn.event else "conv"),
                       "folding": str(syn.fold), "pe": syn.fold.pe, "simd": syn.fold.simd, "nl": syn.fold.nl,
                       "mac_lanes": layer_lanes(syn), "weights": syn.weight_kind,
                       # event-driven: the expected beats (non-zero codes x output folds)
                       "beats_per_item": est["ideal_per_layer"][layer.name] // cfg.T if syn.event
                       else syn.beats_per_item,
                       "event": syn.event, "once_per_image": layer is cfg.layers[0]})
    return {"name": cfg.name, "T": cfg.T, "pixel_lanes": cfg.pixel_lanes, "layers": layers, "lanes": list(cfg.lanes),
            "rom_logic_depth": cfg.readout.synapse.rom_logic_depth,
            "carry_cells": next((layer.synapse.carry_cells for layer in list(cfg.layers) + [cfg.readout]
                                 if layer.synapse.carry_cells), None),
            "int8_lanes": "dsp" if any(layer.synapse.int8_dsp for layer in list(cfg.layers) + [cfg.readout])
            else "logic",
            "estimate": est, "resources": res, "trace": trace_map(cfg)}


def uses_carry_cells(cfg: AcceleratorConfig) -> bool:
    """Whether the design instantiates hand-placed carry cells (:mod:`rtl_gen.carry`): its
    Verilog then ends with their wrapper module, and only that device family can build it."""
    return any(layer.synapse.carry_cells for layer in list(cfg.layers) + [cfg.readout])


def trace_map(cfg: AcceleratorConfig) -> list[dict]:
    """Where each HD-LIF layer's output codes are written: the instance of the next layer's input
    buffer and its layout, for testbenches that check every layer (``sim.accelerator_tb``); a
    graph's layers by their neuron nodes (the vector file's names), pooled ones left out."""
    out = []
    for layer in cfg.layers:
        if not layer.has_neurons or (cfg.neuron_nodes and layer.pooled):
            continue                    # a graph's vectors hold a neuron's codes before its pool
        o = layer.out
        syn = layer.synapse
        shape = [syn.out_channels, syn.out_height, syn.out_width] if not syn.is_fc else [syn.out_channels]
        out.append({"layer": cfg.neuron_nodes.get(layer.name, layer.name), "buffer": cfg.codes_buffer(layer.name),
                    "words": o.words, "simd": o.simd,
                    "code_bits": o.code_bits, "packed": o.packed, "cf": o.cf, "channels": o.channels,
                    "positions": o.positions, "shape": shape})
    return out


def estimate_lines(desc: dict) -> list[str]:
    """Human-readable lines of :func:`describe` (the generator prints them before any simulation)."""
    est, res = desc["estimate"], desc["resources"]
    lines = [f"{'layer':<12}{'kind':<11}{'folding':<10}{'lanes':>6}{'beats/item':>12}{'cycles/image':>14}"]
    eng = est["engine_cycles_per_image"]
    for layer in desc["layers"]:
        name = layer["name"]
        cyc = max(v for k, v in eng.items() if k == name or k.startswith(name + "_"))
        lines.append(f"{name:<12}{layer['kind']:<11}{layer['folding']:<10}{layer['mac_lanes']:>6}"
                     f"{layer['beats_per_item']:>12}{cyc:>14}")
    lines.append(f"estimated {est['cycles_per_inference']} cycles per inference (steady state), "
                 f"latency {est['latency_cycles']}, ideal {est['ideal_cycles']} "
                 f"({est['mac_ops']} MAC lane ops / {est['mac_lanes']} lanes)")
    if "worst_cycles_per_inference" in est:
        lines.append(f"worst case (every input non-zero): {est['worst_cycles_per_inference']} cycles per inference, "
                     f"latency {est['worst_latency_cycles']}")
    lines.append(f"resources (ECP5 estimate): {res['luts']} LUTs, {res['ffs']} FFs, {res['brams']} BRAMs, "
                 f"{res['dsps']} DSPs")
    return lines


def emit(cfg: AcceleratorConfig, out_dir: Path, *, top: str = "hdlif_accel", lint: bool = True,
         events: dict | None = None) -> dict:
    """Write the Verilog, manifest, lint and config of ``cfg`` into ``out_dir``; return config.json."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    accel = Accelerator(cfg)
    text = verilog.convert(accel, name=top)
    if uses_carry_cells(cfg):
        text += WRAPPER
    path = out_dir / f"{top}.v"
    path.write_text(text)
    desc = describe(cfg, events)
    if lint:
        check(text, top, out_dir, signed_ports=signed_ports_of(accel))
    (out_dir / "config.json").write_text(json.dumps(desc, indent=2) + "\n")
    return {**desc, "verilog": str(path), "manifest": str(out_dir / "interface.json")}
