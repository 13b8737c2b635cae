"""Issue 17: training into a log file writes one line per epoch (not hundreds of redrawn bars),
and Ctrl-C says in one line which epoch the checkpoint holds and how to resume (exit 130)."""

from __future__ import annotations

import json
import re

import pytest

import training.train as tt
from flow.__main__ import main as flow_main
from training.train import TrainingInterrupted, main, train

TINY = dict(hidden=(16,), T=2, epochs=2, batch_size=64, limit=128, device="cpu")


def _interrupt_in_epoch(monkeypatch, n: int):
    """Ctrl-C while epoch ``n`` is evaluated (after its batches, before its checkpoint)."""
    calls = []
    real = tt.evaluate

    def evaluate(*a, **kw):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(tt, "evaluate", evaluate)


def test_one_line_per_epoch_when_stderr_is_not_a_terminal(tmp_path, capsys):
    train(tmp_path / "r", progress=True, **TINY)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "\r" not in err, err
    for n, line in enumerate(lines, start=1):
        assert re.fullmatch(rf"train r: epoch {n}/2: loss [0-9.]+, test accuracy [0-9.]+, [0-9.]+ s", line), line


def test_progress_off_prints_nothing(tmp_path, capsys):
    train(tmp_path / "r", progress=False, **TINY)
    assert capsys.readouterr().err == ""


def test_ctrl_c_names_the_saved_epoch_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    run = tmp_path / "r"
    _interrupt_in_epoch(monkeypatch, 2)
    with pytest.raises(TrainingInterrupted) as e:
        train(run, progress=False, **TINY)
    assert isinstance(e.value, KeyboardInterrupt)
    assert (e.value.epoch, e.value.saved, e.value.epochs) == (2, 1, 2)
    msg = e.value.message(resume="make train MODEL=r RESUME=1")
    assert msg == (f"train: stopped in epoch 2 of 2 (Ctrl-C); {run / 'checkpoint.pt'} holds epoch 1: "
                   f"continue with make train MODEL=r RESUME=1")
    monkeypatch.undo()
    m = train(run, resume=True, progress=False, **TINY)                # the checkpoint of epoch 1 goes on
    assert [x["epoch"] for x in m["epochs"]] == [1, 2]
    straight = train(tmp_path / "straight", progress=False, **TINY)
    assert [x["loss"] for x in m["epochs"]] == [x["loss"] for x in straight["epochs"]]


def test_ctrl_c_before_anything_was_saved(tmp_path, monkeypatch):
    _interrupt_in_epoch(monkeypatch, 1)
    with pytest.raises(TrainingInterrupted) as e:
        train(tmp_path / "r", progress=False, **TINY)
    assert e.value.saved == 0 and "before any epoch was saved: nothing to resume" in e.value.message()
    assert not (tmp_path / "r").exists()


def test_flow_train_ctrl_c_is_one_line_and_exit_130(tmp_path, monkeypatch, capsys):
    run = tmp_path / "x"
    _interrupt_in_epoch(monkeypatch, 2)
    rc = flow_main(["train", str(run), "--hidden", "16", "--T", "2", "--epochs", "2", "--batch-size", "64"])
    err = capsys.readouterr().err
    assert rc == 130
    lines = [line for line in err.strip().splitlines() if "train x: epoch" not in line]
    assert lines == [f"[hdlif] train: stopped in epoch 2 of 2 (Ctrl-C); {run / 'checkpoint.pt'} holds epoch 1: "
                     f"continue with make train MODEL={run} RESUME=1"], err
    monkeypatch.undo()
    assert flow_main(["train", str(run), "--resume"]) == 0
    assert [e["epoch"] for e in json.loads((run / "metrics.json").read_text())["epochs"]] == [1, 2]


def test_python_m_training_train_ctrl_c(tmp_path, monkeypatch, capsys):
    run = tmp_path / "p"
    _interrupt_in_epoch(monkeypatch, 2)
    rc = main([str(run), "--hidden", "16", "--T", "2", "--epochs", "2", "--batch-size", "64", "--limit", "128",
               "--no-progress", "--device", "cpu"])
    assert rc == 130
    assert capsys.readouterr().err.strip() == (f"train: stopped in epoch 2 of 2 (Ctrl-C); {run / 'checkpoint.pt'} "
                                               f"holds epoch 1: continue with python -m training.train {run} --resume")
