"""The limits of the physical-consistency check (:mod:`innterpol_cli.check`) that the real models set.

Two tests have depth-dependent limits, measured on the real models rather than chosen: the
hydrostatic equilibrium (:func:`hydrostatic_deviation`, limits :data:`HYDROSTATIC_TOLERANCE`) and
the smoothness of the profiles (:func:`smoothness`, limits :data:`SMOOTHNESS_LIMIT`, per depth
scale: :func:`scale_family`).  This module holds those statistics, the limit tables and the tools
that measured them.

The limits were measured with :func:`grid_levels` on every model of the two shared grids (CK04
ATLAS9, 7,141 models; MARCS SDSS, 4,936) and the shared samples, per bin of 0.5 in log tau_Ross
(:func:`depth_bins`), and stored by :func:`limits_from_levels` as the largest value within one bin
times :data:`MARGIN`, rounded up to two digits; docs/formats.md has the figures and the commands.
"""

from __future__ import annotations

import math

import numpy as np

from formats.atlas9 import SNAP_TOLERANCE, STANDARD_LOG_TAU

#: The quantities whose smoothness is tested; "electrons" is Ne where given, else Pe.
SMOOTH = ("temperature", "gas_pressure", "electrons", "column_mass")
#: How a model's radiation pressure is known, which decides its hydrostatic limits.
HYDROSTATIC_METHODS = ("radiation_pressure", "radiative_acceleration", "gas")

#: Limits are the largest value any real model reaches near a depth, times this.
MARGIN = 1.5
#: Bins of log tau_Ross for the depth-dependent limits: [-7.0, -6.5), [-6.5, -6.0) ... [2.0, 2.5].
BIN_LOW, BIN_WIDTH, N_BINS = -7.0, 0.5, 19

#: The depth scales of the two grids, which decide whose smoothness limits apply to a model.
SCALES = ("atlas9", "marcs", "other")
ATLAS9_LOG_TAU = STANDARD_LOG_TAU
MARCS_LOG_TAU = np.round(np.concatenate([np.arange(-5.0, -3.1, 0.2), np.arange(-3.0, 0.95, 0.1), np.arange(1.0, 2.05, 0.2)]), 2)

# --- Limits measured on the real models ------------------------------------------------------------
# The largest value (grid_levels) over every model of both grids and of the shared samples
# (../shared/samples: ksun.mod, the MARCS 2008 standard models sun.mod, s5000_..._st ...), per bin of
# log tau_Ross, times MARGIN, rounded up to two digits; bins without points take their neighbour's.
# Regenerate:  limits_from_levels(grid_levels(every real model)); docs/formats.md has the figures.
# Bins:  -7.0 -6.5 -6.0 -5.5 -5.0 -4.5 -4.0 -3.5 -3.0 -2.5 | -2.0 -1.5 -1.0 -0.5 0.0 0.5 1.0 1.5 2.0
#
#: |P_support / (g RHOX) - 1| allowed, by how the radiation pressure is known:
#: ``radiation_pressure``: P_gas + P_rad (+ P_turb) with the model's own P_rad (MARCS).  The SDSS
#: grid holds it to 5e-5 (its RHOX is (P_gas + P_rad) / g, to the printed digits), but the MARCS
#: 2008 standard models do not (their RHOX is the integral of rho dz): 16 % at the top of
#: s6000_g+1.0_m0.5_t05_st, 3.5 % in sun.mod; the limit covers both;
#: ``radiative_acceleration``: P_gas + the integral of ACCRAD d(RHOX) (ATLAS9).  CK04's hot models
#: are far from it at the top, where ACCRAD exceeds g, and its cool giants at the bottom, where the
#: trapezoid integral of the steep ACCRAD is coarse; 0.02 at log tau -2 ... -1;
#: ``gas``: P_gas alone, where neither is known (every model with its P_rad left out).
HYDROSTATIC_TOLERANCE: dict[str, tuple[float, ...]] = {
    "radiation_pressure": (
        0.24, 0.24, 0.24, 0.24, 0.24, 0.24, 0.24, 0.24, 0.22, 0.2,
        0.17, 0.15, 0.13, 0.11, 0.093, 0.084, 0.12, 0.17, 0.17,
    ),
    "radiative_acceleration": (
        4.7, 4.7, 3.2, 2.2, 0.91, 0.55, 0.55, 0.51, 0.23, 0.09,
        0.062, 0.15, 0.35, 0.65, 0.88, 1.1, 1.3, 1.4, 1.4,
    ),
    "gas": (
        1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.3, 1.2, 1.1,
        1.1, 1.1, 1.1, 1.2, 1.4, 1.5, 1.5, 1.5, 1.5,
    ),
}
#: |log X[k-1] - 2 log X[k] + log X[k+1]| (dex) allowed, per depth scale ("atlas9": the CK04
#: scale, "marcs": the MARCS one, "other": neither, which gets the largest of all) and quantity.
SMOOTHNESS_LIMIT: dict[str, dict[str, tuple[float, ...]]] = {
    "atlas9": {
        "temperature": (
            0.034, 0.034, 0.026, 0.028, 0.031, 0.044, 0.044, 0.044, 0.024, 0.024,
            0.024, 0.012, 0.025, 0.031, 0.031, 0.098, 0.18, 0.18, 0.18,
        ),
        "gas_pressure": (
            1.5, 2.1, 2.1, 3.3, 3.3, 3.3, 0.32, 0.042, 0.027, 0.026,
            0.026, 0.06, 0.066, 0.066, 0.12, 0.13, 0.7, 0.7, 0.7,
        ),
        "electrons": (
            1.5, 2.1, 2.1, 3.3, 3.3, 3.3, 0.32, 0.26, 0.15, 0.15,
            0.15, 0.15, 0.13, 0.14, 0.18, 0.18, 0.7, 0.7, 0.7,
        ),
        "column_mass": (
            0.076, 0.076, 0.057, 0.041, 0.041, 0.057, 0.057, 0.057, 0.025, 0.025,
            0.026, 0.06, 0.066, 0.066, 0.066, 0.05, 0.11, 0.11, 0.11,
        ),
    },
    "marcs": {
        "temperature": (
            0.0081, 0.0081, 0.0081, 0.0081, 0.0081, 0.0095, 0.011, 0.019, 0.019, 0.019,
            0.016, 0.013, 0.0093, 0.014, 0.031, 0.16, 0.27, 0.27, 0.27,
        ),
        "gas_pressure": (
            0.29, 0.29, 0.29, 0.29, 0.29, 0.29, 0.26, 0.2, 0.2, 0.2,
            0.029, 0.029, 0.04, 0.042, 0.042, 0.18, 0.24, 0.24, 0.24,
        ),
        "electrons": (
            0.24, 0.24, 0.24, 0.24, 0.24, 0.24, 0.2, 0.35, 0.35, 0.35,
            0.19, 0.15, 0.15, 0.19, 0.47, 0.66, 0.66, 0.66, 0.46,
        ),
        "column_mass": (
            0.091, 0.091, 0.091, 0.091, 0.091, 0.091, 0.081, 0.2, 0.2, 0.2,
            0.029, 0.029, 0.04, 0.042, 0.042, 0.17, 0.18, 0.18, 0.18,
        ),
    },
    "other": {
        "temperature": (
            0.034, 0.034, 0.034, 0.031, 0.044, 0.044, 0.044, 0.044, 0.044, 0.024,
            0.024, 0.025, 0.031, 0.031, 0.16, 0.27, 0.27, 0.27, 0.27,
        ),
        "gas_pressure": (
            4.2, 4.2, 4.2, 4.2, 4.2, 3.3, 3.3, 0.95, 0.2, 0.2,
            0.2, 0.066, 0.066, 0.12, 0.67, 2.8, 2.8, 2.8, 2.8,
        ),
        "electrons": (
            4.2, 4.2, 4.2, 4.2, 4.2, 3.3, 3.3, 0.95, 0.35, 0.35,
            0.35, 0.19, 0.19, 0.47, 0.67, 2.8, 2.8, 2.8, 2.8,
        ),
        "column_mass": (
            0.12, 0.12, 0.12, 0.12, 0.091, 0.091, 0.2, 0.2, 0.2, 0.2,
            0.2, 0.066, 0.066, 0.066, 0.17, 0.18, 0.18, 0.18, 0.18,
        ),
    },
}


def depth_bins(log_tau: np.ndarray) -> np.ndarray:
    """The index of the bin (:data:`BIN_LOW`, :data:`BIN_WIDTH`, :data:`N_BINS`) of each log tau_Ross;
    NaN and values below the first bin take the first, values beyond the last the last."""
    with np.errstate(invalid="ignore"):
        index = np.floor((np.nan_to_num(log_tau, nan=BIN_LOW) - BIN_LOW) / BIN_WIDTH)
    return np.clip(index, 0, N_BINS - 1).astype(int)


def scale_family(log_tau: np.ndarray) -> np.ndarray:
    """Per model (rows of ``log_tau``): the index in :data:`SCALES` of the depth scale it is on."""
    family = np.full(len(log_tau), SCALES.index("other"))
    for index, scale in enumerate((ATLAS9_LOG_TAU, MARCS_LOG_TAU)):
        if log_tau.shape[1] == len(scale):
            with np.errstate(invalid="ignore"):
                on = np.all(np.abs(log_tau - scale) < SNAP_TOLERANCE, axis=1)  # as formats.atlas9 snaps a tau onto its scale
            family[on & (family == SCALES.index("other"))] = index
    return family


def hydrostatic_deviation(arrays: dict, logg: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """P_support / (g RHOX) - 1 (N, D) and, per model, which support was used (an index into
    :data:`HYDROSTATIC_METHODS`); None without RHOX and P_gas.

    P_support = P_gas (+ P_turb) + P_rad, with P_rad the model's radiation pressure where it has one
    (MARCS), else the integral of ACCRAD over RHOX from the top (trapezoid, the first layer
    ACCRAD_1 RHOX_1: ATLAS9's d P_gas / d RHOX = g - g_rad; PRADK, the radiation pressure at the
    top, cancels in it), else 0.
    """
    if "column_mass" not in arrays or "gas_pressure" not in arrays:
        return None
    mass = arrays["column_mass"]
    support = arrays["gas_pressure"].copy()
    if "turbulent_pressure" in arrays:
        support += arrays["turbulent_pressure"]
    method = np.full(len(mass), HYDROSTATIC_METHODS.index("gas"))
    if "radiation_pressure" in arrays:
        support += arrays["radiation_pressure"]
        method[:] = HYDROSTATIC_METHODS.index("radiation_pressure")
    elif "radiative_acceleration" in arrays:
        acc = arrays["radiative_acceleration"]
        with np.errstate(invalid="ignore", over="ignore"):
            integral = np.cumsum(np.concatenate([acc[:, :1] * mass[:, :1], 0.5 * (acc[:, 1:] + acc[:, :-1]) * np.diff(mass, axis=1)], axis=1), axis=1)
        known = np.any(acc != 0, axis=1)  # all zero: a deck converted from a source without ACCRAD
        support = np.where(known[:, None], support + integral, support)
        method[known] = HYDROSTATIC_METHODS.index("radiative_acceleration")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        deviation = support / (10.0 ** logg[:, None] * mass) - 1.0
    return deviation, method


def smoothness(arrays: dict) -> dict[str, np.ndarray]:
    """|second difference| of log10 X between neighbouring depths, |y[k-1] - 2 y[k] + y[k+1]| (N, D),
    of each quantity of :data:`SMOOTH` the model has; the first and last depth have none (0).

    Per depth step, not per unit of log tau: on a grid's own depth scale the two differ by the
    squared step only, and a model with two nearly coincident depths (the top of ksun.mod lies
    0.0004 dex below its first point) does not blow up a derivative.  The limits are per scale.
    """
    if "log_tau_ross" not in arrays:
        return {}
    out = {}
    for name in SMOOTH:
        source = name if name != "electrons" else ("electron_density" if "electron_density" in arrays else "electron_pressure")
        if source not in arrays:
            continue
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            y = np.log10(arrays[source])
            curvature = np.zeros_like(y)
            curvature[:, 1:-1] = np.abs(y[:, 2:] - 2.0 * y[:, 1:-1] + y[:, :-2])
        out[name] = curvature
    return out


# ------------------------------------------------------------------- measuring the limits
def grid_levels(models) -> dict:
    """The largest value the ``models`` reach, per bin of log tau_Ross, of every statistic the
    limits bound: ``{"hydrostatic": {method: (N_BINS,)}, "smooth": {scale: {quantity: (N_BINS,)}}}``;
    the hydrostatic "gas" level is that of every model with its P_rad left out.  NaN where no model
    has a point in a bin.  This is how the limits above were measured."""
    hydro = {m: np.full(N_BINS, np.nan) for m in HYDROSTATIC_METHODS}
    smooth = {scale: {name: np.full(N_BINS, np.nan) for name in SMOOTH} for scale in SCALES}
    groups: dict[tuple, list] = {}
    for atm in models:
        if "log_tau_ross" in atm.layers:
            groups.setdefault((atm.ndepth, tuple(sorted(atm.layers))), []).append(atm)
    for (_, names), members in groups.items():
        arrays = {name: np.array([m.layers[name] for m in members]) for name in names}
        logg = np.array([m.logg for m in members])
        bins = depth_bins(arrays["log_tau_ross"])
        gas_only = {k: v for k, v in arrays.items() if k not in ("radiation_pressure", "radiative_acceleration")}
        for source in (arrays, gas_only):
            result = hydrostatic_deviation(source, logg)
            if result is not None:
                deviation, method = result
                for m in np.unique(method):
                    _bin_max(hydro[HYDROSTATIC_METHODS[m]], np.abs(deviation[method == m]), bins[method == m])
        family = scale_family(arrays["log_tau_ross"])
        for name, curvature in smoothness(arrays).items():
            for f in np.unique(family):
                _bin_max(smooth[SCALES[f]][name], curvature[family == f, 1:-1], bins[family == f, 1:-1])
    return {"hydrostatic": hydro, "smooth": smooth}


def _bin_max(target: np.ndarray, values: np.ndarray, bins: np.ndarray) -> None:
    finite = np.isfinite(values)
    for b in np.unique(bins[finite]):
        target[b] = np.nanmax([target[b], values[finite & (bins == b)].max()])


def limits_from_levels(levels: dict) -> dict:
    """The limit tables of this module from :func:`grid_levels` of the real models: each level times
    MARGIN, rounded up to two digits; a bin without points takes its nearest neighbour's value,
    and models on neither grid's scale get the largest of the three scales."""

    def filled(values):
        values = np.asarray(values, dtype=float)
        known = np.flatnonzero(np.isfinite(values))
        values = values[known[np.abs(np.arange(N_BINS)[:, None] - known[None]).argmin(axis=1)]]
        # A depth's limit is the largest level within one bin of it, so that the limit does not
        # jump at a bin edge (a model at log tau -2.50 is judged as one at -2.55).
        padded = np.concatenate([values[:1], values, values[-1:]])
        return np.maximum.reduce([padded[:-2], padded[1:-1], padded[2:]])

    def limit(values):
        return tuple(_round_up(v * MARGIN) for v in filled(values))

    smooth = {scale: {name: limit(v) for name, v in levels["smooth"][scale].items()} for scale in ("atlas9", "marcs")}
    smooth["other"] = {
        name: limit(np.fmax.reduce([filled(levels["smooth"][scale][name]) for scale in SCALES])) for name in SMOOTH
    }
    return {
        "HYDROSTATIC_TOLERANCE": {method: limit(v) for method, v in levels["hydrostatic"].items()},
        "SMOOTHNESS_LIMIT": smooth,
    }


def _round_up(value: float) -> float:
    if value <= 0:
        return 0.0
    scale = 10.0 ** (math.floor(math.log10(value)) - 1)
    return round(math.ceil(value / scale - 1e-9) * scale, 12)
