"""A run's test accuracy over its epochs, summarised (no torch: the results page reads it too)."""

from __future__ import annotations


def accuracy_summary(epochs: list[dict], last: int = 5) -> dict:
    """Besides the final test accuracy (the figure compared): the best epoch and the mean of the
    last ``last`` epochs, which show how much of a difference is one epoch's noise."""
    acc = [e["test_accuracy"] for e in epochs]
    if not acc:
        return {}
    best = max(range(len(acc)), key=lambda i: (acc[i], -i))
    tail = acc[-last:]
    return {"best_test_accuracy": acc[best], "best_epoch": epochs[best]["epoch"],
            f"mean_last{last}_test_accuracy": round(sum(tail) / len(tail), 6)}


def read_metrics(run) -> dict:
    """A run folder's ``metrics.json`` (``{}`` when it has none yet)."""
    import json
    from pathlib import Path

    path = Path(run) / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else {}
