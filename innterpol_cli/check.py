"""Physical-consistency checks of model atmospheres, in any format ``formats`` reads.

:func:`check` runs every test on every model and returns one :class:`Report` per model: which
tests failed, on which quantity, at which depth, with which value and limit.  numpy only: no
torch, no Rich, nothing printed.  The tests (:data:`TESTS`):

``finite``
    every parameter, depth quantity and partial pressure is a finite number;
``monotonic``
    the optical depths (log tau_Ross, log tau_5000, PHOENIX's tau), the column mass RHOX and
    the geometric depth increase strictly inwards;
``positive``
    T, P_gas, Ne, Pe, kappa_Ross, density, RHOX and mu are > 0; sound speed, radiative
    acceleration, radiation and turbulent pressure and microturbulence are >= 0.  The convective
    flux and velocity are signed diagnostics and are not tested here (two MARCS grid models have
    small negative Fconv/F); an ATLAS9 deck cannot hold a negative one anyway (``fields``);
``hydrostatic``
    P_gas + P_rad (+ P_turb) = g RHOX, to the level the grid models themselves reach
    (:data:`HYDROSTATIC_TOLERANCE`);
``electron_pressure``
    Pe = Ne k T, where a model carries both;
``smooth``
    the second differences of log T, log P_gas, log Ne (or log Pe) and log RHOX between
    neighbouring depths stay within the largest the real models show at that depth
    (:data:`SMOOTHNESS_LIMIT`);
``fields``
    (with a text format) every value fits its fixed-width field, so that the written row keeps
    its columns and a blank between every two numbers (see ``formats.atlas9.DECK_FIELDS``).

The limits were measured with :func:`grid_levels` on every model of the two shared grids (CK04
ATLAS9, 7,141 models; MARCS SDSS, 4,936) and the shared samples, per bin of 0.5 in log tau_Ross,
and stored by :func:`limits_from_levels` as the largest value within one bin times
:data:`MARGIN`, rounded up to two digits; docs/formats.md has the figures and the commands.
A test that a model lacks the quantities for is "not applicable".
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import numpy as np

from formats.errors import InnterpolError
from formats.model import BOLTZMANN

#: Test name: what it checks (the order of reports and of the summary).
TESTS = {
    "finite": "every value is a finite number",
    "monotonic": "tau, RHOX and depth increase strictly inwards",
    "positive": "T, P, Ne/Pe, kappa, rho, RHOX > 0 (P_rad, ACCRAD, VELSND >= 0)",
    "hydrostatic": "P_gas + P_rad (+ P_turb) = g RHOX to the grid's own level",
    "electron_pressure": "Pe = Ne k T where both are given",
    "smooth": "2nd differences of log T, P, Ne, RHOX within the grid's own",
    "fields": "every value fits its fixed-width field of the file format",
}

MONOTONIC = ("log_tau_ross", "log_tau_5000", "tau_std", "column_mass", "depth")
POSITIVE = ("temperature", "gas_pressure", "electron_density", "electron_pressure", "rosseland_opacity", "density",
            "column_mass", "mean_molecular_weight")
NON_NEGATIVE = ("sound_speed", "radiative_acceleration", "radiation_pressure", "turbulent_pressure", "microturbulence")
#: The quantities whose smoothness is tested; "electrons" is Ne where given, else Pe.
SMOOTH = ("temperature", "gas_pressure", "electrons", "column_mass")
#: Pe / (Ne k T) - 1 allowed where both are given: both are printed to 4-5 digits in every format
#: (no grid model carries both, so there is nothing to measure; 2e-3 is 4 printed digits twice).
ELECTRON_PRESSURE_TOLERANCE = 2e-3

#: Limits are the largest value any real model reaches near a depth, times this.
MARGIN = 1.5
#: Bins of log tau_Ross for the depth-dependent limits: [-7.0, -6.5), [-6.5, -6.0) ... [2.0, 2.5].
BIN_LOW, BIN_WIDTH, N_BINS = -7.0, 0.5, 19

#: The depth scales of the two grids, which decide whose smoothness limits apply to a model.
SCALES = ("atlas9", "marcs", "other")
ATLAS9_LOG_TAU = -6.875 + 0.125 * np.arange(72)
MARCS_LOG_TAU = np.round(np.concatenate([np.arange(-5.0, -3.1, 0.2), np.arange(-3.0, 0.95, 0.1), np.arange(1.0, 2.05, 0.2)]), 2)
_SCALE_MATCH = 0.06  # dex, as formats.atlas9 snaps an integrated tau onto its standard scale

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


class CheckError(InnterpolError):
    """A model fails the physical-consistency check and is not written."""


@dataclass(frozen=True)
class Failure:
    """One failed test of one model: the quantity, the depth (0-based index), the value and the limit."""

    test: str
    quantity: str
    depth: int | None
    value: float
    limit: float | None = None
    detail: str = ""

    def describe(self) -> str:
        where = f" at depth {self.depth + 1}" if self.depth is not None else ""
        text = f"{self.test}: {self.quantity}{where}"
        return f"{text} {self.detail}" if self.detail else f"{text} = {self.value:.4g}"


@dataclass
class Report:
    """The check of one model: ``failures`` (at most one per test) and the tests that did not apply."""

    index: int
    atmosphere: object
    failures: list[Failure] = field(default_factory=list)
    not_applicable: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.failures

    def failed(self, test: str) -> bool:
        return any(f.test == test for f in self.failures)

    def describe(self) -> str:
        return "; ".join(f.describe() for f in self.failures)


def check(models, format: str | None = None) -> list[Report]:
    """A :class:`Report` for every model, in order.

    With ``format``, each model is checked as that format would write it: with the quantities its
    writer derives (formats.derived_quantities), with the ``fields`` test of a text format, and,
    for a text format, as its file reads back, at the written precision (what ``innterpol check``
    of the written file will judge).
    """
    import formats

    models = list(models)
    module = formats.get_format(format) if format else None
    field_overflows = getattr(module, "field_overflows", None)
    reports = [Report(i, atm) for i, atm in enumerate(models)]
    completed = []
    for atm in models:
        layers = dict(atm.layers)
        if format:
            # The writer names what is missing; the check judges what is there.
            with contextlib.suppress(InnterpolError):
                layers.update(formats.derived_quantities(atm, format))
                layers.update(_as_written(module, atm))
        completed.append(layers)
    groups: dict[tuple, list[int]] = {}
    for i, (atm, layers) in enumerate(zip(models, completed)):
        key = (atm.ndepth, tuple(sorted(layers)), tuple(sorted(atm.partial_pressures)))
        groups.setdefault(key, []).append(i)
    for (_, names, pp_names), members in groups.items():
        arrays = {name: np.array([completed[i][name] for i in members], dtype=float) for name in names}
        partial = {name: np.array([models[i].partial_pressures[name] for i in members], dtype=float) for name in pp_names}
        parameters = {p: np.array([float(getattr(models[i], p)) for i in members]) for p in ("teff", "logg", "mh", "am", "cm")}
        for test, run in _VECTOR_TESTS.items():
            outcome = run(arrays, partial, parameters)
            if outcome is None:
                for i in members:
                    reports[i].not_applicable.add(test)
                continue
            for j, failure in enumerate(outcome):
                if failure is not None:
                    reports[members[j]].failures.append(failure)
    for report in reports:
        if field_overflows is None:
            report.not_applicable.add("fields")
            continue
        problems = field_overflows(report.atmosphere)
        if problems:
            quantity, depth, value, width = problems[0]
            more = f" (and {len(problems) - 1} more quantities)" if len(problems) > 1 else ""
            # width 0: a value the format's reader would misread (MOOG's unit guesses), not a width
            text = (f"= {value:.4g} would be misread by {format} (its unit guesses){more}" if width == 0 else
                    f"= {value:.4g} does not fit its {width}-character {format} field{more}")
            report.failures.append(Failure("fields", quantity, None if depth is None else depth - 1, value, width, text))
    order = list(TESTS)
    for report in reports:
        report.failures.sort(key=lambda f: order.index(f.test))
    return reports


def _as_written(module, atm) -> dict[str, np.ndarray]:
    """The depth quantities of ``atm`` as a text format's file of it reads back (rounded to the
    printed digits, re-derived as the reader derives them); nothing for a binary format."""
    if not hasattr(module, "parse"):
        return {}
    written = module.parse(module.format_model(atm), atm.describe())[0]
    return {name: values for name, values in written.layers.items() if len(values) == atm.ndepth}


def summary(reports) -> dict[str, tuple[int, int, int]]:
    """Per test: (passed, failed, not applicable) model counts."""
    out = {}
    for test in TESTS:
        failed = sum(r.failed(test) for r in reports)
        absent = sum(test in r.not_applicable for r in reports)
        out[test] = (len(reports) - failed - absent, failed, absent)
    return out


def require_valid(models, format: str | None, labels, skip_invalid: bool = False) -> tuple[list[int], list[str]]:
    """Check ``models`` before writing them as ``format``.

    Returns the indices of the models that pass and one line per model that fails (its label and
    its failed tests).  Without ``skip_invalid`` a failure raises CheckError naming the first
    failing model and its test.
    """
    reports = check(models, format)
    labels = list(labels)
    failing = [r for r in reports if not r.ok]
    problems = [f"{labels[r.index]}: {r.describe()}" for r in failing]
    if failing and not skip_invalid:
        first = failing[0]
        more = ""
        if len(reports) > 1:
            others = f"{len(failing) - 1} more of the {len(reports)} models fail too; " if len(failing) > 1 else ""
            more = f" ({others}--skip-invalid writes those that pass)"
        raise CheckError(f"{labels[first.index]}: fails the physical-consistency check ({first.describe()}); nothing written{more}")
    return [r.index for r in reports if r.ok], problems


# --------------------------------------------------------------------------------- the tests
def _first(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: whether any entry is set, and the first such column."""
    return mask.any(axis=1), mask.argmax(axis=1)


def _collect(n: int, found: list[tuple[np.ndarray, np.ndarray, callable]]) -> list[Failure | None]:
    """The first failure of each row over several (hit, column, make-failure) candidates, in order."""
    out: list[Failure | None] = [None] * n
    for hit, column, make in found:
        for j in np.flatnonzero(hit):
            if out[j] is None:
                out[j] = make(j, int(column[j]))
    return out


def _finite(arrays, partial, parameters):
    candidates = []
    for name, values in parameters.items():
        bad = ~np.isfinite(values)
        candidates.append((bad, np.zeros(len(bad), dtype=int),
                           lambda j, k, name=name, v=values: Failure("finite", name, None, float(v[j]))))
    for name, values in list(arrays.items()) + list(partial.items()):
        hit, column = _first(~np.isfinite(values))
        candidates.append((hit, column, lambda j, k, name=name, v=values: Failure("finite", name, k, float(v[j, k]))))
    return _collect(len(next(iter(parameters.values()))), candidates)


def _monotonic(arrays, partial, parameters):
    present = [name for name in MONOTONIC if name in arrays]
    if not present:
        return None
    candidates = []
    for name in present:
        values = arrays[name]
        with np.errstate(invalid="ignore"):
            hit, column = _first(np.diff(values, axis=1) <= 0)

        def make(j, k, name=name, v=values):
            return Failure("monotonic", name, k + 1, float(v[j, k + 1]), float(v[j, k]),
                           f"= {v[j, k + 1]:.4g} is not above {v[j, k]:.4g} at depth {k + 1}")

        candidates.append((hit, column, make))
    return _collect(len(values), candidates)


def _positive(arrays, partial, parameters):
    candidates = []
    for names, strict in ((POSITIVE, True), (NON_NEGATIVE, False)):
        for name in names:
            if name not in arrays:
                continue
            values = arrays[name]
            hit, column = _first(values <= 0 if strict else values < 0)
            bound = "> 0" if strict else ">= 0"
            candidates.append((hit, column, lambda j, k, name=name, v=values, bound=bound:
                               Failure("positive", name, k, float(v[j, k]), 0.0, f"= {v[j, k]:.4g}, must be {bound}")))
    n = len(next(iter(parameters.values())))
    return _collect(n, candidates)


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


HYDROSTATIC_METHODS = ("radiation_pressure", "radiative_acceleration", "gas")


def _bins(log_tau: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        index = np.floor((np.nan_to_num(log_tau, nan=BIN_LOW) - BIN_LOW) / BIN_WIDTH)
    return np.clip(index, 0, N_BINS - 1).astype(int)


def _hydrostatic(arrays, partial, parameters):
    result = hydrostatic_deviation(arrays, parameters["logg"])
    if result is None or "log_tau_ross" not in arrays:
        return None
    deviation, method = result
    table = np.array([HYDROSTATIC_TOLERANCE[m] for m in HYDROSTATIC_METHODS])
    limit = table[method[:, None], _bins(arrays["log_tau_ross"])]
    with np.errstate(invalid="ignore"):
        hit, column = _first(np.abs(deviation) > limit)

    def make(j, k):
        return Failure("hydrostatic", "P_gas + P_rad", k, float(deviation[j, k]), float(limit[j, k]),
                       f"is {deviation[j, k]:+.3g} off g RHOX (grid level {limit[j, k]:.2g}, {HYDROSTATIC_METHODS[method[j]]})")

    return _collect(len(deviation), [(hit, column, make)])


def _electron_pressure(arrays, partial, parameters):
    if not all(name in arrays for name in ("electron_pressure", "electron_density", "temperature")):
        return None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        deviation = arrays["electron_pressure"] / (arrays["electron_density"] * BOLTZMANN * arrays["temperature"]) - 1.0
        hit, column = _first(np.abs(deviation) > ELECTRON_PRESSURE_TOLERANCE)
    return _collect(len(deviation), [(hit, column, lambda j, k: Failure(
        "electron_pressure", "Pe / (Ne k T)", k, float(deviation[j, k]) + 1.0, ELECTRON_PRESSURE_TOLERANCE,
        f"= {deviation[j, k] + 1.0:.4g}, not 1 within {ELECTRON_PRESSURE_TOLERANCE:g}"))])


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


def scale_family(log_tau: np.ndarray) -> np.ndarray:
    """Per model (rows of ``log_tau``): the index in :data:`SCALES` of the depth scale it is on."""
    family = np.full(len(log_tau), SCALES.index("other"))
    for index, scale in enumerate((ATLAS9_LOG_TAU, MARCS_LOG_TAU)):
        if log_tau.shape[1] == len(scale):
            with np.errstate(invalid="ignore"):
                on = np.all(np.abs(log_tau - scale) < _SCALE_MATCH, axis=1)
            family[on & (family == SCALES.index("other"))] = index
    return family


def _smooth(arrays, partial, parameters):
    curvatures = smoothness(arrays)
    if not curvatures:
        return None
    family = scale_family(arrays["log_tau_ross"])
    bins = _bins(arrays["log_tau_ross"])
    candidates = []
    for name, curvature in curvatures.items():
        table = np.array([SMOOTHNESS_LIMIT[scale][name] for scale in SCALES])
        limit = table[family[:, None], bins]
        with np.errstate(invalid="ignore"):
            hit, column = _first(curvature > limit)
        source = "electron_density" if "electron_density" in arrays else "electron_pressure"
        label = "log " + (source if name == "electrons" else name)
        candidates.append((hit, column, lambda j, k, c=curvature, lim=limit, label=label: Failure(
            "smooth", label, k, float(c[j, k]), float(lim[j, k]),
            f"has a second difference of {c[j, k]:.3g} dex (the grid's largest there, with margin: {lim[j, k]:.2g})")))
    return _collect(len(bins), candidates)


_VECTOR_TESTS = {
    "finite": _finite,
    "monotonic": _monotonic,
    "positive": _positive,
    "hydrostatic": _hydrostatic,
    "electron_pressure": _electron_pressure,
    "smooth": _smooth,
}


# --------------------------------------------------------------------- measuring the limits
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
        bins = _bins(arrays["log_tau_ross"])
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
    """The constants of this module from :func:`grid_levels` of the real models: each level times
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
