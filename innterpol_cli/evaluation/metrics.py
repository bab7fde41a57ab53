"""Error statistics of interpolated atmospheres against true ones.

For positive quantities learned in log (T, pressures, densities, opacities) the error is the
percentage ``100 (pred - true) / true``.  For the others (lgTau5, Mu, the log partial
pressures, and the asinh-learned convection columns and depth) percentages are meaningless
where the true value crosses zero, so the error is absolute, in the quantity's own unit.
"""

from __future__ import annotations

import numpy as np

STATISTICS = ("median", "rms", "p95", "max", "worst")
#: What each statistic is, for table captions.
STATISTIC_NOTES = {
    "median": "median |error| over every model and depth",
    "rms": "root mean square over every model and depth",
    "p95": "95th percentile over every model and depth",
    "max": "largest |error| anywhere",
    "worst": "median over models of each model's largest |error| over depth",
}


def channel_errors(pred: np.ndarray, true: np.ndarray, transform: str) -> np.ndarray:
    """Signed errors, same shape as the inputs: percent for ``log`` channels (and any channel whose
    error kind is ``relative``), else absolute."""
    pred = np.asarray(pred, dtype=float)
    true = np.asarray(true, dtype=float)
    if transform in ("log", "relative"):
        return 100.0 * (pred - true) / true
    return pred - true


def error_unit(transform: str, unit: str) -> str:
    return "%" if transform in ("log", "relative") else (unit or "abs")


def summarize(errors: np.ndarray) -> dict[str, float]:
    """median, RMS, 95th percentile and maximum of |error| over every model and depth (NaN
    ignored), and ``worst``: the median over models (rows) of each model's largest |error|."""
    e = np.abs(np.asarray(errors, dtype=float))
    a = e[np.isfinite(e)]
    if a.size == 0:
        return {k: float("nan") for k in STATISTICS}
    rows = e.reshape(len(e), -1) if e.ndim >= 2 else e[:, None]
    finite_rows = np.isfinite(rows).any(axis=1)
    per_model = np.nanmax(np.where(np.isfinite(rows[finite_rows]), rows[finite_rows], np.nan), axis=1)
    return {
        "median": float(np.median(a)),
        "rms": float(np.sqrt(np.mean(a**2))),
        "p95": float(np.percentile(a, 95)),
        "max": float(np.max(a)),
        "worst": float(np.median(per_model)),
    }


def depth_bands(errors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and mean -+ 1 standard deviation over models at each depth of ``errors`` (M, D)."""
    e = np.asarray(errors, dtype=float)
    median = np.nanmedian(e, axis=0)
    mean, sigma = np.nanmean(e, axis=0), np.nanstd(e, axis=0)
    return median, mean - sigma, mean + sigma


def unit_label(channel: dict) -> str:
    """The error unit of a weights-file channel: % for positive quantities, else its own unit."""
    from ..encoding import Channel

    return error_unit(Channel.from_dict(channel).error_kind, channel.get("unit", ""))


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two samples (ties ranked by order of appearance, which is
    exact for the continuous quantities compared here)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 3:
        return float("nan")
    ra = np.argsort(np.argsort(a, kind="stable"), kind="stable").astype(float)
    rb = np.argsort(np.argsort(b, kind="stable"), kind="stable").astype(float)
    ra -= ra.mean()
    rb -= rb.mean()
    den = np.sqrt(np.sum(ra**2) * np.sum(rb**2))
    return float(np.sum(ra * rb) / den) if den > 0 else float("nan")


#: Multiples of sigma at which the reliability of an uncertainty is tabulated.
RELIABILITY_K = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)


def calibration(pred: np.ndarray, sigma: np.ndarray, true: np.ndarray, kind: str) -> dict:
    """How well a 1-sigma uncertainty (M, D) describes the errors of ``pred`` against ``true``:
    the fractions of depth points with |error| <= 1 and 2 sigma, the rank correlation between
    each model's largest sigma and its largest |error| (relative for ``log``/``relative``
    channels), and the fraction within k sigma for :data:`RELIABILITY_K` (a Gaussian gives
    erf(k / sqrt 2))."""
    error = np.abs(np.asarray(pred, dtype=float) - true)
    sigma = np.asarray(sigma, dtype=float)
    scale = np.abs(true) if kind in ("log", "relative") else 1.0
    ratio = np.divide(error, sigma, out=np.where(error > 0, np.inf, 0.0), where=sigma > 0)
    return {
        "within_1": float(np.mean(ratio <= 1.0)),
        "within_2": float(np.mean(ratio <= 2.0)),
        "beyond_3": float(np.mean(ratio > 3.0)),
        "median_sigma": float(np.median(sigma / scale)) if kind in ("log", "relative") else float(np.median(sigma)),
        "median_error": float(np.median(error / scale)) if kind in ("log", "relative") else float(np.median(error)),
        "rank_correlation": rank_correlation((sigma / scale).max(axis=1), (error / scale).max(axis=1)),
        "reliability": [float(np.mean(ratio <= k)) for k in RELIABILITY_K],
    }
