"""docs/results.md from the committed files only, each row's command, and benchmarks that fail loudly.

* ``make results`` in a fresh clone writes the committed ``docs/results.md`` and its figures byte
  for byte: the page is rendered into a temporary folder and compared; every file it reads inside
  the checkout is git-tracked (an audit hook records them), and a build folder, empty or full of
  unreadable files, changes nothing.
* every command recorded in ``bench/results/*.json`` is the command of a ``make bench`` step
  (``bench.all.STEPS``), or the page says why not; a board row shows its own command or says it
  has none.
* a failed board build or bundle export is a non-zero exit of its benchmark (not a string in the
  JSON), and ``bench.all`` exits non-zero naming the failed steps.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import all as bench_all
from report import results_md

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
RESULTS = ROOT / "bench" / "results"


def _git_files() -> set[Path] | None:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {ROOT / p for p in out.decode().split("\0") if p}


_OPENED: list[str] | None = None


def _audit(event, args):
    if _OPENED is not None and event == "open" and args and isinstance(args[0], (str, bytes, Path)):
        _OPENED.append(str(args[0]) if not isinstance(args[0], bytes) else args[0].decode(errors="replace"))


sys.addaudithook(_audit)          # inert unless a test sets _OPENED


def _render(out_dir: Path, **kw) -> tuple[dict, list[Path]]:
    """The page rendered into ``out_dir`` (with the committed screenshots, as a clone has them),
    and the files opened meanwhile inside the checkout."""
    global _OPENED
    figs = out_dir / "results"
    figs.mkdir(parents=True)
    for shot in sorted((DOCS / "results").glob("report_*.png")):
        shutil.copy(shot, figs / shot.name)
    _OPENED = []
    try:
        r = results_md.build(out=out_dir / "results.md", **kw)
    finally:
        opened, _OPENED = _OPENED, None
    inside = []
    for p in opened:
        path = Path(p) if Path(p).is_absolute() else ROOT / p
        try:
            rel = path.resolve().relative_to(ROOT)
        except ValueError:
            continue
        if rel.parts[0] in (".venv", ".git") or "__pycache__" in rel.parts or rel.suffix in (".py", ".pyc"):
            continue                      # the environment and the code, not the page's inputs
        inside.append(ROOT / rel)
    return r, inside


def _bogus_build(folder: Path) -> Path:
    """A build folder where every file the run pages read is unreadable JSON."""
    for net in results_md.networks(ROOT / "bench" / "models"):
        for key in (net.replace("/", "_"), Path(net).name, f"bench/models/{net}"):
            for rel in ("rtl/rtl.json", "rtl/config.json", "sim/sim.json", "hls/report.json",
                        "fpga/ulx3s/report.json", "report.html"):
                f = folder / key / rel
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text("{not json")
    return folder


@pytest.mark.parametrize("build", ["none", "empty", "bogus"])
def test_make_results_rewrites_the_committed_page_byte_for_byte_from_tracked_files(tmp_path, build):
    if build == "empty":
        (tmp_path / "build").mkdir()
    elif build == "bogus":
        _bogus_build(tmp_path / "build")
    kw = {} if build == "none" else {"build": tmp_path / "build"}
    r, opened = _render(tmp_path / "docs", **kw)
    out = tmp_path / "docs"
    assert (out / "results.md").read_bytes() == (DOCS / "results.md").read_bytes(), \
        "docs/results.md differs from what `make results` writes: run `make results` and commit it"
    committed = sorted(p.name for p in (DOCS / "results").glob("*.png"))
    assert sorted(p.name for p in (out / "results").glob("*.png")) == committed
    for name in committed:
        assert (out / "results" / name).read_bytes() == (DOCS / "results" / name).read_bytes(), name
    assert sorted(Path(f).name for f in r["figures"]) == [n for n in committed if not n.startswith("report_")]
    # nothing read from a git-ignored (or otherwise untracked) file of the checkout
    assert opened, "the audit hook saw no input"
    assert not [p for p in opened if p.relative_to(ROOT).parts[0] in results_md.IGNORED_FOLDERS]
    tracked = _git_files()
    if tracked is not None:
        untracked = sorted({str(p.relative_to(ROOT)) for p in opened if p not in tracked})
        assert not untracked, f"the page read files a fresh clone lacks: {untracked}"


def test_ignored_folders_are_those_of_gitignore():
    rules = {line.strip().strip("/") for line in (ROOT / ".gitignore").read_text().splitlines()
             if line.strip().startswith("/")}
    assert set(results_md.IGNORED_FOLDERS) <= rules


# ---------------------------------------------------------------------------------------------
# Each row's command


def _recorded_commands(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("command", "rtl_command", "hls_command") and isinstance(v, str):
                yield path + (k,), v
            else:
                yield from _recorded_commands(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _recorded_commands(v, path + (i,))


def test_every_recorded_command_is_a_make_bench_step_or_the_page_says_why_not():
    page = (DOCS / "results.md").read_text()
    seen = 0
    for f in sorted(RESULTS.glob("*.json")):
        for where, cmd in _recorded_commands(json.loads(f.read_text())):
            seen += 1
            if bench_all.step_of(cmd):
                assert f"`{cmd}`, `make bench` step `{bench_all.step_of(cmd)}`" in page, (f.name, where)
                continue
            # the only accepted reason: it read a git-ignored folder, and the page says so next to it
            assert results_md._ignored_inputs(cmd), f"{f.name} {where}: `{cmd}` is no make bench step"
            assert f"`{cmd}` (reads " in page and "cannot be re-run from a fresh clone" in page
            assert "**no `make bench` step runs this command**" in page
    assert seen >= 8
    # the conv_fmnist accelerator was recorded on the 85k part: its step builds for that part
    assert bench_all.shown(dict(bench_all.STEPS)["accelerator:conv_fmnist"]).endswith("--device 85k")


def test_bench_all_boards_are_the_registry_and_every_pair_has_its_step():
    from fpga.boards import BOARDS

    assert tuple(BOARDS) == bench_all.BOARDS
    names = [n for n, _ in bench_all.STEPS]
    assert len(names) == len(set(names))
    for net in bench_all.BOARD_NETWORKS:
        for board in BOARDS:
            cmd = bench_all.shown(dict(bench_all.STEPS)[f"boards:{net.replace('/', '_')}:{board}"])
            assert cmd == f"python -m bench.boards {net} --boards {board}"


def test_the_cropped_runs_have_a_step_and_are_marked_as_coming_from_their_committed_folder():
    cmd = bench_all.shown(dict(bench_all.STEPS)["training:fashion_mnist_aug"])
    assert "--augment" in cmd and "--crop-pad" not in cmd and "--models-dir bench/models/fmnist_aug" in cmd
    page = (DOCS / "results.md").read_text()
    row = next(line for line in page.splitlines()
               if line.startswith("| Fashion-MNIST, crop ±4 px + flips | `bench/models/fmnist_aug/"))
    assert "**command not recorded**" in row and f"`training:fashion_mnist_aug` would record `{cmd}`" in row


def test_networks_trained_without_a_recorded_command_say_so():
    page = (DOCS / "results.md").read_text()
    for net in ("fc_784_128_10", "conv_fmnist"):
        row = next(line for line in page.splitlines() if line.startswith(f"| {net} | Fashion-MNIST |"))
        assert "**command not recorded**" in row and "not recorded | not recorded" in row      # batch, lr


def test_a_board_row_shows_its_own_command_never_another_boards(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    entry = {"device": "LFE5U-85F", "luts": 3125, "ffs": 1860, "brams": 6, "dsps": 3, "fmax_mhz": 98.1,
             "target_mhz": 96.875, "cycles_per_inference": 1412}
    (results / "boards.json").write_text(json.dumps({"networks": {"netA": {"boards": {
        "ulx3s": entry, "icebreaker": {**entry, "command": "python -m bench.boards netA --boards icebreaker"}}}},
        "command": "python -m bench.boards netA --boards icebreaker"}))
    results_md.build(results=results, models=tmp_path / "models", out=tmp_path / "docs" / "results.md", images=10)
    text = (tmp_path / "docs" / "results.md").read_text()
    # the commands table follows the figures' table: each board's last row is its command
    ulx3s = [line for line in text.splitlines() if line.startswith("| netA | board ulx3s | ")][-1]
    ice = [line for line in text.splitlines() if line.startswith("| netA | board icebreaker | ")][-1]
    assert "**command not recorded**" in ulx3s and "--boards icebreaker`," not in ulx3s
    assert "`python -m bench.boards netA --boards icebreaker`" in ice
    assert "**no `make bench` step runs this command**" in ice       # netA is no benchmark network


def test_provenance_of_a_command():
    assert results_md.provenance(None) == "**command not recorded**"
    cmd = bench_all.shown(dict(bench_all.STEPS)["golden"])
    assert results_md.provenance(cmd) == f"`{cmd}`, `make bench` step `golden`"
    p = results_md.provenance("python -m bench.hls runs/x --n 10", "hls:fc_784_128_10")
    assert "reads `runs/x`, a git-ignored folder" in p and "step `hls:fc_784_128_10` runs `python -m bench.hls" in p


# ---------------------------------------------------------------------------------------------
# Benchmarks fail loudly


def test_a_failed_board_build_is_a_failed_step_not_a_string_in_the_json(tmp_path, monkeypatch, capsys):
    from bench import boards

    out = tmp_path / "boards.json"
    old = {"device": "iCE40UP5K-SG48", "luts": 1, "command": "python -m bench.boards digits/hdlif_online --boards icebreaker"}
    out.write_text(json.dumps({"networks": {"digits/hdlif_online": {"model": "m", "boards": {"icebreaker": old}}},
                               "command": "an older file's one command"}))

    def fake(bundle_dir, board, out_dir, freq, timeout_s):
        if board == "icebreaker":
            return {"error": "ToolError: does not fit", "seconds": 1.0}
        return {"device": "LFE5U-85F-6BG381C", "luts": 2739, "seconds": 2.0}

    monkeypatch.setattr(boards, "build_with_timeout", fake)
    argv = ["digits/hdlif_online", "--boards", "ulx3s,icebreaker", "--results", str(out)]
    assert boards.main(argv) == 1
    err = capsys.readouterr().err
    assert "digits/hdlif_online on icebreaker: ToolError: does not fit" in err and "1 board build(s) failed" in err
    r = json.loads(out.read_text())
    b = r["networks"]["digits/hdlif_online"]["boards"]
    assert b["ulx3s"]["luts"] == 2739
    assert b["ulx3s"]["command"] == f"python -m bench.boards {' '.join(argv)}"
    assert b["icebreaker"] == old                      # the failure wrote nothing over the earlier build
    assert "command" not in r and not any("error" in e for e in b.values())
    monkeypatch.setattr(boards, "build_with_timeout", lambda *a: {"luts": 5, "seconds": 1.0})
    assert boards.main(["digits/hdlif_online", "--boards", "ulx3s", "--results", str(out)]) == 0


def test_a_failing_board_build_process_exits_non_zero(tmp_path, monkeypatch):
    import fpga.board_flow
    from bench import boards

    def boom(*a, **k):
        raise RuntimeError("nextpnr: Unable to find legal placement")

    monkeypatch.setattr(fpga.board_flow, "build_board", boom)
    bundle = ROOT / "bench" / "models" / "digits" / "hdlif_online" / "model"
    assert boards.main(["--one", str(bundle), "ulx3s", str(tmp_path), "--freq", "auto"]) == 1
    entry = json.loads((tmp_path / "bench_entry.json").read_text())
    assert entry["error"] == "RuntimeError: nextpnr: Unable to find legal placement"


def test_a_failed_bundle_export_is_a_failed_training_step(tmp_path, monkeypatch, capsys):
    import bench.training as bt
    import training.export
    import training.train

    def fake_train(run, **kw):
        run.mkdir(parents=True)
        return {"test_accuracy": 0.5, "epochs": [{"epoch": 1, "test_accuracy": 0.5}]}

    def no_bundle(*a, **k):
        raise ValueError("a layer the bundle cannot hold")

    monkeypatch.setattr(bt, "train", fake_train)
    monkeypatch.setattr(training.train, "load_checkpoint", lambda run: (None, None))
    monkeypatch.setattr(training.export, "to_bundle", no_bundle)
    out = tmp_path / "training.json"
    assert bt.main(["--part", "fashion_mnist", "--results", str(out), "--models-dir", str(tmp_path / "m"),
                    "--no-progress", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "hdlif_online: the integer bundle was not exported: a layer the bundle cannot hold" in err
    r = json.loads(out.read_text())["fashion_mnist"]
    assert r["hdlif_online"]["test_accuracy"] == 0.5 and "bundle" not in r["hdlif_online"]   # no error string


def test_bench_all_runs_every_step_and_exits_non_zero_naming_the_failed(monkeypatch, capsys):
    monkeypatch.setattr(bench_all, "STEPS", [("a", [sys.executable, "-c", "pass"]),
                                             ("b", [sys.executable, "-c", "raise SystemExit(3)"]),
                                             ("c", [sys.executable, "-c", "pass"])])
    assert bench_all.main([]) == 1
    out = capsys.readouterr().out
    assert "b: FAILED (exit 3)" in out and "2 of 3 steps ok" in out and "failed: b" in out
    assert "---- c: ok" in out


def test_golden_file_wide_command_moves_onto_the_entries_it_wrote():
    from bench.golden import _legacy_commands, network_name

    r = _legacy_commands({"a": {"images": 1}, "b": {"images": 2}, "c": {"images": 3, "command": "own"},
                          "command": "python -m bench.golden bench/models/a bench/models/c", "machine": "x"})
    assert r == {"a": {"images": 1, "command": "python -m bench.golden bench/models/a bench/models/c"},
                 "b": {"images": 2}, "c": {"images": 3, "command": "own"}, "machine": "x"}
    assert network_name(ROOT / "bench" / "models" / "digits" / "hdlif_online") == "digits/hdlif_online"
