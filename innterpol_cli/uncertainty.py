"""The calibrated 1-sigma uncertainty of every predicted depth point, at prediction time (numpy
only): :class:`Calibration`, from the ``sigma/*`` arrays of a weights file, whose layout and
checks (:func:`layout`, :func:`check_arrays`) :mod:`innterpol_cli.weightsfile` uses.  The fit of
those arrays, at training time and by ``--calibrate-only``, is :mod:`innterpol_cli.uncertaintyfit`.

What it is made of (:class:`~innterpol_cli.hybrid.Signals`, all in each channel's standard
representation, e.g. log10 T), per axis a point is interpolated along:

* ``curve``: where the axis stencil is cubic, |cubic - linear interpolation| (the curvature the
  grid shows there; 0 for a linear stencil);
* ``slope``: the change across the grid cell times 4t(1 - t) (largest mid-cell, 0 on a node);
* ``network``: |network - its own stencil|, the curvature the stencil misses by the network's
  account;
* ``rough``: the |weight|-weighted spread of the network's residuals over the stencil's nodes
  (an irregular grid model nearby shows up here);
* ``absent``: the summed |weight| of stencil nodes absent from the grid (filled in by the network);
* whether the axis stencil is cubic, and the point's parameters (scaled to [-1, 1]) and their
  squares.

The signals are spread over +-1 depth point (fronts move in depth between grid models).  Per
axis, channel and band of :data:`BAND` depths, log10 sigma is a linear function of the log10 of
the four signals (coefficients >= 0: more signal never means less uncertainty) and of the other
columns (:func:`design`).  At prediction every column is held to the range it was fitted on,
sigma to the largest error the calibration saw, and sigma shrinks towards a node as 4t(1 - t); a
point interpolated along several axes adds the axes' variances.  Where no stencil exists (beyond
the populated grid), sigma is the network's own held-out error (the 68th percentile of
|network - grid| on the validation nodes): not calibrated there.

The arrays are ``sigma/*`` in the weights file (about 70 kB for the shipped grids).
"""

from __future__ import annotations

import numpy as np

from .hybrid import Signals

#: Depth points per calibration band.
BAND = 6
#: Standard-unit floor (int16 residual coding is good to about 1e-5 dex), and the offset of
#: the log10 signals.
FLOOR = 1e-5
EPS = 1e-7
#: Depth points on either side whose signal counts at a depth.
REACH = 1
#: Regression columns: intercept, log10 of the four signals, absent weight, cubic flag, then
#: each parameter (network-scaled to [-1, 1]) and its square.
SIGNALS = ("curve", "slope", "network", "rough")
COLUMNS = ("intercept",) + SIGNALS + ("absent", "cubic")


def n_columns(n_axes: int) -> int:
    """Regression columns for a grid of ``n_axes`` axes (:data:`COLUMNS`, parameters, squares)."""
    return len(COLUMNS) + 2 * n_axes


#: The calibration's arrays in a weights file are named ``sigma/...`` (see :func:`layout`).
PREFIX = "sigma/"


def layout(n_axes: int, n_blended: int, n_channels: int, n_depth: int) -> dict[str, tuple[int, ...]]:
    """The calibration's arrays in a weights file and their shapes: the coefficients per axis,
    blended channel, depth band and regression column; the (low, high) range each column was
    fitted on; the cap on log10 sigma per axis, channel and band; and the network's own error,
    per channel (every one) and depth."""
    coef = (n_axes, n_blended, -(-n_depth // BAND), n_columns(n_axes))
    return {"sigma/coef": coef, "sigma/range": coef + (2,), "sigma/cap": coef[:3], "sigma/network": (n_channels, n_depth)}


def check_arrays(array, fail, n_axes: int, n_blended: int, n_channels: int, n_depth: int) -> None:
    """Check a weights file's calibration (if it has one) with the file's own checks:
    ``array(key, shape, optional=False)`` returns the array, or None when it is optional and
    absent, and raises if it is malformed; ``fail(field, problem)`` raises
    (:func:`innterpol_cli.weightsfile.validate`)."""
    shapes = layout(n_axes, n_blended, n_channels, n_depth)
    if array("sigma/coef", shapes["sigma/coef"], optional=True) is None:
        return
    array("sigma/range", shapes["sigma/range"])
    array("sigma/cap", shapes["sigma/cap"])
    if np.any(array("sigma/network", shapes["sigma/network"]) <= 0):
        fail("array 'sigma/network'", "has values that are not positive")


def spread(signal: np.ndarray, n_depth: int, reach: int = REACH) -> np.ndarray:
    """Per channel, the largest signal within ``reach`` depth points (..., F) -> (..., F)."""
    if reach <= 0:
        return signal
    shape = signal.shape
    x = signal.reshape(shape[:-1] + (-1, n_depth))
    out = x.copy()
    for k in range(1, reach + 1):
        out[..., k:] = np.maximum(out[..., k:], x[..., :-k])
        out[..., :-k] = np.maximum(out[..., :-k], x[..., k:])
    return out.reshape(shape)


def _terms(signals: Signals, j: int, n_depth: int, x: np.ndarray):
    """The regression columns of the points' signals along axis ``j`` and their scaled parameters
    ``x`` (N, P), each (N, F) or (N, 1), in :func:`n_columns` order."""
    # The axis signals as they would be mid-cell (they vanish towards a node as 4t(1 - t) does;
    # sigma is multiplied by that factor instead, see Calibration.sigma).
    bump = np.maximum(signals.bump[:, j:j + 1], 1e-3)
    own = {"curve": signals.curve[:, j] / bump, "slope": signals.slope[:, j] / bump, "network": signals.network,
           "rough": signals.rough}
    yield np.ones((len(x), 1))
    for k in SIGNALS:
        yield np.log10(spread(own[k], n_depth) + EPS)
    yield signals.missing[:, None]
    yield signals.cubic[:, j:j + 1].astype(float)
    for i in range(x.shape[1]):
        yield x[:, i:i + 1]
    for i in range(x.shape[1]):
        yield x[:, i:i + 1] ** 2


def design(signals: Signals, j: int, n_depth: int, x: np.ndarray) -> np.ndarray:
    """Regression columns (K, N, F) (see :func:`_terms`), as the calibration fit
    (:mod:`innterpol_cli.uncertaintyfit`) regresses on them."""
    shape = (len(x), signals.curve.shape[2])
    return np.stack([np.broadcast_to(t, shape) for t in _terms(signals, j, n_depth, x)])


class Calibration:
    """The stored calibration: sigma in standard units from :class:`Signals`."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        coef = np.asarray(arrays["sigma/coef"], dtype=float)  # (P, H, bands, K)
        limits = np.asarray(arrays["sigma/range"], dtype=float)  # (P, H, bands, K, 2)
        self.network = np.asarray(arrays["sigma/network"], dtype=float)  # (C, D) every channel
        n_depth = self.network.shape[1]
        band = np.minimum(np.arange(n_depth) // BAND, coef.shape[2] - 1)
        # (P, K, H * D): each depth takes its band's coefficients and column ranges
        self.coef = coef[:, :, band].transpose(0, 3, 1, 2).reshape(coef.shape[0], coef.shape[3], -1)
        limits = limits[:, :, band].transpose(0, 3, 1, 2, 4).reshape(coef.shape[0], coef.shape[3], -1, 2)
        self.low, self.high = limits[..., 0], limits[..., 1]
        # (P, H * D): log10 of the largest |error| / 4t(1 - t) the calibration saw
        self.cap = np.asarray(arrays["sigma/cap"], dtype=float)[:, :, band].reshape(coef.shape[0], -1)

    @staticmethod
    def present(arrays: dict | None) -> bool:
        return bool(arrays) and "sigma/coef" in arrays

    def sigma(self, signals: Signals, channels: np.ndarray, x: np.ndarray) -> np.ndarray:
        """1-sigma (N, F) of the blended channels (flattened like the blend) in standard units, for
        points with scaled parameters ``x`` (N, P)."""
        n, p, f = signals.curve.shape
        n_depth = self.network.shape[1]
        var = np.full((n, f), FLOOR**2)
        for j in range(p):
            spans = signals.bump[:, j] > 0
            if not spans.any():
                continue
            # Each column is held to the range the calibration saw (no extrapolated regression);
            # sigma then shrinks towards a node as 4t(1 - t).
            terms = _terms(signals.take(spans), j, n_depth, x[spans])
            log_sigma = sum(c * np.clip(t, lo, hi) for c, t, lo, hi in zip(self.coef[j], terms, self.low[j], self.high[j]))
            # No sigma beyond the largest error the calibration saw along this axis.
            var[spans] += (signals.bump[spans, j:j + 1] * 10.0 ** np.minimum(log_sigma, self.cap[j])) ** 2
        net = self.network[channels].reshape(-1)
        return np.where(signals.found[:, None], np.sqrt(var), net[None])
