"""Board benchmark (not run in CI): each benchmark network on each board of ``fpga/boards.py``.

``python -m bench.boards [NETWORK ...] [--boards ulx3s,orangecrab,icebreaker,arty_a7_35t] [--freq auto]``

A network is a folder ``bench/models/<NETWORK>/`` (or any run folder) holding ``model/``.  Each
(network, board) pair is the whole board step of ``make bitstream BOARD=<board>`` (the
accelerator behind the UART host link, the PLL set from the Fmax achieved, the board's default
lanes) built under ``build/bench/boards/<network>/<board>/``.  Results are merged into
``bench/results/boards.json`` after every build, each pair replacing only its own entry:
``networks.<name>.boards.<board>`` holds ``device``, ``luts``, ``ffs``, ``brams``, ``dsps``,
``fmax_mhz``, ``target_mhz`` (the PLL clock the design met), ``timing_met``, ``lanes``,
``cycles_per_inference`` (the generator's estimate for that folding), ``inference_us``,
``inferences_per_s`` (at the PLL clock), ``pnr_seed`` (only where nextpnr's default seed found no
legal placement and :data:`fpga.board_flow.PLACEMENT_SEEDS` went on), ``seconds`` and the ``command`` that built it (each entry
its own: runs with different ``--boards`` fill one file).  A build that fails (does not fit,
misses timing at every PLL setting, runs past ``--timeout`` seconds) is not written: its reason
is printed, the other pairs still build, and the exit status is 1 (the pair keeps whatever entry
an earlier run wrote, with that run's command).  Each build runs in its own process group,
killed at the timeout.
The Xilinx board (``arty_a7_35t``) has Yosys ``synth_xilinx`` estimates and no Fmax (Vivado is
not run here).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from golden.atomic import write_json_atomic

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "bench" / "models"
OUT = ROOT / "bench" / "results" / "boards.json"
WORK = ROOT / "build" / "bench" / "boards"
DEFAULT_NETWORKS = ("fc_784_128_10", "conv_fmnist")
KEYS = ("device", "family", "luts", "ffs", "brams", "dsps", "fmax_mhz", "target_mhz", "timing_met", "lanes",
        "cycles_per_inference", "inference_us", "estimate", "sha256", "pnr_seed")


def _merge(path: Path, name: str, model: str, board: str, entry: dict, command: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(path.read_text()) if path.is_file() else {}
    net = results.setdefault("networks", {}).setdefault(name, {"model": model, "boards": {}})
    net["model"] = model
    net["boards"][board] = {**entry, "command": command}
    results.pop("command", None)        # an old file's one command for every board: each entry has its own
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
    write_json_atomic(path, results)


def network_name(folder: Path) -> str:
    """``bench/models/<name>`` (nested names keep their folder: ``digits/hdlif_online``), else the folder's name."""
    f = folder.resolve()
    return str(f.relative_to(MODELS.resolve())) if f.is_relative_to(MODELS.resolve()) else folder.name


def build_one(bundle_dir: Path, board_name: str, out_dir: Path, freq="auto") -> dict:
    from fpga.board_flow import build_board, build_vivado
    from fpga.boards import get_board

    board = get_board(board_name)
    t0 = time.monotonic()
    build = build_vivado if board.family == "xc7" else build_board
    try:
        rep = build(bundle_dir, board, out_dir, freq=freq, progress=lambda s: print(f"[bench.boards]   {s}", flush=True))
    except Exception as e:  # noqa: BLE001 - the reason is the result
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return {"error": f"{type(e).__name__}: {msg}", "seconds": round(time.monotonic() - t0, 1)}
    entry = {k: rep.get(k) for k in KEYS if rep.get(k) is not None}
    if rep.get("cycles_per_inference") and rep.get("target_mhz"):
        entry["inferences_per_s"] = round(rep["target_mhz"] * 1e6 / rep["cycles_per_inference"], 1)
    entry["seconds"] = round(time.monotonic() - t0, 1)
    return entry


def build_with_timeout(bundle_dir: Path, board: str, out_dir: Path, freq, timeout_s: float) -> dict:
    """:func:`build_one` in a child process (its own process group), stopped after ``timeout_s``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result = out_dir / "bench_entry.json"
    result.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench.boards", "--one", str(bundle_dir), board, str(out_dir), "--freq", str(freq)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return {"error": f"timed out after {timeout_s:g} s (place and route did not finish)",
                "seconds": round(time.monotonic() - t0, 1)}
    if not result.is_file():
        return {"error": f"the build process exited with status {proc.returncode} and no result",
                "seconds": round(time.monotonic() - t0, 1)}
    return json.loads(result.read_text())


def main(argv=None) -> int:
    from fpga.boards import BOARDS

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--one"]:                       # the child of build_with_timeout
        bundle_dir, board, out_dir = argv[1:4]
        freq = argv[5] if argv[4:5] == ["--freq"] else "auto"
        entry = build_one(Path(bundle_dir), board, Path(out_dir), "auto" if freq == "auto" else float(freq))
        (Path(out_dir) / "bench_entry.json").write_text(json.dumps(entry, indent=2) + "\n")
        return 1 if "error" in entry else 0

    p = argparse.ArgumentParser(prog="python -m bench.boards", description=__doc__.splitlines()[0])
    p.add_argument("networks", nargs="*", help=f"names under bench/models/ or run folders (default: "
                                                f"{' '.join(DEFAULT_NETWORKS)})")
    p.add_argument("--boards", default=",".join(BOARDS), help="comma list of boards")
    p.add_argument("--freq", default="auto", help="'auto' or MHz")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per board build")
    p.add_argument("--results", type=Path, default=OUT)
    a = p.parse_args(argv)
    boards = [b.strip() for b in a.boards.split(",") if b.strip()]
    unknown = [b for b in boards if b not in BOARDS]
    if unknown:
        print(f"error: --boards: unknown board(s) {', '.join(unknown)}; known: {', '.join(BOARDS)}", file=sys.stderr)
        return 2
    freq = "auto" if a.freq == "auto" else float(a.freq)
    command = "python -m bench.boards " + " ".join(shlex.quote(x) for x in argv)
    failed = []
    for net in a.networks or DEFAULT_NETWORKS:
        folder = Path(net) if (Path(net) / "model").is_dir() else MODELS / net
        if not (folder / "model" / "model.json").is_file():
            print(f"error: {folder / 'model' / 'model.json'}: missing (network {net!r})", file=sys.stderr)
            return 2
        name = network_name(folder)
        model = str(folder.resolve().relative_to(ROOT)) if folder.resolve().is_relative_to(ROOT) else str(folder)
        for board in boards:
            print(f"[bench.boards] {name} on {board} ...", flush=True)
            entry = build_with_timeout(folder / "model", board, WORK / name / board, freq, a.timeout)
            if "error" in entry:
                failed.append(f"{name} on {board}")
                print(f"error: {name} on {board}: {entry['error']}", file=sys.stderr, flush=True)
            else:
                _merge(a.results, name, model, board, entry, command)
                print(f"[bench.boards] {name} on {board}: {entry.get('luts')} LUTs, {entry.get('ffs')} FFs, "
                      f"{entry.get('brams')} BRAMs, {entry.get('dsps')} DSPs, Fmax {entry.get('fmax_mhz')} MHz, "
                      f"clock {entry.get('target_mhz')} MHz, {entry.get('inferences_per_s')} inferences/s", flush=True)
    print(f"[bench.boards] results in {a.results}", flush=True)
    if failed:
        print(f"error: {len(failed)} board build(s) failed, not written to {a.results}: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
