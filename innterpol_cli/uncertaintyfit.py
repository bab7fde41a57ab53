"""Fitting the uncertainty calibration (numpy only), at training time and by
``innterpol train --calibrate-only``: the ``sigma/*`` arrays that
:class:`innterpol_cli.uncertainty.Calibration` turns into sigma at prediction time.

Per axis, channel and band of :data:`~innterpol_cli.uncertainty.BAND` depths, the coefficients
of log10 sigma come from a linear quantile regression of log10 |error| of the validation nodes,
each rebuilt along that axis with every validation node forgotten (as the test nodes are for
evaluation), at the cell fractions of :data:`SKIPS`.  A split-conformal factor per axis and
channel then puts the validation points as near as one number can to 68% within 1 sigma and
94.5% within 2 sigma (it minimises the larger of |cov1 - 0.68| / 0.08 and |cov2 - 0.945| / 0.04);
of :data:`QUANTILES`, each axis and channel takes the regression quantile whose result comes
nearest.  The coverage guard's factor on sigma(T) is chosen on the same rebuilds
(:data:`GUARD_THRESHOLD`).

An axis with fewer than :data:`MIN_REBUILDS` validation nodes to rebuild along it borrows the
median coefficients of the others; the weights record it (``meta["uncertainty"]["borrowed"]``).
"""

from __future__ import annotations

import numpy as np

from formats.errors import InnterpolError

from .hybrid import Signals
from .uncertainty import BAND, FLOOR, Calibration, design, n_columns


class CalibrationError(InnterpolError):
    """Too few validation nodes to calibrate the uncertainty on."""


#: Coverage aimed for at 1 and 2 sigma, and the half-widths of the accepted ranges.
TARGET_1, TARGET_2 = 0.68, 0.945
TOLERANCE_1, TOLERANCE_2 = 0.08, 0.04
#: The regression columns (:data:`~innterpol_cli.uncertainty.COLUMNS`) whose coefficients are kept
#: >= 0: the four signals and the absent weight.
NONNEGATIVE = (1, 2, 3, 4, 5)
#: The quantiles of log10 |error| the regression may follow (the conformal factor then scales
#: it): per axis and channel, the one that calibrates the validation nodes best.
QUANTILES = (0.5, 0.65, 0.8)
#: Ridge strength of the regression (relative to the data's weight).
RIDGE = 0.01
#: Fewest rebuilds an axis is calibrated on.
MIN_REBUILDS = 30
#: How validation nodes are rebuilt along an axis: (grid values skipped below, above) besides the
#: node's own; the node then sits at t = 1/2, 1/3, 2/3, 1/2 of a cell two steps wider, 1/5, 4/5.
SKIPS = ((0, 0), (0, 1), (1, 0), (1, 1), (0, 3), (3, 0))


def conformal(ratio: np.ndarray) -> tuple[float, float]:
    """The factor k on |error| / sigma ratios that minimises the cost max(|cov(k) - TARGET_1| /
    TOLERANCE_1, |cov(2k) - TARGET_2| / TOLERANCE_2), and that cost."""
    r = np.sort(ratio)
    candidates = np.quantile(r, np.linspace(0.3, 0.995, 400)) if len(r) else np.zeros(0)
    candidates = candidates[candidates > 0]
    if not len(candidates):
        return 1.0, np.inf
    cov1 = np.searchsorted(r, candidates, side="right") / len(r)
    cov2 = np.searchsorted(r, 2.0 * candidates, side="right") / len(r)
    cost = np.maximum(np.abs(cov1 - TARGET_1) / TOLERANCE_1, np.abs(cov2 - TARGET_2) / TOLERANCE_2)
    best = int(np.argmin(cost))
    return float(candidates[best]), float(cost[best])


def _constrained_lstsq(columns: np.ndarray, y: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted least squares with the :data:`NONNEGATIVE` coefficients kept >= 0 (a column whose
    coefficient comes out negative is dropped and the rest refitted) and constant columns dropped."""
    use = [0] + [k for k in range(1, columns.shape[1]) if np.ptp(columns[:, k]) > 0]
    root = np.sqrt(weight)[:, None]
    beta = np.zeros(columns.shape[1])
    while True:
        # A light ridge on every column but the intercept keeps collinear columns from trading
        # large coefficients of opposite sign (harmless on the data, wild off it).
        a = columns[:, use] * root
        ridge = RIDGE * np.sqrt(np.sum(weight)) * np.diag([0.0] + [1.0] * (len(use) - 1))
        solution, *_ = np.linalg.lstsq(np.vstack([a, ridge]), np.concatenate([y * root[:, 0], np.zeros(len(use))]),
                                       rcond=None)
        negative = [k for k, b in zip(use, solution) if k in NONNEGATIVE and b < 0]
        if not negative:
            break
        use.remove(min(negative, key=lambda k: solution[use.index(k)]))
    beta[use] = solution
    return beta


def fit_band(columns: np.ndarray, error: np.ndarray, quantile: float, iterations: int = 12) -> np.ndarray:
    """Coefficients (K,) of log10 sigma for one channel and band: linear quantile regression of
    log10 |error| at ``quantile`` (iteratively reweighted least squares on the pinball loss,
    started from least squares), signal coefficients >= 0."""
    y = np.log10(np.maximum(error, FLOOR))
    beta = _constrained_lstsq(columns, y, np.ones(len(y)))
    for _ in range(iterations):
        r = y - columns @ beta
        weight = np.where(r > 0, quantile, 1.0 - quantile) / np.maximum(np.abs(r), 1e-3)
        beta = _constrained_lstsq(columns, y, weight)
    return beta


def fit(interp, params: np.ndarray, values: np.ndarray, val_idx: np.ndarray, log=None) -> tuple[dict, dict]:
    """Calibration arrays and a summary for ``interp`` (an :class:`~innterpol_cli.interpolate.Interpolator`
    with a hybrid) from the grid (``params`` (N, P), physical ``values`` (N, C, D)) and its
    validation rows.  Each validation node is rebuilt along each axis with every validation node
    forgotten."""
    log = log or (lambda message: None)
    val_idx = np.asarray(val_idx, dtype=int)
    channels = interp.blend.channels
    n_depth = len(interp.log_tau)
    bands = [slice(start, min(start + BAND, n_depth)) for start in range(0, n_depth, BAND)]
    n_bands = len(bands)
    p = len(interp.axes)
    truth = np.stack([ch.standard(values[val_idx, c]) for c, ch in enumerate(interp.codec)], axis=1)  # (V, C, D)
    network = interp.predict_physical(params[val_idx], hybrid=False)
    network = np.stack([ch.standard(network[:, c]) for c, ch in enumerate(interp.codec)], axis=1)
    net_sigma = np.maximum(np.quantile(np.abs(network - truth), TARGET_1, axis=0), FLOOR)  # (C, D)
    forgetful = interp.without(params[val_idx])
    k = n_columns(p)
    coef = np.full((p, len(channels), n_bands, k), np.nan)
    limits = np.zeros((p, len(channels), n_bands, k, 2))
    cap = np.zeros((p, len(channels), n_bands))
    x = interp.scaling(params[val_idx])
    counts: dict[str, int] = {}
    chosen: dict[str, dict[str, float]] = {}
    rebuilds = []  # per axis: (axis, predicted T, true T, signals, scaled parameters) for the guard
    t_channel = [ch.name for ch in interp.codec].index("temperature")
    for j, axis in enumerate(interp.axes):
        # Each validation node rebuilt along the axis at several fractions of a cell (mid-cell,
        # a third, a fifth; cells one and three grid steps wider), edge planes with a linear
        # stencil among them: where real queries fall, not only mid-cell.
        preds, parts, nodes = [], [], []
        for skip in SKIPS:
            pred, signals = forgetful.predict_with_signals(params[val_idx], widen=(j, *skip))
            found = np.where(signals.found & (signals.bump[:, j] > 0))[0]  # interpolated along the axis
            preds.append(pred[found])
            parts.append(signals.take(found))
            nodes.append(found)
        pred, signals, rows = np.concatenate(preds), Signals.concatenate(parts), np.concatenate(nodes)
        # A rebuild whose wide stencil reaches absent nodes far from the populated grid can get a
        # non-finite network fill-in: such a rebuild says nothing about sigma, and is left out.
        finite = np.all(np.isfinite(pred[:, channels].reshape(len(pred), len(channels) * n_depth)), axis=1)
        if not finite.all():
            log(f"uncertainty along {axis}: {int((~finite).sum())} rebuilds with non-finite values left out")
            pred, signals, rows = pred[finite], signals.take(np.where(finite)[0]), rows[finite]
        rebuilds.append((j, pred[:, t_channel], values[val_idx[rows], t_channel], signals, x[rows]))
        counts[axis] = int(len(rows))
        log(f"uncertainty along {axis}: {len(rows)} rebuilds of validation nodes at {len(SKIPS)} cell fractions "
            f"({int(np.sum(signals.cubic[:, j]))} cubic, {int(np.sum(signals.missing > 0))} with absent nodes)")
        if len(rows) < MIN_REBUILDS:
            continue
        standard = np.stack([interp.codec[c].standard(pred[:, c]) for c in channels], axis=1)
        # sigma = 4t(1 - t) 10**(regression): the regression is fitted to |error| / 4t(1 - t)
        error = np.abs(standard - truth[rows][:, channels]) / signals.bump[:, j][:, None, None]  # (M, H, D)
        if not np.all(np.isfinite(error)):
            raise CalibrationError(f"non-finite rebuild errors along {axis}")
        columns = design(signals, j, n_depth, x[rows]).reshape(k, len(rows), len(channels), n_depth)
        chosen[axis] = {}
        for h in range(len(channels)):
            blocks = [columns[:, :, h, depths].reshape(k, -1).T for depths in bands]
            for b, (block, depths) in enumerate(zip(blocks, bands)):
                limits[j, h, b, :, 0], limits[j, h, b, :, 1] = block.min(axis=0), block.max(axis=0)
                cap[j, h, b] = np.log10(max(error[:, h, depths].max(), FLOOR))
            # The regression quantile that, after its conformal factor (one per axis and channel,
            # over every depth: what is evaluated), comes nearest the targets on these nodes.
            best = None
            for quantile in QUANTILES:
                betas = np.array([fit_band(block, error[:, h, depths].ravel(), quantile) for block, depths in zip(blocks, bands)])
                fitted = np.concatenate([(10.0 ** (block @ beta)).reshape(len(rows), -1) for block, beta in zip(blocks, betas)],
                                        axis=1)
                factor, cost = conformal((error[:, h] / np.sqrt(fitted**2 + FLOOR**2)).ravel())
                if best is None or cost < best[0] - 1e-9:
                    best = (cost, quantile, betas, factor)
            coef[j, h] = best[2]
            coef[j, h, :, 0] += np.log10(best[3])
            chosen[axis][interp.codec[channels[h]].name] = best[1]
    calibrated = [j for j in range(p) if not np.isnan(coef[j, 0, 0, 0])]
    if not calibrated:
        raise CalibrationError(f"no axis has {MIN_REBUILDS} validation nodes to rebuild along it: nothing to calibrate "
                               f"the uncertainty on")
    borrowed = [axis for j, axis in enumerate(interp.axes) if j not in calibrated]
    for j in range(p):
        if j not in calibrated:
            coef[j], limits[j], cap[j] = (np.median(a[calibrated], axis=0) for a in (coef, limits, cap))
    arrays = {"sigma/coef": coef, "sigma/range": limits, "sigma/cap": cap, "sigma/network": net_sigma}
    guard_z, rates = _guard_factor(Calibration(arrays), rebuilds, channels, t_channel, n_depth)
    summary = {"method": "log-linear in per-axis stencil signals, split-conformal on validation nodes rebuilt at "
                         f"{len(SKIPS)} cell fractions", "skips": [list(k) for k in SKIPS],
               "validation_rebuilds": counts, "borrowed": borrowed, "quantiles": chosen,
               "guard_z": guard_z, "guard_on_validation": rates}
    log(f"coverage guard: warns where {guard_z:g} x sigma(T) exceeds --max-sigma (on the validation rebuilds at "
        f"{GUARD_THRESHOLD:g}%: {100 * rates['false_alarm']:.0f}% false alarms, {100 * rates['miss']:.0f}% missed)")
    return arrays, summary


#: The --max-sigma (percent of T) the guard's factor is chosen at, the miss rate it may not
#: exceed, and the factors tried.
GUARD_THRESHOLD = 1.0
GUARD_MISS = 0.05
GUARD_FACTORS = tuple(np.round(np.arange(0.5, 4.01, 0.125), 3))


def _guard_factor(calibration: Calibration, rebuilds, channels: np.ndarray, t_channel: int, n_depth: int):
    """The smallest factor z (of :data:`GUARD_FACTORS`) for which warning where z times a model's
    largest sigma(T) exceeds :data:`GUARD_THRESHOLD` misses at most :data:`GUARD_MISS` of the
    validation rebuilds whose true max T error exceeds it, and the false-alarm and miss rates."""
    h = int(np.where(channels == t_channel)[0][0])
    peaks, errors = [], []
    for _, predicted, truth, signals, x in rebuilds:
        sigma = calibration.sigma(signals, channels, x).reshape(len(x), len(channels), n_depth)[:, h]
        # log10 T +- sigma, as a percentage of T (half the interval, as Interpolator.sigma maps it)
        peaks.append(100.0 * np.max(0.5 * (10.0**sigma - 10.0**-sigma), axis=1))
        errors.append(100.0 * np.max(np.abs(predicted / truth - 1.0), axis=1))
    peak, error = np.concatenate(peaks), np.concatenate(errors)
    bad = error > GUARD_THRESHOLD
    best = None
    for z in GUARD_FACTORS:
        warned = z * peak > GUARD_THRESHOLD
        miss = float(np.mean(~warned[bad])) if bad.any() else 0.0
        false_alarm = float(np.mean(warned[~bad])) if (~bad).any() else 0.0
        if miss <= GUARD_MISS:
            best = (float(z), {"false_alarm": false_alarm, "miss": miss, "good": int((~bad).sum()), "bad": int(bad.sum())})
            break
    if best is None:
        z = float(GUARD_FACTORS[-1])
        warned = z * peak > GUARD_THRESHOLD
        best = (z, {"false_alarm": float(np.mean(warned[~bad])) if (~bad).any() else 0.0,
                    "miss": float(np.mean(~warned[bad])) if bad.any() else 0.0,
                    "good": int((~bad).sum()), "bad": int(bad.sum())})
    return best
