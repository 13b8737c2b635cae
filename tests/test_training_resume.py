"""Resume: 2 epochs, then --resume for the third, equals 3 epochs straight."""

from __future__ import annotations

import json

import pytest
import torch

from training.train import main, train


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: on a busy machine OpenMP's spinning threads make tiny ops 100x slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


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
    # the command line takes the run's own settings as the defaults of --resume
    assert main([str(tmp_path / "r"), "--resume", "--stop-after", "2", "--no-progress", "--device", "cpu"]) == 0
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["epochs"][-1]["epoch"] == 2
    assert main([str(tmp_path / "r"), "--resume", "--T", "2", "--no-progress"]) == 2
    assert "cannot resume with T=2, the run used T=3" in capsys.readouterr().err
