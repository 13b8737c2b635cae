"""The figures of the run pages and of ``docs/results.md``: matplotlib (Agg), PNG bytes.

Every function takes plain data (what :mod:`report.analysis` and the benchmark JSON hold) and
returns the PNG's bytes; nothing here reads files.  PNGs carry no timestamp or software tag, so
the same data gives the same bytes.
"""

from __future__ import annotations

import io

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

#: one colour per series name, the same in every figure
COLORS = {"hdlif_online": "#1f77b4", "hdlif_stbp": "#17becf", "lif_online": "#ff7f0e", "lif_stbp": "#d62728",
          "spikingjelly_lif_stbp": "#2ca02c", "snntorch_lif_stbp": "#9467bd", "online": "#1f77b4",
          "stbp": "#d62728"}
LABELS = {"hdlif_online": "HD-LIF, online", "hdlif_stbp": "HD-LIF, STBP", "lif_online": "LIF, online",
          "lif_stbp": "LIF, STBP", "spikingjelly_lif_stbp": "SpikingJelly LIF, STBP",
          "snntorch_lif_stbp": "snnTorch LIF, STBP", "online": "online", "stbp": "STBP"}


def png(fig) -> bytes:
    """The figure as PNG bytes (no metadata), and the figure closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


# ---------------------------------------------------------------------------------------------
# Run page


def accuracy_vs_t(acc: list[float], *, title: str = "") -> bytes:
    fig, ax = plt.subplots(figsize=(5, 3.2))
    t = np.arange(1, len(acc) + 1)
    ax.plot(t, 100 * np.asarray(acc), "o-", color=COLORS["hdlif_online"])
    for x, y in zip(t, acc):
        ax.annotate(f"{100 * y:.1f}", (x, 100 * y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xticks(t)
    ax.set_xlabel("time steps summed (t)")
    ax.set_ylabel("golden accuracy (%)")
    ax.set_title(title or "accuracy against time step")
    ax.grid(alpha=0.3)
    return png(fig)


def spike_rates(spikes: dict) -> bytes:
    """Heatmap of the non-zero code fraction (layer x step) and the mean code per layer."""
    names = list(spikes)
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(9, 0.45 * len(names) + 2.4))
    if not names:
        _empty(a0, "no HD-LIF layers")
        _empty(a1, "")
        return png(fig)
    rate = np.array([spikes[n]["nonzero_fraction"] for n in names])
    im = a0.imshow(100 * rate, aspect="auto", cmap="viridis", vmin=0, vmax=max(1.0, 100 * rate.max()))
    a0.set_yticks(range(len(names)), names)
    a0.set_xticks(range(rate.shape[1]), [str(t + 1) for t in range(rate.shape[1])])
    a0.set_xlabel("time step")
    a0.set_title("non-zero spike codes (%)")
    for (i, j), v in np.ndenumerate(rate):
        a0.text(j, i, f"{100 * v:.1f}", ha="center", va="center", fontsize=8,
                color="white" if 100 * v < 0.6 * max(1.0, 100 * rate.max()) else "black")
    fig.colorbar(im, ax=a0, fraction=0.05)
    for n in names:
        a1.plot(range(1, rate.shape[1] + 1), spikes[n]["mean_code"], "o-", label=n)
    a1.set_xticks(range(1, rate.shape[1] + 1))
    a1.set_xlabel("time step")
    a1.set_ylabel(f"mean spike code (0..{spikes[names[0]]['max_code']})")
    a1.set_title("mean graded spike")
    a1.grid(alpha=0.3)
    a1.legend(fontsize=8)
    fig.tight_layout()
    return png(fig)


def zero_weights(layers: list[tuple[str, np.ndarray, str]], pixel_map: np.ndarray | None = None) -> bytes:
    """Where the weights are zero: for each layer ``(name, weight, kind)`` the zero mask
    (fc: output x input) or the zero fraction per (output, input) channel pair (conv); with
    ``pixel_map`` also the fraction of the stem's weights that are zero at each input pixel."""
    panels = len(layers) + (pixel_map is not None)
    cols = min(3, panels)
    rows = (panels + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    axes = list(axes.flat)
    k = 0
    if pixel_map is not None:
        ax = axes[k]
        im = ax.imshow(100 * pixel_map, cmap="magma", vmin=0, vmax=100)
        ax.set_title("stem: zero weights per pixel (%)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046)
        k += 1
    for name, w, kind in layers:
        ax = axes[k]
        k += 1
        w = np.asarray(w)
        if w.ndim == 4 and w.shape[1] < 4:
            ax.imshow((w == 0).reshape(w.shape[0], -1), aspect="auto", cmap="gray_r", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_xlabel("input channel x kernel position")
            ax.set_ylabel("output channel")
            ax.set_title(f"{name} ({kind}): zero weights black, {100 * (w == 0).mean():.1f} %", fontsize=9)
        elif w.ndim == 4:
            frac = (w == 0).mean(axis=(2, 3))
            im = ax.imshow(100 * frac, aspect="auto", cmap="magma", vmin=0, vmax=100, interpolation="nearest")
            ax.set_xlabel("input channel")
            ax.set_ylabel("output channel")
            fig.colorbar(im, ax=ax, fraction=0.046)
            ax.set_title(f"{name} ({kind}): zero % per kernel, {100 * (w == 0).mean():.1f} % overall", fontsize=9)
        else:
            ax.imshow(w == 0, aspect="auto", cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xlabel("input")
            ax.set_ylabel("output")
            ax.set_title(f"{name} ({kind}): zero weights black, {100 * (w == 0).mean():.1f} %", fontsize=9)
    for ax in axes[k:]:
        ax.axis("off")
    fig.tight_layout()
    return png(fig)


def per_block(values: dict[str, dict], keys=("luts", "ffs", "brams", "dsps"), *, title: str = "") -> bytes:
    """Horizontal bars, one panel per resource kind, one bar per block."""
    names = list(values)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 0.32 * len(names) + 1.6), sharey=True)
    axes = np.atleast_1d(axes)
    y = np.arange(len(names))
    for ax, key in zip(axes, keys):
        v = [values[n].get(key, 0) for n in names]
        ax.barh(y, v, color="#4c72b0")
        ax.set_title(key.upper() if key != "ffs" else "FFs", fontsize=9)
        for yi, vi in zip(y, v):
            if vi:
                ax.text(vi, yi, f" {vi:g}", va="center", fontsize=7)
        ax.margins(x=0.25)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, names)
    axes[0].invert_yaxis()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return png(fig)


def cycles_per_layer(engines: dict[str, int], interval: int, ideal: int | None = None) -> bytes:
    names = list(engines)
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.8))
    y = np.arange(len(names))
    v = [engines[n] for n in names]
    ax.barh(y, v, color=["#c44e52" if x == max(v) else "#4c72b0" for x in v])
    for yi, vi in zip(y, v):
        ax.text(vi, yi, f" {vi:,}", va="center", fontsize=8)
    ax.axvline(interval, color="k", ls="--", lw=1, label=f"cycles per inference {interval:,}")
    if ideal:
        ax.axvline(ideal, color="0.5", ls=":", lw=1, label=f"ideal (MAC ops / lanes) {ideal:,}")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("clock cycles per image (each engine busy, steady state)")
    ax.margins(x=0.2)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return png(fig)


def operations(rows: list[dict]) -> bytes:
    names = [r["name"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.5, 0.4 * len(names) + 1.8))
    y = np.arange(len(names))
    ax.barh(y - 0.2, [r["dense_macs"] for r in rows], 0.4, label="dense MACs", color="0.7")
    ax.barh(y + 0.2, [r["sops"] for r in rows], 0.4, label="synaptic ops (non-zero code x non-zero weight)",
            color="#4c72b0")
    ax.set_xscale("log")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("operations per inference")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return png(fig)


def training_curves(epochs: list[dict], *, title: str = "") -> bytes:
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(9, 3.2))
    if not epochs:
        _empty(a0, "no per-epoch metrics")
        _empty(a1, "")
        return png(fig)
    e = [x["epoch"] for x in epochs]
    a0.plot(e, [100 * x["test_accuracy"] for x in epochs], "o-", ms=3)
    a0.set_xlabel("epoch")
    a0.set_ylabel("test accuracy (%)")
    a0.grid(alpha=0.3)
    a1.plot(e, [x["loss"] for x in epochs], "o-", ms=3, color="#c44e52")
    a1.set_xlabel("epoch")
    a1.set_ylabel("training loss")
    a1.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return png(fig)


# ---------------------------------------------------------------------------------------------
# docs/results.md


def accuracy_per_epoch(panels: dict[str, dict[str, list[dict]]]) -> bytes:
    """One panel per data set, one line per run (``{dataset: {run: epochs}}``)."""
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5.2 * max(1, len(panels)), 3.6), squeeze=False)
    for ax, (ds, runs) in zip(axes[0], panels.items()):
        if not runs:
            _empty(ax, f"{ds}: not measured yet")
            continue
        for name, epochs in runs.items():
            ax.plot([x["epoch"] for x in epochs], [100 * x["test_accuracy"] for x in epochs], "o-", ms=3,
                    color=COLORS.get(name), label=LABELS.get(name, name))
        ax.set_title(ds)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return png(fig)


def memory_time_vs_T(mem: dict) -> bytes:
    """Saved-tensor memory and seconds per step against T, online vs STBP."""
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(10, 3.6))
    for mode in ("online", "stbp"):
        Ts = sorted(int(t) for t in mem[mode])
        a0.plot(Ts, [mem[mode][str(t)] / 2 ** 20 for t in Ts], "o-", color=COLORS[mode], label=LABELS[mode])
        sec = mem.get("cpu_seconds_per_step") or mem.get("seconds_per_step") or {}
        if mode in sec:
            a1.plot(Ts, [sec[mode][str(t)] for t in Ts], "o-", color=COLORS[mode], label=LABELS[mode])
    for ax in (a0, a1):
        ax.set_xscale("log", base=2)
        ax.set_xticks(Ts, [str(t) for t in Ts])
        ax.set_xlabel("time steps T")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    a0.set_ylabel("memory saved for backward (MiB)")
    a1.set_ylabel("CPU seconds per training step" if mem.get("cpu_seconds_per_step") else "seconds per step")
    fig.tight_layout()
    return png(fig)


def epoch_time(times: dict[str, float], *, ylabel: str) -> bytes:
    names = list(times)
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    ax.bar(range(len(names)), [times[n] for n in names], color=[COLORS.get(n, "0.5") for n in names])
    for i, n in enumerate(names):
        ax.text(i, times[n], f"{times[n]:.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(names)), [LABELS.get(n, n) for n in names], rotation=15, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return png(fig)


def accuracy_vs_t_many(curves: dict[str, list[float]]) -> bytes:
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for name, acc in curves.items():
        ax.plot(range(1, len(acc) + 1), [100 * a for a in acc], "o-", label=name)
    ax.set_xticks(range(1, max((len(a) for a in curves.values()), default=1) + 1))
    ax.set_xlabel("time steps summed (t)")
    ax.set_ylabel("golden accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png(fig)


def design_space(points: list[dict]) -> bytes:
    """Latency per image against logic, this project's builds and published designs (log-log)."""
    fig, ax = plt.subplots(figsize=(7, 4.4))
    merged: list[dict] = []           # builds within 3 % of each other share one marker and label
    for p in points:
        near = next((m for m in merged if m.get("ours", False) == p.get("ours", False)
                     and abs(m["logic"] - p["logic"]) <= 0.03 * p["logic"]
                     and abs(m["latency_us"] - p["latency_us"]) <= 0.03 * p["latency_us"]), None)
        if near is not None:
            near["label"] = near["label"].rstrip(")") + ", " + p["label"].split(" (")[-1]
        else:
            merged.append(dict(p))
    points = merged
    for i, p in enumerate(sorted(points, key=lambda q: (q["latency_us"], q["logic"]))):
        ours = p.get("ours", False)
        ax.scatter(p["logic"], p["latency_us"], marker="o" if ours else "s", s=50,
                   color="#1f77b4" if ours else "#ff7f0e", zorder=3)
        ax.annotate(p["label"], (p["logic"], p["latency_us"]), textcoords="offset points",
                    xytext=(5, 4 if i % 2 == 0 else -11), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    if points:
        xs = [p["logic"] for p in points]
        ys = [p["latency_us"] for p in points]
        ax.set_xlim(min(xs) / 1.6, max(xs) * 1.6)
        ax.set_ylim(min(ys) / 2, max(ys) * 2)
    ax.set_xlabel("logic (LUTs / logic cells, as each source counts them)")
    ax.set_ylabel("latency per image (us)")
    ax.scatter([], [], marker="o", color="#1f77b4", label="this project")
    ax.scatter([], [], marker="s", color="#ff7f0e", label="published")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return png(fig)


def energy_bars(models: dict[str, dict]) -> bytes:
    names = list(models)
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    x = np.arange(len(names))
    ax.bar(x - 0.2, [models[n]["integer_pj"] / 1e3 for n in names], 0.4, label="integer arithmetic (this hardware)")
    ax.bar(x + 0.2, [models[n]["float_convention_pj"] / 1e3 for n in names], 0.4,
           label="SNN convention (E_MAC 4.6 pJ, E_AC 0.9 pJ)")
    ax.set_yscale("log")
    ax.set_xticks(x, names)
    ax.set_ylabel("nJ per inference (arithmetic only)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return png(fig)


def cycles_vs_density(data: dict) -> bytes:
    """Per conv layer after the stem (one panel each) and for the network: clocks per image
    against the image's share of non-zero input codes, dense schedule vs event-driven, with the
    event-driven layer's sparse ideal (``bench/results/event_density.json`` of one network)."""
    layers = list(data["layers"].items())
    panels = layers + [("network", None)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (name, v) in zip(axes[0], panels):
        rows = v["per_image"] if v is not None else data["network_per_image"]
        x = 100 * np.array([r["density"] for r in rows])
        ax.scatter(x, [r["event"] for r in rows], s=6, color=COLORS["lif_online"], label="event-driven")
        ax.scatter(x, [r["dense"] for r in rows], s=6, color=COLORS["hdlif_online"], label="dense schedule")
        if v is not None:
            ax.scatter(x, [r["sparse_ideal"] for r in rows], s=4, color="0.6", label="sparse ideal (event)")
            ax.set_title(f"{name}: {v['lanes_dense']} dense lanes, {v['lanes_event']} event lanes", fontsize=9)
        else:
            ax.set_title("network: the slowest engine per image", fontsize=9)
        ax.set_xlabel("non-zero input codes (%)")
        ax.set_ylabel("clocks per image")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return png(fig)
