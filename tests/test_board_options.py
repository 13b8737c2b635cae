"""Issue 17: `make bitstream BOARD=...` honours FOLD= / TARGET= / STEM= / LANES= as `make rtl`
does, says which folding it builds (its own RTL, the accelerator behind the board's UART top,
not build/<run>/rtl) and when build/<run>/rtl has another one; the settings that do not apply
(a folding without BOARD=, a bare part with it) are refused in one line.  No place and route
runs: nextpnr is faked."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from flow_cli import cli, one_error_line
from flow.paths import build_dir
from fpga import board_flow
from fpga.boards import get_board

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run(digits_run, tmp_path):
    dst = tmp_path / "boardrun"
    shutil.copytree(digits_run["dir"], dst)
    yield dst
    shutil.rmtree(build_dir(str(dst)), ignore_errors=True)


def _fake_run_flow(source, top, out_dir, *, family, part, pnr_args, target_mhz, clock, progress):
    bit = Path(out_dir) / f"{top}.bin"
    bit.write_bytes(b"bits")
    return {"device": part, "top": top, "luts": 1, "ffs": 1, "brams": 0, "dsps": 0, "fmax_mhz": None,
            "target_mhz": target_mhz, "timing_met": True, "bitstream": str(bit),
            "sha256": hashlib.sha256(b"bits").hexdigest(), "seconds": {},
            "clocks": {"clk": {"achieved": 2 * target_mhz, "constraint": target_mhz}}}


def test_the_board_config_takes_the_folding_target_and_lanes(digits_run):
    bdir, board = digits_run["dir"] / "model", get_board("icebreaker")
    cfg, sha, _ = board_flow._model(bdir, None, board, folding=["32x4/2", "10x2"])
    assert cfg.foldings == {"fc1": "32x4/2", "fc2": "10x2"} and len(sha) == 64
    cfg, _, _ = board_flow._model(bdir, None, board, target="area")
    assert set(cfg.foldings.values()) == {"1x1"}
    cfg, _, _ = board_flow._model(bdir, 8, board)
    assert list(cfg.lanes) == [8, 8]
    default, _, _ = board_flow._model(bdir, None, board)              # the board's lanes, as a ceiling
    assert max(default.lanes) <= board.lanes
    recompute, _, _ = board_flow._model(bdir, None, board, folding=["32x4/2", "10x2"], stem="recompute")
    assert recompute.foldings == {"fc1": "32x4/2", "fc2": "10x2"}
    with pytest.raises(ValueError, match="give one of lanes, folding or target"):
        board_flow._model(bdir, 8, board, folding=["32x4/2", "10x2"])


def test_a_board_refuses_several_pixels_a_beat(digits_run):
    """The host link hands the accelerator one pixel (one UART byte) a beat: a design built for
    more is refused, not wired to a narrower stream."""
    from golden import load_bundle
    from rtl_gen.board_top import UartAccelerator
    from rtl_gen.folding import from_bundle

    cfg = from_bundle(load_bundle(digits_run["dir"] / "model"), folding=["32x4/2", "10x2"], pixel_lanes=2)
    with pytest.raises(ValueError, match="a board build takes one pixel a beat .* not pixel_lanes=2"):
        UartAccelerator(cfg, divisor=16)


def test_make_bitstream_board_fold_builds_that_folding_and_says_so(run, monkeypatch, capsys):
    monkeypatch.setattr(board_flow, "run_flow", _fake_run_flow)
    rtl = build_dir(str(run)) / "rtl"
    rtl.mkdir(parents=True)
    (rtl / "rtl.json").write_text(json.dumps({"folding": {"fc1": "16x1", "fc2": "10x1"}}))
    rc, out, err = cli(capsys, "bitstream", run, "--board", "icebreaker", "--freq", "24", "--fold", "32x4/2,10x2")
    assert rc == 0, err
    report = json.loads((build_dir(str(run)) / "fpga" / "icebreaker" / "report.json").read_text())
    assert report["folding"] == {"fc1": "32x4/2", "fc2": "10x2"} and report["stem"] == "cache"
    assert "generates its own RTL" in out and "UART top" in out and "folded by FOLD=32x4/2,10x2" in out
    assert f"(not {rtl})" in out
    assert "folding fc1=32x4/2 fc2=10x2" in out
    assert f"note: {rtl} (make rtl) has folding fc1=16x1 fc2=10x1" in out     # not the simulated one

    (rtl / "rtl.json").write_text(json.dumps({"folding": {"fc1": "1x1", "fc2": "1x1"}}))
    rc, out, err = cli(capsys, "bitstream", run, "--board", "icebreaker", "--freq", "24", "--target", "area")
    assert rc == 0, err
    assert "folded by TARGET=area" in out and "note:" not in out                # the same as make rtl's
    rc, out, err = cli(capsys, "bitstream", run, "--board", "icebreaker", "--freq", "24")
    assert rc == 0, err
    assert "folded by the board's lanes, at most" in out


@pytest.mark.parametrize("args, needles", [
    (("--fold", "16x4"), ("--fold (FOLD=)", "BOARD=", "rtl")),
    (("--target", "area"), ("--target (TARGET=)", "BOARD=")),
    (("--stem", "recompute"), ("--stem (STEM=)", "BOARD=")),
    (("--lanes", "8"), ("--lanes (LANES=)", "BOARD=")),
    (("--baud", "9600"), ("--baud (BAUD=)", "BOARD=")),
    (("--board", "icebreaker", "--device", "45k"), ("--device (DEVICE=)", "bare ECP5 part")),
    (("--board", "icebreaker", "--package", "CABGA381"), ("--package", "bare ECP5 part")),
    (("--board", "icebreaker", "--lanes", "8", "--fold", "32x4/2,10x2"), ("give one of lanes, folding or target",)),
])
def test_settings_that_do_not_apply_are_refused(run, capsys, args, needles):
    rc, out, err = cli(capsys, "bitstream", run, *args)
    one_error_line(rc, err, *needles)
    assert not (build_dir(str(run)) / "fpga").exists() or not any((build_dir(str(run)) / "fpga").rglob("*.json"))


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_passes_the_folding_to_the_board_flow():
    def dry(target, *args):
        r = subprocess.run(["make", "-n", target, "MODEL=x", *args], cwd=ROOT, capture_output=True, text=True)
        joined = r.stdout.replace("\\\n", " ")
        return [line for line in joined.splitlines() if "flow bitstream" in line][0].split()

    board = dry("bitstream", "BOARD=ulx3s", "FOLD=16x4,10x2", "STEM=recompute")
    assert board[board.index("--fold") + 1] == "16x4,10x2" and board[board.index("--stem") + 1] == "recompute"
    assert "--target" not in board and "--lanes" not in board
    viv = dry("vivado", "TARGET=area", "LANES=4")
    assert viv[viv.index("--target") + 1] == "area" and viv[viv.index("--lanes") + 1] == "4"
    bare = dry("bitstream", "FOLD=16x4")                 # handed on, so the flow refuses it (not ignored)
    assert "--fold" in bare and "--board" not in bare
    plain = dry("bitstream")
    assert not {"--fold", "--target", "--stem", "--lanes", "--baud"} & set(plain)
