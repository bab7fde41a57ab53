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
    (:data:`innterpol_cli.limits.HYDROSTATIC_TOLERANCE`);
``electron_pressure``
    Pe = Ne k T, where a model carries both;
``smooth``
    the second differences of log T, log P_gas, log Ne (or log Pe) and log RHOX between
    neighbouring depths stay within the largest the real models show at that depth
    (:data:`innterpol_cli.limits.SMOOTHNESS_LIMIT`);
``fields``
    (with a text format) every value fits its fixed-width field, so that the written row keeps
    its columns and a blank between every two numbers (see ``formats.atlas9.DECK_FIELDS``).

The hydrostatic and smoothness limits were measured on the real models: :mod:`innterpol_cli.limits`
holds them and the tools that measured them.  A test that a model lacks the quantities for is
"not applicable".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from formats.errors import InnterpolError
from formats.model import BOLTZMANN, PARAMETER_NAMES

from .limits import (
    HYDROSTATIC_METHODS,
    HYDROSTATIC_TOLERANCE,
    SCALES,
    SMOOTHNESS_LIMIT,
    depth_bins,
    hydrostatic_deviation,
    scale_family,
    smoothness,
)

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
#: Pe / (Ne k T) - 1 allowed where both are given: both are printed to 4-5 digits in every format
#: (no grid model carries both, so there is nothing to measure; 2e-3 is 4 printed digits twice).
ELECTRON_PRESSURE_TOLERANCE = 2e-3

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
    #: The model as the format would write it (:func:`formats.as_written`), the view the tests
    #: judged: handed to the writer, it writes that very text.  None without a format.
    written: object = None

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
    writer derives (:func:`formats.as_written`), with the ``fields`` test of a text format, and,
    for a text format, as its file reads back, at the written precision (what ``innterpol check``
    of the written file will judge).
    """
    import formats
    from formats.registry import TextFormat

    models = list(models)
    has_fields = isinstance(formats.get_format(format), TextFormat) if format else False
    reports = [Report(i, atm) for i, atm in enumerate(models)]
    completed, views = [], []
    for atm in models:
        layers, written = dict(atm.layers), None
        if format:
            # The writer names what is missing; the check judges what is there.
            with contextlib.suppress(InnterpolError):
                written = formats.as_written(atm, format)  # the model completed once, for every test
                layers.update(written.derived)
                layers.update(written.read_back())
        completed.append(layers)
        views.append(written)
    groups: dict[tuple, list[int]] = {}
    for i, (atm, layers) in enumerate(zip(models, completed)):
        key = (atm.ndepth, tuple(sorted(layers)), tuple(sorted(atm.partial_pressures)))
        groups.setdefault(key, []).append(i)
    for (_, names, pp_names), members in groups.items():
        arrays = {name: np.array([completed[i][name] for i in members], dtype=float) for name in names}
        partial = {name: np.array([models[i].partial_pressures[name] for i in members], dtype=float) for name in pp_names}
        parameters = {p: np.array([float(getattr(models[i], p)) for i in members]) for p in PARAMETER_NAMES}
        for test, run in _VECTOR_TESTS.items():
            outcome = run(arrays, partial, parameters)
            if outcome is None:
                for i in members:
                    reports[i].not_applicable.add(test)
                continue
            for j, failure in enumerate(outcome):
                if failure is not None:
                    reports[members[j]].failures.append(failure)
    for report, written in zip(reports, views):
        report.written = written
        if not has_fields:
            report.not_applicable.add("fields")
            continue
        if written is None:  # a quantity the writer needs is missing: its MissingQuantityError
            written = formats.as_written(report.atmosphere, format)
        problems = written.field_overflows()
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


def summary(reports) -> dict[str, tuple[int, int, int]]:
    """Per test: (passed, failed, not applicable) model counts."""
    out = {}
    for test in TESTS:
        failed = sum(r.failed(test) for r in reports)
        absent = sum(test in r.not_applicable for r in reports)
        out[test] = (len(reports) - failed - absent, failed, absent)
    return out


def require_valid(models, format: str | None, labels, skip_invalid: bool = False,
                  written: list | None = None) -> tuple[list[int], list[str]]:
    """Check ``models`` before writing them as ``format``.

    Returns the indices of the models that pass and one line per model that fails (its label and
    its failed tests).  Without ``skip_invalid`` a failure raises CheckError naming the first
    failing model and its test.  ``written``, a list, gets the passing models' views as the
    format writes them (:class:`formats.AsWritten`): the writer takes them, and writes what was
    judged, formatted once.
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
    if written is not None:
        written += [r.written if r.written is not None else r.atmosphere for r in reports if r.ok]
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


def _hydrostatic(arrays, partial, parameters):
    result = hydrostatic_deviation(arrays, parameters["logg"])
    if result is None or "log_tau_ross" not in arrays:
        return None
    deviation, method = result
    table = np.array([HYDROSTATIC_TOLERANCE[m] for m in HYDROSTATIC_METHODS])
    limit = table[method[:, None], depth_bins(arrays["log_tau_ross"])]
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


def _smooth(arrays, partial, parameters):
    curvatures = smoothness(arrays)
    if not curvatures:
        return None
    family = scale_family(arrays["log_tau_ross"])
    bins = depth_bins(arrays["log_tau_ross"])
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


