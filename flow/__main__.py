"""``python -m flow STEP MODEL [options]``: the command line behind the Makefile."""

from __future__ import annotations

import argparse
import math
import re
import shlex
import sys

from . import steps

#: The Makefile variable behind each flag (named in error messages beside the flag).
MAKE_VARS = {flag: var for flag, var in steps.SETTINGS.values()} | {
    "--n": "N", "--lanes": "LANES", "--fold": "FOLD", "--target": "TARGET", "--stem": "STEM", "--board": "BOARD",
    "--pixel-lanes": "PIXEL_LANES", "--skip-zero-pixels": "SKIP_ZERO_PIXELS", "--rom-logic-depth": "ROM_LOGIC_DEPTH",
    "--carry-cells": "CARRY_CELLS", "--int8-lanes": "INT8_LANES",
    "--device": "DEVICE", "--freq": "FREQ", "--baud": "BAUD", "--project": "PROJECT", "--force": "FORCE",
    "--resume": "RESUME", "--waves": "WAVES", "--coverage": "COVERAGE", "--cosim": "COSIM", "--vsynth": "VSYNTH",
    "--nir": "NIR", "--model": "MODEL", "--dt": "DT", "--reset": "RESET", "--weights": "WEIGHTS",
    "--framework": "FRAMEWORK"}


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``error: --hidden (HIDDEN=) must be ...``, exit 2), no usage block."""

    def error(self, message):
        m = re.match(r"argument ([^:]+): (.*)", message, re.S)
        if m:
            flags, text = m.group(1), m.group(2)
            flag = flags.split("/")[-1]
            name = f"{flag} ({MAKE_VARS[flag]}=)" if flag in MAKE_VARS else flag
            choice = re.match(r"invalid choice: (.*) \(choose from (.*)\)$", text, re.S)
            if choice:
                text = f"must be one of {choice.group(2).replace(chr(39), '')}, not {choice.group(1)}"
            message = f"{name} {text}"
        self.exit(2, f"error: {' '.join(message.split())}\n")


def _number(kind, lowest, what: str, *, allow=()):
    """An argparse type: a number of ``kind`` (int or float) >= ``lowest`` (> 0 when ``lowest``
    is None), or one of the words in ``allow``; the message says what is allowed."""
    def parse(text: str):
        if text in allow:
            return text
        try:
            v = kind(text)
        except ValueError:
            v = None
        ok = v is not None and (kind is int or math.isfinite(v)) and (v > 0 if lowest is None else v >= lowest)
        if not ok:
            raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}")
        return v
    parse.__name__ = what
    return parse


COUNT = _number(int, 0, "a whole number >= 0 (0: all of them)")
POSITIVE = _number(int, None, "a whole number > 0")
NATURAL = _number(int, 0, "a whole number >= 0")
RATE = _number(float, None, "a number > 0")


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction of the layers in [0, 1] (0.5: every second neuron), "
                                         f"not {text!r}")
    return v
FREQ = _number(float, None, "a clock in MHz > 0, or auto (with BOARD=)", allow=("auto",))


def _hidden(text: str) -> list[int]:
    try:
        sizes = [int(h) for h in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(h <= 0 for h in sizes):
        raise argparse.ArgumentTypeError(f"must be hidden layer widths, whole numbers > 0 separated by commas "
                                         f"(128 or 256,128), not {text!r}")
    return sizes


def _dataset(text: str) -> str:
    from training.data import ALIASES, DATASETS

    name = ALIASES.get(text, text)
    if name not in DATASETS:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(DATASETS)} (or {', '.join(ALIASES)}), "
                                         f"not {text!r}")
    return name


def _given(parser, sub, argv) -> dict:
    """The options of ``sub`` that ``argv`` names, with their values (the defaults left out)."""
    unset = object()
    saved = {a.dest: a.default for a in sub._actions}
    sub.set_defaults(**{dest: unset for dest in saved})
    try:
        a = parser.parse_args(argv)
    finally:
        sub.set_defaults(**saved)
    return {k: v for k, v in vars(a).items() if v is not unset and k not in ("step", "model", "help")}


def _refuse(given: dict, keys: tuple, why: str) -> None:
    """A ValueError naming the first of ``keys`` the command line gave (flag and Makefile
    variable), and ``why`` it is refused."""
    for key in keys:
        if key in given:
            flag = "--" + key.replace("_", "-")
            raise ValueError(f"{flag}{f' ({MAKE_VARS[flag]}=)' if flag in MAKE_VARS else ''} {why}")


def main(argv=None) -> int:
    p = Parser(prog="python -m flow", description="HD-LIF network -> FPGA accelerator flow")
    sub = p.add_subparsers(dest="step", required=True)
    t = sub.add_parser("train", help="train an HD-LIF network (online)")
    t.add_argument("model")
    t.add_argument("--dataset", default="digits", type=_dataset)
    t.add_argument("--hidden", default="128", type=_hidden)
    t.add_argument("--T", type=POSITIVE, default=4)
    t.add_argument("--epochs", type=POSITIVE, default=30)
    t.add_argument("--seed", type=NATURAL, default=0)
    t.add_argument("--mode", default="online", choices=("online", "stbp"))
    t.add_argument("--data-dir", default=None, help="folder of the IDX files (mnist, fashion_mnist) or of the "
                                                    "CIFAR batches (cifar10, cifar100), or its parent")
    t.add_argument("--arch", default=None, help="mlp:128, vgg:16,p,32,p, resnet:16,32,64 (overrides --hidden)")
    t.add_argument("--neuron", default="hdlif", choices=("hdlif", "parallel", "membn", "lif"))
    t.add_argument("--parallel-ratio", type=_fraction, default=0.0,
                   help="fraction of the neurons made Parallel HD-LIF (resnet 0.5: every block's second)")
    t.add_argument("--seca", default="none", choices=("none", "I", "II"),
                   help="SECA in resnet blocks (fixed point: exported as the graph's seca nodes)")
    t.add_argument("--shortcut", default="spikes", choices=("spikes", "stream"),
                   help="resnet: the 1x1 shortcut conv reads the spikes, or the current stream (the authors' code)")
    t.add_argument("--head", default="spikes", choices=("spikes", "stream"),
                   help="resnet: the head pools a head neuron's spikes, or the stream (the authors' code)")
    t.add_argument("--membrane-frac", type=NATURAL, default=None,
                   help="resnet: train and evaluate in the integer graph's fixed point (membrane unit step / 2**N; "
                        "8 is export's), so that float and golden agree; default: float")
    t.add_argument("--batch-size", type=POSITIVE, default=32)
    t.add_argument("--lr", type=RATE, default=2e-3)
    t.add_argument("--augment", action="store_true", help="random crop (+ flip for Fashion-MNIST)")
    t.add_argument("--crop-pad", type=NATURAL, default=None,
                   help="--augment's random shift (default H // 7; 0: flips only)")
    t.add_argument("--resume", action="store_true",
                   help="continue the run with its own settings (a differing one given here is refused)")
    t.add_argument("--force", action="store_true", help="train an existing run again from scratch")
    x = sub.add_parser("export", help="fold the trained network into an integer bundle")
    x.add_argument("model")
    x.add_argument("--data-dir", default=None, help="folder of the data set's files (default: the run's own)")
    e = sub.add_parser("eval", help="float vs golden model on the test split -> <run>/eval.json")
    e.add_argument("model")
    e.add_argument("--dataset", default=None, type=_dataset, help="default: the run's own dataset")
    e.add_argument("--limit", type=POSITIVE, default=None, help="only the first N test images")
    e.add_argument("--data-dir", default=None, help="folder of the data set's files (default: the run's own, "
                                                    "else the dataset's default folders)")
    v = sub.add_parser("vectors", help="write <run>/vectors.npz for the RTL and HLS checkers")
    v.add_argument("model")
    v.add_argument("--n", type=COUNT, default=0, help="test images (0 = the whole test split)")
    v.add_argument("--dataset", default=None, type=_dataset)
    v.add_argument("--data-dir", default=None, help="folder of the data set's files (default: the run's own, "
                                                    "else the dataset's default folders)")
    v.add_argument("--force", action="store_true", help="rewrite a committed vector file (bench/models/...)")
    r = sub.add_parser("rtl", help="generate the accelerator's Verilog")
    r.add_argument("model")
    r.add_argument("--lanes", default=None,
                   help="exactly N MAC lanes per layer (1..4096), or a comma list, one per layer; a layer that "
                        "cannot have them is refused (default: at most 16 per layer)")
    r.add_argument("--fold", default=None, help="PExSIMD[/NL] for every layer, or a comma list in layer order")
    r.add_argument("--target", default=None,
                   help="'area', 'fastest', or 'cycles=N' (clocks per image; refused when no folding meets it)")
    r.add_argument("--skip-zero-weights", action="store_true", help="drop all-zero weight blocks from the schedule")
    r.add_argument("--skip-zero-spikes", action="store_true",
                   help="fc layers after the stem walk only their non-zero input words")
    r.add_argument("--stem", default="cache", choices=("cache", "recompute"),
                   help="the stem's sums cached once per image, or recomputed at every step (no cache RAM)")
    r.add_argument("--event", default="auto",
                   help="event-driven conv layers (cycles follow the non-zero codes): a comma list of layer "
                        "names, 'all' (every conv layer after the stem of stride 1), 'none', or 'auto' (default: "
                        "a --target search picks it where it is the cheaper way to the goal)")
    r.add_argument("--pixel-lanes", type=POSITIVE, default=1,
                   help="pixels per beat of the pixels stream (an fc stem whose simd it divides; default 1)")
    r.add_argument("--skip-zero-pixels", nargs="?", const="words", default="0", choices=("0", "1", "words", "lanes"),
                   help="an fc stem skips zero pixels: 'words' (or 1, or no value) walks only the pixel words that "
                        "hold a non-zero pixel; 'lanes': each of its simd lanes walks its own list of non-zero "
                        "pixels (any simd, e.g. FOLD=32x5/2,...); 0 (default): off")
    r.add_argument("--rom-logic-depth", type=NATURAL, default=None,
                   help="ROMs (weights, schedules, parameters) of at most this many words become LUT logic, deeper "
                        "ones block RAM (default 64; lower it where LUTs are short and block RAMs are not, 0: all "
                        "block RAM)")
    r.add_argument("--carry-cells", choices=("ecp5",), default=None,
                   help="the event-driven layers' adders and the 8-bit multipliers' first adders as hand-placed "
                        "carry cells of this FPGA family, with their operand logic in the cells' own LUTs (ecp5: make "
                        "bitstream; not for other devices)")
    r.add_argument("--int8-lanes", choices=("logic", "dsp"), default="logic",
                   help="where the lanes of 8-bit weights (the stem's, the classifier's) multiply: logic (default, "
                        "shift-add in LUTs, any device) or dsp (a multiplier block per lane: fewer LUTs where the "
                        "device has blocks to spare)")
    s = sub.add_parser("sim", help="Verilator + cocotb, bit-exact against the golden vectors")
    s.add_argument("model")
    s.add_argument("--n", type=COUNT, default=0, help="images to check (0 = the whole vector file)")
    s.add_argument("--backpressure", action="store_true")
    s.add_argument("--seed", type=NATURAL, default=1)
    s.add_argument("--waves", action="store_true", help="write an FST waveform (build/<run>/sim/dump.fst)")
    s.add_argument("--coverage", action="store_true", help="Verilator coverage report (build/<run>/sim/coverage/)")
    s.add_argument("--trace", action="store_true", help="check every layer's codes, not only the scores")
    b = sub.add_parser("bitstream", help="synthesize, place and route: a bare ECP5 part, or a board")
    b.add_argument("model")
    b.add_argument("--board", help="a board of fpga/boards.py (ulx3s, orangecrab, icebreaker, arty_a7_35t): "
                                   "the accelerator behind a UART host link, clocked by a PLL")
    b.add_argument("--device", default="25k")
    b.add_argument("--package", default=None, help="the device's own when left out (85k: CABGA381, else CABGA256)")
    b.add_argument("--freq", default=None, type=FREQ,
                   help="MHz; with --board also 'auto' (the default: the PLL set from the Fmax achieved)")
    b.add_argument("--lanes", type=NATURAL, default=0, help="with --board: accelerator lanes (0 = the board's)")
    b.add_argument("--fold", default=None, help="with --board: PExSIMD[/NL] for every layer, or a comma list "
                                                "(as make rtl FOLD=)")
    b.add_argument("--target", default=None, help="with --board: 'area', 'fastest' or 'cycles=N' (as make rtl TARGET=)")
    b.add_argument("--stem", default=None, choices=("cache", "recompute"), help="with --board: as make rtl STEM=")
    b.add_argument("--event", default=None, help="refused: make rtl EVENT= then make bitstream (no BOARD=) builds "
                                                 "event-driven layers; the board flow does not offer them yet")
    b.add_argument("--baud", type=POSITIVE, default=115200, help="with --board: UART baud rate")
    h = sub.add_parser("hls", help="hls4ml projects (network + each layer), C simulation on the vectors")
    h.add_argument("model")
    h.add_argument("--n", type=COUNT, default=0, help="images to check (0 = the whole vector file)")
    h.add_argument("--part", default="xcvu13p-flga2577-2-e")
    h.add_argument("--clock", type=RATE, default=5.0, help="clock period in ns")
    hs = sub.add_parser("hls-synth", help="Vitis HLS synthesis of an HLS project (needs AMD Vitis HLS)")
    hs.add_argument("model")
    hs.add_argument("--project", default="network")
    hs.add_argument("--cosim", action="store_true")
    hs.add_argument("--vsynth", action="store_true", help="export the IP and synthesize it in Vivado")
    rp = sub.add_parser("report", help="one self-contained HTML page of the run -> build/<run>/report.html")
    rp.add_argument("model")
    rp.add_argument("--images", type=POSITIVE, default=500, help="vector images the trace statistics use")
    rp.add_argument("--out", default=None, help="default: build/<run>/report.html")
    im = sub.add_parser("import", help="a NIR graph (snnTorch, SpikingJelly) -> an integer bundle in runs/<model>")
    im.add_argument("--nir", default=None, help="the NIR graph file (written by nir.write)")
    im.add_argument("--model", default=None, help="the run to write: a name under runs/ or a path")
    im.add_argument("--dataset", default="digits", type=_dataset, help="the data set the graph takes (calibration, "
                                                                     "agreement, vectors)")
    im.add_argument("--data-dir", default=None, help="folder of the IDX files (mnist, fashion_mnist) or of the "
                                                     "CIFAR batches (cifar10, cifar100), or its parent")
    im.add_argument("--T", type=POSITIVE, default=None, help="time steps (direct encoding; default: the graph's "
                                                             "metadata T, else 4)")
    im.add_argument("--dt", type=RATE, default=None, help="the step in seconds the neurons are discretised with "
                                                         "(default: inferred from the graph, e.g. r = tau / dt)")
    im.add_argument("--reset", default=None, choices=("value", "subtract"),
                    help="value: to NIR's v_reset; subtract: by the threshold (snnTorch's default, not in NIR); "
                         "default: the graph's (a node's metadata reset: subtract, else v_reset)")
    im.add_argument("--weights", default="int8", choices=("int8", "ternary"))
    im.add_argument("--framework", default="snntorch", choices=("snntorch", "spikingjelly"),
                    help="whose import convention (dt, fire, reset) and forward pass the import follows")
    im.add_argument("--force", action="store_true", help="replace an existing run folder")
    nx = sub.add_parser("nir", help="a LIF network's integer model as a NIR graph -> build/<run>/<run>.nir")
    nx.add_argument("model")
    nx.add_argument("--out", default=None, help="default: build/<run>/<run>.nir")
    d = sub.add_parser("demo", help="the whole flow on the digits data")
    d.add_argument("--name", default="demo")
    d.add_argument("--epochs", type=POSITIVE, default=30)
    a = p.parse_args(argv)
    try:
        if a.step == "train" and a.resume:
            if a.force:
                raise ValueError("--resume (RESUME=1) continues a run, --force (FORCE=1) trains it again: "
                                 "give one of them")
            # only what the command line says; the run's checkpoint says the rest (a differing one is refused)
            m = steps.train(a.model, **{k: v for k, v in _given(p, t, argv).items() if k != "force"})
            steps.say(f"train: test accuracy {m['test_accuracy']:.4f}", main_only=True)
        elif a.step == "train":
            m = steps.train(a.model, dataset=a.dataset, hidden=a.hidden,
                            T=a.T, epochs=a.epochs, seed=a.seed, mode=a.mode, data_dir=a.data_dir,
                            arch=a.arch, neuron=a.neuron, parallel_ratio=a.parallel_ratio, seca=a.seca,
                            shortcut=a.shortcut, head=a.head, membrane_frac=a.membrane_frac,
                            batch_size=a.batch_size, lr=a.lr, augment=a.augment, crop_pad=a.crop_pad,
                            force=a.force)
            steps.say(f"train: test accuracy {m['test_accuracy']:.4f}", main_only=True)
        elif a.step == "export":
            steps.export(a.model, data_dir=a.data_dir)
        elif a.step == "eval":
            steps.evaluate(a.model, dataset=a.dataset, limit=a.limit, data_dir=a.data_dir)
        elif a.step == "vectors":
            steps.vectors(a.model, n=a.n, dataset=a.dataset, data_dir=a.data_dir, force=a.force)
        elif a.step == "rtl":
            steps.rtl(a.model, lanes=a.lanes, fold=a.fold, target=a.target, skip_zero_weights=a.skip_zero_weights,
                      stem=a.stem, skip_zero_spikes=a.skip_zero_spikes, event=a.event, pixel_lanes=a.pixel_lanes,
                      skip_zero_pixels={"0": False, "1": True, "words": True}.get(a.skip_zero_pixels,
                                                                                 a.skip_zero_pixels),
                      rom_logic_depth=a.rom_logic_depth, carry_cells=a.carry_cells, int8_lanes=a.int8_lanes)
        elif a.step == "sim":
            r = steps.sim(a.model, n=a.n, backpressure=a.backpressure, seed=a.seed, waves=a.waves,
                          coverage=a.coverage, trace=a.trace)
            if r["mismatches"]:
                print("\n".join(r["mismatch_details"][:10]), file=sys.stderr)
                return 1
        elif a.step == "bitstream" and a.board:
            _refuse(_given(p, b, argv), ("device", "package"), "is the bare ECP5 part (without BOARD=); "
                    "a board has its own part")
            _refuse(_given(p, b, argv), ("event",), "is not offered by the board flow yet: build the accelerator "
                    "with make rtl EVENT=... and make bitstream without BOARD=")
            freq = "auto" if a.freq in (None, "auto") else a.freq
            steps.board_bitstream(a.model, a.board, freq=freq, lanes=a.lanes or None, fold=a.fold, target=a.target,
                                  stem=a.stem, baud=a.baud)
        elif a.step == "hls":
            r = steps.hls(a.model, n=a.n, part=a.part, clock_period=a.clock)
            if r["mismatches"]:
                details = [d for p in r["projects"].values() for d in p["mismatch_details"]]
                print("\n".join(details[:10]), file=sys.stderr)
                return 1
        elif a.step == "hls-synth":
            steps.hls_synth(a.model, project=a.project, cosim=a.cosim, vsynth=a.vsynth)
        elif a.step == "bitstream":
            _refuse(_given(p, b, argv), ("lanes", "fold", "target", "stem", "event", "baud"),
                    f"is for a board (BOARD=): without it make bitstream builds the RTL of make rtl as it is "
                    f"({steps.build_dir(a.model) / 'rtl'}; make rtl MODEL={a.model} FOLD=... sets its folding)")
            if a.freq == "auto":
                raise ValueError("--freq (FREQ=) auto sets a board's PLL: it needs BOARD= (a bare device takes MHz)")
            steps.bitstream(a.model, device=a.device, package=a.package,
                            target_mhz=50.0 if a.freq is None else a.freq)
        elif a.step == "report":
            steps.report(a.model, images=a.images, out=a.out)
        elif a.step == "nir":
            steps.nir(a.model, out=a.out)
        elif a.step == "import":
            for flag, value, what in (("--nir", a.nir, "the NIR graph file to import (NIR=graph.nir)"),
                                      ("--model", a.model, "the run to write (MODEL=name)")):
                if not value:
                    raise ValueError(f"{flag} ({MAKE_VARS[flag]}=) is required: {what}")
            steps.import_nir(a.model, a.nir, dataset=a.dataset, data_dir=a.data_dir, T=a.T, dt=a.dt, reset=a.reset,
                             weights=a.weights, framework=a.framework, force=a.force,
                             command=" ".join(["python -m flow"] + [shlex.quote(str(x)) for x in
                                                                    (sys.argv[1:] if argv is None else argv)]))
        elif a.step == "demo":
            summary = steps.demo(a.name, epochs=a.epochs)
            steps.print_summary(summary)
            problems = steps.demo_verdict(summary)
            if problems:
                print(f"error: demo failed: {'; '.join(problems)} (summary in {summary['path']})", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - one clear line, no traceback, non-zero exit
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
