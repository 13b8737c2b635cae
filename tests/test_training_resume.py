"""Resume: 2 epochs, then --resume for the third, equals 3 epochs straight."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from training.train import main, train


TINY = dict(hidden=(16,), T=3, epochs=3, batch_size=64, limit=128, augment=True, progress=False, device="cpu")


def test_two_epochs_plus_resume_equals_three_straight(tmp_path):
    straight = train(tmp_path / "straight", **TINY)
    part = train(tmp_path / "split", stop_after=2, **TINY)
    assert [e["epoch"] for e in part["epochs"]] == [1, 2]
    resumed = train(tmp_path / "split", resume=True, **TINY)
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=True)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"] == 6
    assert a["scheduler"] == b["scheduler"] and a["epoch"] == b["epoch"] == 3
    metrics = json.loads((tmp_path / "split" / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2, 3]           # appended
    for x, y in zip(straight["epochs"], resumed["epochs"]):
        assert x["loss"] == y["loss"] and x["test_accuracy"] == y["test_accuracy"]


def test_resume_refuses_other_settings_and_a_missing_checkpoint(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="checkpoint.pt: no checkpoint"):
        train(tmp_path / "none", resume=True, **TINY)
    train(tmp_path / "r", stop_after=1, **TINY)
    with pytest.raises(ValueError, match=r"checkpoint.pt: cannot resume with T=4, the run used T=3"):
        train(tmp_path / "r", resume=True, **{**TINY, "T": 4})
    with pytest.raises(ValueError, match=r"cannot resume with crop_pad=0, the run used crop_pad=None"):
        train(tmp_path / "r", resume=True, **{**TINY, "crop_pad": 0})
    with pytest.raises(ValueError, match=r"crop_pad must be a non-negative integer, not -1"):
        train(tmp_path / "bad", **{**TINY, "crop_pad": -1})
    # the command line takes the run's own settings as the defaults of --resume
    assert main([str(tmp_path / "r"), "--resume", "--stop-after", "2", "--no-progress", "--device", "cpu"]) == 0
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["epochs"][-1]["epoch"] == 2
    assert main([str(tmp_path / "r"), "--resume", "--T", "2", "--no-progress"]) == 2
    assert "cannot resume with T=2, the run used T=3" in capsys.readouterr().err


def test_flow_train_resume_keeps_the_runs_settings(tmp_path):
    from flow.__main__ import main as flow_main

    run = tmp_path / "x"
    assert flow_main(["train", str(run), "--hidden", "16", "--T", "2", "--epochs", "1", "--batch-size", "64"]) == 0
    assert flow_main(["train", str(run), "--resume", "--epochs", "2"]) == 0
    m = json.loads((run / "metrics.json").read_text())
    assert [e["epoch"] for e in m["epochs"]] == [1, 2] and m["T"] == 2 and m["batch_size"] == 64


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_train_variables():
    root = Path(__file__).resolve().parent.parent

    def dry(*args):
        r = subprocess.run(["make", "-n", "train", "MODEL=x", *args], cwd=root, capture_output=True, text=True)
        return [line for line in r.stdout.splitlines() if "flow train" in line][0].split()

    plain = dry()
    assert plain[plain.index("--T") + 1] == "4" and "--resume" not in plain and plain[0].endswith("python")
    full = dry("DATASET=fashion_mnist", "DATA_DIR=/d", "ARCH=vgg:8,p", "NEURON=lif", "MODE=stbp", "T=2",
               "EPOCHS=3", "BATCH=16", "LR=0.01", "AUGMENT=1", "CROP_PAD=0", "NPROC=2")
    assert full[:3] == [".venv/bin/torchrun", "--standalone", "--nproc_per_node=2"]
    for flag, value in (("--dataset", "fashion_mnist"), ("--data-dir", "/d"), ("--arch", "vgg:8,p"),
                        ("--neuron", "lif"), ("--mode", "stbp"), ("--T", "2"), ("--epochs", "3"),
                        ("--batch-size", "16"), ("--lr", "0.01"), ("--crop-pad", "0")):
        assert full[full.index(flag) + 1] == value, flag
    assert "--augment" in full
    resumed = dry("RESUME=1", "EPOCHS=5")                     # only what the command line says
    assert "--resume" in resumed and resumed[resumed.index("--epochs") + 1] == "5" and "--T" not in resumed
