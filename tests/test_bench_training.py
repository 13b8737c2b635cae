"""The training benchmark's comparison part on a tiny run: what it writes and how it summarises."""

from __future__ import annotations

import json

import pytest

from bench.training import accuracy_summary, main


def test_accuracy_summary_names_the_best_epoch_and_the_mean_of_the_last():
    ep = [{"epoch": i + 1, "test_accuracy": a} for i, a in enumerate([0.5, 0.9, 0.7, 0.9, 0.8, 0.6])]
    s = accuracy_summary(ep, last=3)
    assert s == {"best_test_accuracy": 0.9, "best_epoch": 2,
                 "mean_last3_test_accuracy": pytest.approx(0.7667, abs=1e-4)}
    assert accuracy_summary([]) == {}


def test_fashion_part_trains_the_three_runs_with_the_same_settings(tmp_path):
    results, models = tmp_path / "training.json", tmp_path / "models"
    argv = ["--part", "fashion_mnist", "--dataset", "digits", "--arch", "mlp:8", "--epochs", "2", "--batch", "64",
            "--limit", "128", "--augment", "--crop-pad", "0", "--models-dir", str(models), "--results", str(results),
            "--no-progress"]
    assert main(argv) == 0
    r = json.loads(results.read_text())["fashion_mnist"]
    assert r["augment"] is True and r["crop_pad"] == 0 and r["epochs"] == 2
    for name, neuron, mode in (("hdlif_online", "hdlif", "online"), ("lif_online", "lif", "online"),
                               ("lif_stbp", "lif", "stbp")):
        m = json.loads((models / name / "metrics.json").read_text())
        assert (m["neuron"], m["mode"], m["crop_pad"], m["seed"]) == (neuron, mode, 0, 0)
        # the settings the command line gave, recorded by each run
        assert (m["dataset"], m["arch"], m["batch_size"], m["limit"], m["augment"], m["planned_epochs"]) == (
            "digits", "mlp:8", 64, 128, True, 2)
        assert [e["epoch"] for e in m["epochs"]] == [1, 2]
        # the summary of the run's own epochs: the last epoch's accuracy (not the best), the best
        # of the two and its epoch, and the mean of the last five, here both epochs
        acc = [e["test_accuracy"] for e in m["epochs"]]
        assert r[name]["test_accuracy"] == acc[1]
        assert r[name]["best_test_accuracy"] == max(acc) and r[name]["best_epoch"] == (2 if acc[1] > acc[0] else 1)
        assert r[name]["mean_last5_test_accuracy"] == pytest.approx((acc[0] + acc[1]) / 2, abs=1e-6)
    assert (models / "hdlif_online" / "model" / "model.json").is_file()      # the HD-LIF bundle
    # a second call resumes the finished runs instead of training them again
    before = (models / "lif_stbp" / "checkpoint.pt").stat().st_mtime_ns
    assert main([*argv, "--resume"]) == 0
    assert (models / "lif_stbp" / "checkpoint.pt").stat().st_mtime_ns == before
