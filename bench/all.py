"""Every benchmark the project keeps, then ``docs/results.md`` (``make bench``; hours, never in CI).

``python -m bench.all [--list] [--only STEP,...] [--skip STEP,...]``

:data:`STEPS` is the ordered list of named steps, each one command: exactly the command the
result it produces records (``command`` in ``bench/results/*.json``, shown against each row of
``docs/results.md`` with the step that runs it).  Hence one step per accelerator network (each with
its own part), one per (network, board) pair, one per training comparison.  The training
comparisons pass ``--resume`` as they were recorded: a run folder with a checkpoint continues from
it (an interrupted ``make bench`` goes on where it stopped; a resumed run equals a straight one), so
a run whose epochs are all done is not trained again; remove ``bench/models/<folder>/<run>`` to
train it from scratch.  Every step runs, even after one fails, so one broken stage does not hide
the others; ``docs/results.md`` is regenerated last from whatever the steps wrote, and the exit
status is non-zero when any step failed, naming each.  A benchmark that fails (a board build, a
bundle export, an HLS mismatch) exits non-zero itself, so its step fails.  Every step runs with
``OMP_NUM_THREADS=1``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

#: the NIR benchmark's hardware step (bench/nir_spiker.py: a snnTorch 784-128-10 LIF network through NIR)
from bench.nir_spiker import ACCELERATOR as NIR_ACCELERATOR

ROOT = Path(__file__).resolve().parent.parent

#: the benchmark networks (bench/models/<name>) that go through the hardware benchmarks
HARDWARE = ("fc_784_128_10", "conv_fmnist")
#: every network that gets a page (make report); the first one's screenshot goes into docs/results/
REPORTS = ("fc_784_128_10", "conv_fmnist", "hdlif_online", "digits/hdlif_online")
SCREENSHOT_IN_DOCS = "fc_784_128_10"


def _py(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def _report_steps() -> list[tuple[str, list[str]]]:
    out = []
    for name in REPORTS:
        key = _key(name)
        out.append((f"report:{key}", _py("flow", "report", f"bench/models/{name}", "--out", f"build/{key}/report.html")))
    for name in REPORTS:
        key = _key(name)
        shot = f"docs/results/report_{key}.png" if name == SCREENSHOT_IN_DOCS else f"build/{key}/report.png"
        out.append((f"screenshot:{key}", _py("report.screenshot", f"build/{key}/report.html", "--out", shot)))
    return out


def _key(name: str) -> str:
    return name.replace("/", "_")


#: the boards of fpga/boards.py, in its order (tests check the two agree)
BOARDS = ("ulx3s", "orangecrab", "icebreaker", "arty_a7_35t")
#: the networks of the board benchmark
BOARD_NETWORKS = (*HARDWARE, "digits/hdlif_online")
#: the accelerator benchmark's options per network (conv_fmnist needs the 85k part)
ACCELERATOR_OPTIONS = {"fc_784_128_10": (), "conv_fmnist": ("--device", "85k")}
#: LIF against HD-LIF on hardware: the same VGG (fmnist_flip runs), built as recorded in accelerator.json
VGG_ACCELERATOR = {
    "fmnist_vgg_hdlif": ("--bundle", "bench/models/fmnist_flip/hdlif_online/model", "--vectors",
                         "bench/models/fmnist_flip/hdlif_online/vectors.npz", "--name", "fmnist_vgg_hdlif",
                         "--fold", "32x1/4,16x32/2,16x16,1x1", "--stem", "recompute", "--device", "85k", "--freq", "100"),
    "fmnist_vgg_lif": ("--bundle", "bench/models/fmnist_flip/lif_online/model", "--vectors",
                       "bench/models/fmnist_flip/lif_online/vectors.npz", "--name", "fmnist_vgg_lif",
                       "--fold", "32x1/4,16x32/2,16x16,1x1", "--stem", "recompute", "--device", "85k", "--freq", "100"),
}
#: conv_fmnist with its hidden conv layers event-driven (rtl_gen/event_conv.py), their adders and the
#: 8-bit multipliers' first adders in hand-placed ECP5 carry cells (rtl_gen/carry.py), and the 8-bit
#: lanes (the stem's, the classifier's) in DSP blocks, kept beside the dense entry
EVENT_ACCELERATOR = ("conv_fmnist", "--key", "conv_fmnist_event", "--fold", "16x1/8,32x16/8,32x32/4,5x4", "--stem",
                     "cache", "--event", "conv2,conv3", "--carry-cells", "ecp5", "--int8-lanes", "dsp", "--device", "85k")
#: fc_784_128_10 fed four pixels a beat, its stem walking only the non-zero pixel words (issue 20),
#: kept beside the dense entry
SPARSE_STEM_ACCELERATOR = ("fc_784_128_10", "--key", "fc_784_128_10_sparse", "--fold", "32x4/2,10x2",
                           "--pixel-lanes", "4", "--skip-zero-pixels")
#: fc_784_128_10 with lane lists (each of its stem's five lanes walks its own non-zero pixels; 160 lanes,
#: four pixels a beat) and the ROMs over 32 words in block RAM: issue 20's <= 400 cycles in <= 7,600 LUTs
LANE_LISTS_ACCELERATOR = ("fc_784_128_10", "--key", "fc_784_128_10_lanes", "--fold", "32x5/2,10x2",
                          "--pixel-lanes", "4", "--skip-zero-pixels", "lanes", "--rom-logic-depth", "32")
#: the first ResNets of the seeds step (bench/seeds.py, table resnet), without and with SECA_II + Mem-BN,
#: taken through HLS
RESNET_RUN = "bench/models/seeds/resnet/plain_seed0"
RESNET_SECA_RUN = "bench/models/seeds/resnet/seca2_membn_seed0"
#: the accuracy benchmark's best ResNet (bench/seeds.py, table resnet_long, lr 5e-3): the plain ResNet on hardware
RESNET_BEST_RUN = "bench/models/seeds/resnet_long/plain_lr5_seed0"
#: the SECA_II + Mem-BN ResNet of the accuracy benchmark trained and evaluated in the integer graph's fixed point
#: (membrane_frac 8, training/fixed_point.py): float and golden agree where the float-trained ones stayed under 99.5 %
RESNET_SECA_FIXED_RUN = "bench/models/seeds/resnet_long/seca2_membn_fixed_seed0"
#: the ResNet-8 shape folded for the 2,000 inferences/s goal (in graph order: stem, b0_conv1, b0_conv2, b1_conv1,
#: b1_conv2, b1_shortcut, b2_conv1, b2_conv2, b2_shortcut, fc): 256 MAC lanes on the four 3x3 convs of 2.36 M
#: multiply-accumulates per step (b0_conv1, b0_conv2, b1_conv2, b2_conv2), 128 on the two stride-2 convs of half
#: that and on b1_shortcut, 64 on the stem and b2_shortcut; lanes come in powers of two for these channel counts.
#: The step's folding since the lanes' ternary terms are masked by an AND instead of a synchronous reset per lane
#: (one control set per lane kept nextpnr's HeAP legaliser hunting for slices for over an hour; with the mask it
#: placed in 154 s)
RESNET8_FOLD = "16x4/2,16x16/2,16x16/2,8x16,8x32/8,8x16/8,4x32,4x64,2x32,1x1"
#: the ResNets on hardware: the trained plain ResNet (the accuracy benchmark's best run, RESNET_BEST_RUN), the
#: SECA_II + Mem-BN ResNet trained in the graph's fixed point (RESNET_SECA_FIXED_RUN), and the MLPerf Tiny ResNet-8
#: shape as a random graph; each simulated in Verilator and built for the LFE5U-85F (208 block RAMs). The SECA
#: one routes with nextpnr's router2 (router1 stalled on it: 1,807 overused wires after 20 minutes at cae3aa3)
#: and needs its membranes over 18 bits in bit columns (rtl_gen.neuron_core.HDLIFCore.membrane_columns: 212 block
#: RAMs estimated with whole 19-bit words in 512 x 36 blocks, 196 with the columns). Its entry was recorded at
#: 5b2b672 (the global-sum pool as a rotating chain): 80.3 MHz, the critical path a window counter's reset.
#: Later gateware, 3 images each (diagnostic builds, not entries): dcccd50 (window flags, SECA scale-bank
#: copies) 80.6 MHz, the stem's leak product; f490844 (leak operands and product registered) 78.2 MHz, the
#: same block placed far from both registers; c6bd1b3 (two registers each side of the block) 80.6 MHz, a SECA
#: frame bank's register 6.6 ns from its block RAM; 381d702 (two registers a bank) 82.4 MHz, the stem's leak
#: block again 22-26 rows from both of its registers (85.0 MHz with nextpnr's --placer-heap-timingweight 40).
#: With 200 of 208 block RAMs the placer legalized the hard blocks far from where it put their registers; since
#: be8b854 those registers are the blocks' own (fpga.absorb): 93.3 MHz on 381d702's netlist, 101.1 MHz at
#: a358979 (SECA's lane products alone in their clock), the gateware the entry was re-recorded on (1,000 images
#: bit-exact, 101.1 MHz); resnet8 re-recorded on the same (router1 routed it in 42 minutes beside the SECA run).
RESNET_ACCELERATOR = {
    "resnet_fmnist_plain": ("--bundle", f"{RESNET_BEST_RUN}/model", "--vectors", f"{RESNET_BEST_RUN}/vectors.npz",
                            "--name", "resnet_fmnist_plain", "--fold", "max-lanes=64", "--stem", "recompute",
                            "--n", "1000", "--device", "85k", "--freq", "100"),
    "resnet8": ("--synthetic", "resnet8", "--fold", RESNET8_FOLD, "--stem", "recompute", "--n", "8", "--device", "85k",
                "--freq", "100"),
    "resnet_fmnist_seca": ("--bundle", f"{RESNET_SECA_FIXED_RUN}/model", "--vectors",
                           f"{RESNET_SECA_FIXED_RUN}/vectors.npz", "--name", "resnet_fmnist_seca", "--fold",
                           "max-lanes=64", "--stem", "recompute", "--n", "1000", "--device", "85k", "--freq", "100",
                           "--router", "router2"),
}
_FMNIST = ("--part", "fashion_mnist", "--epochs", "20", "--batch", "128", "--stem-weights", "int8",
           "--classifier-weights", "int8")

#: (name, command), in order
STEPS: list[tuple[str, list[str]]] = [
    ("golden", _py("bench.golden", *(f"bench/models/{n}" for n in sorted(HARDWARE)))),
    ("training:memory", _py("bench.training", "--part", "memory")),
    ("training:epoch_time", _py("bench.training", "--part", "epoch_time", "--batches", "20")),
    ("training:fashion_mnist", _py("bench.training", "--part", "fashion_mnist", "--arch", "vgg:32,p,64,p,64,p",
                                   "--epochs", "20", "--batch", "128", "--lr", "2e-3", "--stem-weights", "int8",
                                   "--classifier-weights", "int8", "--resume", "--no-progress")),
    ("training:fashion_mnist_flip", _py("bench.training", *_FMNIST, "--augment", "--crop-pad", "0",
                                        "--models-dir", "bench/models/fmnist_flip",
                                        "--results", "bench/results/training_fmnist_flip.json", "--resume",
                                        "--no-progress")),
    ("training:fashion_mnist_aug", _py("bench.training", *_FMNIST, "--augment",
                                       "--models-dir", "bench/models/fmnist_aug",
                                       "--results", "bench/results/training_fmnist_aug.json", "--resume",
                                       "--no-progress")),
    # seeds and ablations (bench/seeds.py): 3 seeds per configuration, resumable; about 20 core-hours on a CPU
    ("seeds", _py("bench.seeds")),
    ("training:digits", _py("bench.training", "--part", "fashion_mnist", "--dataset", "digits", "--arch", "mlp:128",
                            "--epochs", "30", "--batch", "32", "--models-dir", "bench/models/digits",
                            "--results", "bench/results/training_digits.json", "--no-progress")),
    # snnTorch -> NIR -> make import -> bench/results/nir.json: trains (resumable: build/nir_spiker/), imports into the
    # committed bench/models/nir_spiker, and runs the step accelerator:nir_spiker itself (its RTL figures go into nir.json)
    ("nir:spiker", _py("bench.nir_spiker")),
    # the vector files are committed, so only --force rewrites them (the same bytes from the same bundle)
    ("vectors:hdlif_online", _py("flow", "vectors", "bench/models/hdlif_online", "--n", "1000", "--force")),
    # the vector file the VGG accelerator step reads
    ("vectors:fmnist_flip_hdlif_online", _py("flow", "vectors", "bench/models/fmnist_flip/hdlif_online", "--n", "1000",
                                             "--force")),
    ("vectors:digits", _py("flow", "vectors", "bench/models/digits/hdlif_online", "--force")),
    ("eval:hdlif_online", _py("flow", "eval", "bench/models/hdlif_online")),
    ("eval:digits", _py("flow", "eval", "bench/models/digits/hdlif_online")),
    ("hls:fc_784_128_10", _py("bench.hls", "bench/models/fc_784_128_10", "--n", "0", "--layers")),
    # the ResNet of the seeds step (an integer graph): its vector file (git-ignored, 35 MB), then HLS on 1,000 images
    ("vectors:resnet_plain", _py("flow", "vectors", RESNET_RUN, "--n", "1000", "--force")),
    ("hls:resnet_plain", _py("bench.hls", RESNET_RUN, "--n", "1000")),
    ("vectors:resnet_best", _py("flow", "vectors", RESNET_BEST_RUN, "--n", "1000", "--force")),
    ("hls:resnet_best", _py("bench.hls", RESNET_BEST_RUN, "--n", "1000")),
    ("vectors:resnet_seca", _py("flow", "vectors", RESNET_SECA_RUN, "--n", "1000", "--force")),
    ("hls:resnet_seca", _py("bench.hls", RESNET_SECA_RUN, "--n", "1000")),
    ("vectors:resnet_seca_fixed", _py("flow", "vectors", RESNET_SECA_FIXED_RUN, "--n", "1000", "--force")),
    ("hls:resnet_seca_fixed", _py("bench.hls", RESNET_SECA_FIXED_RUN, "--n", "1000")),
    # the ResNets in RTL (rtl_gen/graph.py), 1,000 images each in Verilator (about an hour each), the LFE5U-85F
    *((f"accelerator:{n}", _py("bench.accelerator", *args)) for n, args in RESNET_ACCELERATOR.items()),
    ("hls:conv_fmnist", _py("bench.hls", "bench/models/conv_fmnist", "--n", "1000")),
    *((f"accelerator:{n}", _py("bench.accelerator", n, *ACCELERATOR_OPTIONS.get(n, ()))) for n in HARDWARE),
    ("accelerator:nir_spiker", _py(*NIR_ACCELERATOR)),
    *((f"accelerator:{n}", _py("bench.accelerator", *args)) for n, args in VGG_ACCELERATOR.items()),
    # conv_fmnist with event-driven conv2 / conv3 beside the dense build (issue 20)
    ("accelerator:conv_fmnist_event", _py("bench.accelerator", *EVENT_ACCELERATOR)),
    ("event_density", _py("bench.event_density", "conv_fmnist")),
    ("accelerator:fc_784_128_10_sparse", _py("bench.accelerator", *SPARSE_STEM_ACCELERATOR)),
    ("accelerator:fc_784_128_10_lanes", _py("bench.accelerator", *LANE_LISTS_ACCELERATOR)),
    *((f"boards:{_key(n)}:{b}", _py("bench.boards", n, "--boards", b)) for n in BOARD_NETWORKS for b in BOARDS),
    ("deployment", _py("bench.deployment", *HARDWARE, "digits/hdlif_online", "hdlif_online")),
    # randomized verification of the generator (docs/accelerator.md), about an hour on 2 cores
    ("fuzz", _py("sim.fuzz", "--cases", "300", "--seed", "2026", "--jobs", "2", "--record", "bench/results/fuzz.json")),
    # integer graphs (residual networks) in the HLS C simulation: random graphs, bit-exact against golden
    # residual networks in RTL (rtl_gen/graph.py): random graphs in Verilator, every stimulus, about 40 minutes
    ("fuzz:rtl_graphs", _py("sim.fuzz", "--cases", "40", "--seed", "2026", "--jobs", "2", "--graphs", "--record",
                            "bench/results/rtl_graph_fuzz.json")),
    ("fuzz:hls_graphs", _py("hls.fuzz", "--cases", "40", "--seed", "2026", "--record",
                            "bench/results/hls_graph_fuzz.json")),
    ("fuzz:large", _py("sim.fuzz", "--cases", "20", "--seed", "2027", "--jobs", "2", "--large", "--drawn-stimulus",
                       "--record", "bench/results/fuzz_large.json")),
    *_report_steps(),
    ("results", _py("report.results_md")),
]


def shown(cmd: list[str]) -> str:
    """A step's command as a person types it (``python -m ...``), as the result files record it."""
    return " ".join(["python", *map(shlex.quote, cmd[1:])]) if cmd and cmd[0] == sys.executable else shlex.join(cmd)


def step_of(command: str | None) -> str | None:
    """The name of the step whose command is exactly ``command`` (a recorded one), or None."""
    if not command:
        return None
    return next((n for n, c in STEPS if shown(c) == command), None)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.all", description=__doc__.splitlines()[0])
    p.add_argument("--list", action="store_true", help="print the steps and stop")
    p.add_argument("--only", default="", help="comma list of steps (a prefix such as 'training' selects its parts)")
    p.add_argument("--skip", default="", help="comma list of steps to leave out")
    a = p.parse_args(argv)
    names = [n for n, _ in STEPS]

    def pick(spec: str) -> set[str]:
        want = [s.strip() for s in spec.split(",") if s.strip()]
        bad = [w for w in want if not any(n == w or n.startswith(w + ":") for n in names)]
        if bad:
            raise SystemExit(f"error: unknown step(s) {', '.join(bad)}; steps: {', '.join(names)}")
        return {n for n in names for w in want if n == w or n.startswith(w + ":")}

    only, skip = pick(a.only), pick(a.skip)
    steps = [(n, c) for n, c in STEPS if (not only or n in only) and n not in skip]
    if a.list:
        for n, c in steps:
            print(f"{n:40s} {shown(c)}")
        return 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    failed = []
    t_all = time.monotonic()
    for n, c in steps:
        print(f"[bench] ---- {n}: {shown(c)}", flush=True)
        t0 = time.monotonic()
        rc = subprocess.call(c, cwd=ROOT, env=env)
        print(f"[bench] ---- {n}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {time.monotonic() - t0:.0f} s",
              flush=True)
        if rc != 0:
            failed.append(n)
    print(f"[bench] {len(steps) - len(failed)} of {len(steps)} steps ok in {(time.monotonic() - t_all) / 60:.0f} min"
          + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
