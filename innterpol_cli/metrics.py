"""Error statistics of interpolated atmospheres against true ones.

For positive quantities learned in log (T, pressures, densities, opacities) the error is the
percentage ``100 (pred - true) / true``.  For the others (lgTau5, Mu, the log partial
pressures, and the asinh-learned convection columns and depth) percentages are meaningless
where the true value crosses zero, so the error is absolute, in the quantity's own unit.
"""

from __future__ import annotations

import numpy as np

STATISTICS = ("median", "rms", "p95", "max")


def channel_errors(pred: np.ndarray, true: np.ndarray, transform: str) -> np.ndarray:
    """Signed errors, same shape as the inputs (percent for ``log`` channels, else absolute)."""
    pred = np.asarray(pred, dtype=float)
    true = np.asarray(true, dtype=float)
    if transform == "log":
        return 100.0 * (pred - true) / true
    return pred - true


def error_unit(transform: str, unit: str) -> str:
    return "%" if transform == "log" else (unit or "abs")


def summarize(errors: np.ndarray) -> dict[str, float]:
    """median, RMS, 95th percentile and maximum of |error| over every model and depth (NaN rows ignored)."""
    a = np.abs(np.asarray(errors, dtype=float))
    a = a[np.isfinite(a)]
    if a.size == 0:
        return {k: float("nan") for k in STATISTICS}
    return {
        "median": float(np.median(a)),
        "rms": float(np.sqrt(np.mean(a**2))),
        "p95": float(np.percentile(a, 95)),
        "max": float(np.max(a)),
    }
