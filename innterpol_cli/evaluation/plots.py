"""Error-against-depth figures like the paper's Figs. 7, 11 and 12.

One PNG per channel: the error of every evaluated model against log tau_Ross (thin lines),
their median (thick line) and the mean -+ 1 standard deviation at each depth (band), for
innterpol on the left and linear interpolation on the right, on the same y-axis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PANEL_METHODS = ("innterpol", "linear")
TITLES = {"innterpol": "innterpol", "network": "network alone", "linear": "linear interpolation",
          "pca": "PCA + network", "gbm": "gradient boosting"}


def error_figures(evaluation, directory, methods=PANEL_METHODS) -> list[Path]:
    """Write one PNG per channel into ``directory``; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .metrics import depth_bands, unit_label

    methods = [m for m in methods if m in evaluation.predictions]
    if "innterpol" not in methods:
        first = next((m for m in evaluation.predictions if m != "linear"), None)
        methods = ([first] if first else []) + ["linear"]
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    errors = {m: evaluation.errors(m) for m in methods}
    x = evaluation.log_tau
    n = len(evaluation.params)
    written = []
    for c, channel in enumerate(evaluation.channels):
        unit = unit_label(channel)
        fig, axes = plt.subplots(1, len(methods), figsize=(5.2 * len(methods), 4.2), sharey=True, squeeze=False)
        axes = axes[0]
        limit = _y_limit([errors[m][:, c] for m in methods])
        for ax, method in zip(axes, methods):
            e = errors[method][:, c]
            ax.plot(x, e.T, color="0.55", lw=0.4, alpha=min(0.6, max(0.08, 20.0 / max(n, 1))))
            median, lower, upper = depth_bands(e)
            ax.fill_between(x, lower, upper, color="tab:blue", alpha=0.25, lw=0, label="mean $\\pm 1\\sigma$")
            ax.plot(x, median, color="tab:red", lw=1.8, label="median")
            ax.axhline(0.0, color="k", lw=0.6)
            stats = _rms(e)
            ax.set_title(f"{TITLES.get(method, method)} (RMS {stats:.3g} {unit})", fontsize=10)
            ax.set_xlabel(r"$\log\,\tau_\mathrm{Ross}$")
            ax.grid(alpha=0.3)
            ax.set_ylim(-limit, limit)
        axes[0].set_ylabel(_y_label(channel["name"], unit))
        axes[0].legend(loc="upper left", fontsize=8)
        fig.suptitle(f"{evaluation.grid_name}: {_pretty(channel['name'])} error of {n} held-out models "
                     f"({evaluation.source})", fontsize=11)
        fig.text(0.995, 0.005, "y range: 99.5% of all points; a few wilder ones are off the plot", ha="right",
                 va="bottom", fontsize=7, color="0.4")
        fig.tight_layout(rect=(0, 0.02, 1, 1))
        path = directory / f"{evaluation.grid_name}-{channel_slug(channel['name'])}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def _rms(e: np.ndarray) -> float:
    a = e[np.isfinite(e)]
    return float(np.sqrt(np.mean(a**2))) if a.size else float("nan")


def _y_limit(arrays) -> float:
    """Symmetric limits that show the bulk (99.5th percentile of |error|), not one wild model."""
    a = np.abs(np.concatenate([np.ravel(v) for v in arrays]))
    a = a[np.isfinite(a)]
    if not a.size:
        return 1.0
    top = float(np.percentile(a, 99.5))
    return 1.1 * top if top > 0 else 1.0


def _pretty(name: str) -> str:
    return name[3:] + " partial pressure" if name.startswith("pp:") else name.replace("_", " ")


def _y_label(name: str, unit: str) -> str:
    if unit == "%":
        return f"{_pretty(name)}: 100 (pred - true) / true  [%]"
    return f"{_pretty(name)}: pred - true  [{unit}]"


def channel_slug(name: str) -> str:
    """A file-name part; charges are spelled out so that H2 and H2+, H and H- stay apart."""
    name = name.replace("+", "plus").replace("-", "minus")
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")


def axes_depth_figure(result: dict, log_tau, channel: str, path, unit: str = "%") -> Path:
    """One panel per axis of :func:`innterpol_cli.evaluation.scoring.along_axes`: median and 90th percentile
    of |error| of ``channel`` against log tau, innterpol beside linear interpolation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes = [a for a, part in result["axes"].items() if part.get("n")]
    fig, panels = plt.subplots(1, len(axes), figsize=(4.2 * len(axes), 3.8), sharey=True, squeeze=False)
    colours = {"innterpol": "C0", "linear": "C3", "network": "C2"}
    for panel, axis in zip(panels[0], axes):
        part = result["axes"][axis]
        for method, curves in part["profile"][channel].items():
            if method not in ("innterpol", "linear"):
                continue
            panel.plot(log_tau, curves["median"], color=colours[method], lw=2, label=f"{TITLES[method]}: median")
            panel.plot(log_tau, curves["p90"], color=colours[method], lw=1, ls="--", label="90th percentile")
        panel.set_title(f"along {axis} ({part['n']} held-out models)")
        panel.set_xlabel("log tau_Ross")
        panel.set_yscale("log")
    panels[0][0].set_ylabel(f"|error| of {channel} [{unit}]")
    panels[0][0].legend(fontsize=7)
    return _save(fig, path)


def reliability_figure(result: dict, channels, path, title: str = "") -> Path | None:
    """How often the true value lies within k sigma of innterpol's prediction, against k, per axis
    of :func:`innterpol_cli.evaluation.scoring.along_axes` (one panel per channel), beside a Gaussian's
    erf(k / sqrt 2); the boxes are the goals at 1 and 2 sigma.  None without calibration data."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .metrics import RELIABILITY_K

    parts = {a: p for a, p in result.get("axes", {}).items() if p.get("calibration")}
    channels = [c for c in channels if any(c in p["calibration"] for p in parts.values())]
    if not parts or not channels:
        return None
    k = np.array(RELIABILITY_K)
    fig, panels = plt.subplots(1, len(channels), figsize=(4.0 * len(channels), 3.8), sharey=True, squeeze=False)
    for panel, channel in zip(panels[0], channels):
        fine = np.linspace(0, k[-1], 100)
        panel.plot(fine, [math.erf(v / math.sqrt(2)) for v in fine], color="k", ls=":", lw=1, label="Gaussian")
        for x, (lo, hi) in ((1.0, (0.60, 0.76)), (2.0, (0.90, 0.98))):
            panel.add_patch(plt.Rectangle((x - 0.08, lo), 0.16, hi - lo, color="tab:green", alpha=0.25, lw=0))
        for axis, part in parts.items():
            row = part["calibration"].get(channel)
            if row:
                n = part.get("n") or part.get("n_calibration")
                panel.plot(k, row["reliability"], marker="o", ms=3, lw=1.2,
                           label=f"along {axis} ({n}; rank corr. {row['rank_correlation']:.2f})")
        panel.set_title(_pretty(channel), fontsize=10)
        panel.set_xlabel("k (multiples of innterpol's 1-sigma)")
        panel.set_ylim(0, 1.02)
        panel.grid(alpha=0.3)
        panel.legend(fontsize=6.5, loc="lower right")
    panels[0][0].set_ylabel("fraction of held-out depth points within k sigma")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def _save(fig, path) -> Path:
    """Lay out, write (making the directory) and close a figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
