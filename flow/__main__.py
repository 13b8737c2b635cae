"""``python -m flow STEP MODEL [options]``: the command line behind the Makefile."""

from __future__ import annotations

import argparse
import json
import sys

from . import steps


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m flow", description="HD-LIF network -> FPGA accelerator flow")
    sub = p.add_subparsers(dest="step", required=True)
    t = sub.add_parser("train", help="train an HD-LIF network (online)")
    t.add_argument("model")
    t.add_argument("--dataset", default="digits")
    t.add_argument("--hidden", default="128")
    t.add_argument("--T", type=int, default=4)
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--mode", default="online", choices=("online", "stbp"))
    t.add_argument("--data-dir", default=None, help="folder of the IDX files (mnist, fashion_mnist)")
    t.add_argument("--arch", default=None, help="mlp:128, vgg:16,p,32,p, resnet:16,32,64 (overrides --hidden)")
    t.add_argument("--neuron", default="hdlif", choices=("hdlif", "parallel", "membn", "lif"))
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--augment", action="store_true", help="random crop (+ flip for Fashion-MNIST)")
    t.add_argument("--crop-pad", type=int, default=None,
                   help="--augment's random shift (default H // 7; 0: flips only)")
    t.add_argument("--resume", action="store_true", help="continue the run (its own settings are the defaults)")
    sub.add_parser("export", help="fold the trained network into an integer bundle").add_argument("model")
    e = sub.add_parser("eval", help="float vs golden model on the test split -> <run>/eval.json")
    e.add_argument("model")
    e.add_argument("--dataset", default=None, help="default: the run's own dataset")
    e.add_argument("--limit", type=int, default=None, help="only the first N test images")
    v = sub.add_parser("vectors", help="write <run>/vectors.npz for the RTL and HLS checkers")
    v.add_argument("model")
    v.add_argument("--n", type=int, default=0, help="test images (0 = the whole test split)")
    v.add_argument("--dataset", default=None)
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
    s = sub.add_parser("sim", help="Verilator + cocotb, bit-exact against the golden vectors")
    s.add_argument("model")
    s.add_argument("--n", type=int, default=0, help="images to check (0 = the whole test split)")
    s.add_argument("--backpressure", action="store_true")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--waves", action="store_true", help="write an FST waveform (build/<run>/sim/dump.fst)")
    s.add_argument("--coverage", action="store_true", help="Verilator coverage report (build/<run>/sim/coverage/)")
    s.add_argument("--trace", action="store_true", help="check every layer's codes, not only the scores")
    b = sub.add_parser("bitstream", help="synthesize, place and route: a bare ECP5 part, or a board")
    b.add_argument("model")
    b.add_argument("--board", help="a board of fpga/boards.py (ulx3s, orangecrab, icebreaker, arty_a7_35t): "
                                   "the accelerator behind a UART host link, clocked by a PLL")
    b.add_argument("--device", default="25k")
    b.add_argument("--package", default=None, help="the device's own when left out (85k: CABGA381, else CABGA256)")
    b.add_argument("--freq", default=None,
                   help="MHz; with --board also 'auto' (the default: the PLL set from the Fmax achieved)")
    b.add_argument("--lanes", type=int, default=0, help="with --board: accelerator lanes (0 = the board's)")
    b.add_argument("--baud", type=int, default=115200, help="with --board: UART baud rate")
    h = sub.add_parser("hls", help="hls4ml projects (network + each layer), C simulation on the vectors")
    h.add_argument("model")
    h.add_argument("--n", type=int, default=0, help="images to check (0 = the whole vector file)")
    h.add_argument("--part", default="xcvu13p-flga2577-2-e")
    h.add_argument("--clock", type=float, default=5.0, help="clock period in ns")
    hs = sub.add_parser("hls-synth", help="Vitis HLS synthesis of an HLS project (needs AMD Vitis HLS)")
    hs.add_argument("model")
    hs.add_argument("--project", default="network")
    hs.add_argument("--cosim", action="store_true")
    hs.add_argument("--vsynth", action="store_true", help="export the IP and synthesize it in Vivado")
    rp = sub.add_parser("report", help="one self-contained HTML page of the run -> build/<run>/report.html")
    rp.add_argument("model")
    rp.add_argument("--images", type=int, default=500, help="vector images the trace statistics use")
    rp.add_argument("--out", default=None, help="default: build/<run>/report.html")
    d = sub.add_parser("demo", help="the whole flow on the digits data")
    d.add_argument("--name", default="demo")
    d.add_argument("--epochs", type=int, default=30)
    a = p.parse_args(argv)
    try:
        if a.step == "train" and a.resume:
            t.set_defaults(**steps.train_settings(a.model))
            a = p.parse_args(argv)
        if a.step == "train":
            m = steps.train(a.model, dataset=a.dataset, hidden=[int(h) for h in a.hidden.split(",")],
                            T=a.T, epochs=a.epochs, seed=a.seed, mode=a.mode, data_dir=a.data_dir,
                            arch=a.arch, neuron=a.neuron, batch_size=a.batch_size, lr=a.lr,
                            augment=a.augment, crop_pad=a.crop_pad, resume=a.resume)
            steps.say(f"train: test accuracy {m['test_accuracy']:.4f}", main_only=True)
        elif a.step == "export":
            steps.export(a.model)
        elif a.step == "eval":
            steps.evaluate(a.model, dataset=a.dataset, limit=a.limit)
        elif a.step == "vectors":
            steps.vectors(a.model, n=a.n, dataset=a.dataset)
        elif a.step == "rtl":
            steps.rtl(a.model, lanes=a.lanes, fold=a.fold, target=a.target, skip_zero_weights=a.skip_zero_weights,
                      stem=a.stem, skip_zero_spikes=a.skip_zero_spikes)
        elif a.step == "sim":
            r = steps.sim(a.model, n=a.n, backpressure=a.backpressure, seed=a.seed, waves=a.waves,
                          coverage=a.coverage, trace=a.trace)
            if r["mismatches"]:
                print("\n".join(r["mismatch_details"][:10]), file=sys.stderr)
                return 1
        elif a.step == "bitstream" and a.board:
            freq = "auto" if a.freq in (None, "auto") else float(a.freq)
            steps.board_bitstream(a.model, a.board, freq=freq, lanes=a.lanes or None, baud=a.baud)
        elif a.step == "hls":
            r = steps.hls(a.model, n=a.n, part=a.part, clock_period=a.clock)
            if r["mismatches"]:
                details = [d for p in r["projects"].values() for d in p["mismatch_details"]]
                print("\n".join(details[:10]), file=sys.stderr)
                return 1
        elif a.step == "hls-synth":
            steps.hls_synth(a.model, project=a.project, cosim=a.cosim, vsynth=a.vsynth)
        elif a.step == "bitstream":
            steps.bitstream(a.model, device=a.device, package=a.package,
                            target_mhz=50.0 if a.freq is None else float(a.freq))
        elif a.step == "report":
            steps.report(a.model, images=a.images, out=a.out)
        elif a.step == "demo":
            steps.print_summary(steps.demo(a.name, epochs=a.epochs))
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - one clear line, no traceback, non-zero exit
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
