"""Where a point lies against a grid, and what innterpol says about it.

The parameter axes and their labels, the checks every parameter row passes, the coverage of a
row (INSIDE the populated grid, NEAR it, or OUTSIDE), the guard that refuses or warns, and the
words of its warnings.  No prediction here: :class:`Guard` is given the sigma it speaks about.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from formats.errors import InnterpolError
from formats.model import PARAMETER_NAMES

from .stencil import NodeSet

#: Every parameter axis innterpol knows, in the order grids list them; the first two are required.
AXES = PARAMETER_NAMES
REQUIRED = ("teff", "logg")
LABELS = {"teff": "Teff", "logg": "log g", "mh": "[M/H]", "am": "[alpha/M]", "cm": "[C/M]"}

INSIDE, NEAR, OUTSIDE = 0, 1, 2
STATUS_LABELS = {INSIDE: "interpolated", NEAR: "interpolated (cell not fully populated)",
                 OUTSIDE: "EXTRAPOLATED (beyond one grid step)"}
#: Default threshold (percent) of sigma(T) above which a prediction is warned about.
MAX_SIGMA = 1.0
#: Rows whose coverage is computed at once (its memory grows with the rows).
CHUNK = 1000

_REGION_WORDS = {"teff": ("cool", "hot"), "logg": ("low-gravity", "high-gravity"), "mh": ("metal-poor", "metal-rich")}


class OutOfGridError(InnterpolError):
    """Parameters lie farther than one grid step from every populated node."""


class ParameterError(InnterpolError):
    """Parameters that no grid can take (non-numeric, non-finite, Teff <= 0, an axis the grid lacks)."""


def describe(row, axes) -> str:
    """A parameter row in words: "Teff=5777 log g=4.44 [M/H]=0"."""
    return " ".join(f"{LABELS[a]}={v:g}" for a, v in zip(axes, row))


def missing_axis(key: str, axes, grid: str = "the grid") -> str:
    """The message for a parameter the grid (``grid``: "the atlas9 grid") has no axis for."""
    return f"{grid} has no {LABELS[key]} axis (its axes: {', '.join(LABELS[a] for a in axes)})"


#: Parameters beyond these are refused from the command line before any arithmetic: no star and
#: no extrapolation of a grid gets there, and 10**x of them overflows.
MAX_TEFF = 1e6
MAX_ABS_LOGG = 20.0


def value_problem(key: str, value: float, bounds: bool = False) -> str | None:
    """What is wrong with one parameter value, or None: Teff must be positive, and with
    ``bounds`` at most :data:`MAX_TEFF`, and |log g| at most :data:`MAX_ABS_LOGG`."""
    if key == "teff" and value <= 0:
        return f"Teff must be positive, not {value:g}"
    if bounds and key == "teff" and value > MAX_TEFF:
        return f"Teff = {value:g} K is beyond any atmosphere (at most {MAX_TEFF:g} K)"
    if bounds and key == "logg" and abs(value) > MAX_ABS_LOGG:
        return f"log g = {value:g} is beyond any atmosphere (|log g| at most {MAX_ABS_LOGG:g})"
    return None


def check_parameters(params: np.ndarray, axes) -> None:
    """Non-finite values and Teff <= 0 are errors, naming the row."""
    bad = ~np.isfinite(params)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        where = f"row {i + 1}: " if len(params) > 1 else ""
        raise ParameterError(f"{where}{LABELS[axes[j]]} is not finite ({params[i, j]})")
    if "teff" in axes:
        j = list(axes).index("teff")
        low = np.where(params[:, j] <= 0)[0]
        if len(low):
            where = f"row {low[0] + 1}: " if len(params) > 1 else ""
            raise ParameterError(f"{where}{value_problem('teff', params[low[0], j])}")


def parameters(axes, grid: str, **given) -> np.ndarray:
    """Parameter rows (N, P) on ``axes`` from keyword arrays; absent axes default to 0, unknown
    axes and non-zero values on an axis the grid lacks are errors."""
    for key, value in given.items():
        if value is None:
            continue
        if key not in AXES:
            raise ParameterError(f"unknown parameter {key!r}")
        if key not in axes:
            default_zero = np.all(np.asarray(value, dtype=float) == 0) if _numeric(value) else False
            if not default_zero:
                raise ParameterError(missing_axis(key, axes, f"the {grid} grid"))
    for required in REQUIRED:
        if given.get(required) is None:
            raise ParameterError(f"{LABELS[required]} is required")
    columns = []
    for axis in axes:
        value = given.get(axis)
        try:
            arr = np.atleast_1d(np.asarray(0.0 if value is None else value, dtype=float))
        except (TypeError, ValueError):
            raise ParameterError(f"{LABELS[axis]} must be numeric, not {value!r}") from None
        columns.append(arr)
    n = max(len(c) for c in columns)
    try:
        params = np.stack([np.broadcast_to(c, (n,)) for c in columns], axis=1).astype(float)
    except ValueError:
        raise ParameterError("parameter arrays have different lengths") from None
    check_parameters(params, axes)
    return params


def _numeric(value) -> bool:
    try:
        np.asarray(value, dtype=float)
        return True
    except (TypeError, ValueError):
        return False


@dataclass
class Coverage:
    status: np.ndarray  # INSIDE, NEAR or OUTSIDE per row
    nearest: np.ndarray  # (N, P) nearest populated node per row


class Guard:
    """The coverage of parameter rows against a grid's populated nodes, the refusal of rows
    outside it, and the warnings about rows whose sigma(T) is large."""

    def __init__(self, nodes: np.ndarray, axes, grid: str, calibrated: bool, guard_z: float = 1.0,
                 cells: NodeSet | None = None):
        self.nodes = nodes
        self.axes = list(axes)
        self.grid = grid
        self.calibrated = calibrated
        self.guard_z = guard_z
        self.cells = cells if cells is not None else NodeSet(nodes)
        self.axis_values = self.cells.values
        self._node_steps = np.stack([self.local_step(j, nodes[:, j]) for j in range(len(self.axes))], axis=1)
        self._box = (nodes.min(axis=0), nodes.max(axis=0))  # the populated grid's bounding box

    def local_step(self, j: int, values: np.ndarray) -> np.ndarray:
        """The larger of the two grid steps around each value along axis ``j``."""
        grid = self.axis_values[j]
        if len(grid) < 2:
            return np.zeros(len(values))
        gaps = np.diff(grid)
        k = np.clip(np.searchsorted(grid, values), 0, len(grid) - 1)
        left = np.where(k > 0, gaps[np.clip(k - 1, 0, len(gaps) - 1)], gaps[0])
        right = np.where(k < len(gaps), gaps[np.clip(k, 0, len(gaps) - 1)], gaps[-1])
        return np.maximum(left, right)

    # ------------------------------------------------------------------------------- coverage
    def coverage(self, params: np.ndarray) -> Coverage:
        """INSIDE where every corner of the enclosing grid cell is a populated node (linear
        interpolation is possible); NEAR within one grid step of a populated node on every axis
        (the hybrid fills absent corners in from the network); else OUTSIDE.  ``nearest`` is the
        closest populated node in grid-step units (for rows INSIDE, the point itself).  Taken
        :data:`CHUNK` rows at a time: memory does not grow with the rows."""
        params = np.atleast_2d(np.asarray(params, dtype=float))
        if len(params) <= CHUNK:
            return self._coverage(params)
        parts = [self._coverage(params[start: start + CHUNK]) for start in range(0, len(params), CHUNK)]
        return Coverage(np.concatenate([p.status for p in parts]), np.concatenate([p.nearest for p in parts]))

    def _coverage(self, params: np.ndarray) -> Coverage:
        if len(params) == 1 and np.all(np.isfinite(params)):  # one model per call: no stencil built
            inside = np.array([self.cells.linear_found(params[0].tolist())])
        else:
            with np.errstate(over="ignore", invalid="ignore"):  # absurd values (1e200) are simply outside
                inside = self.cells.stencils(params).found
        status = np.where(inside, INSIDE, OUTSIDE)
        steps = np.where(self._node_steps > 0, self._node_steps, 1.0)
        # Inside the populated grid a point is its own reference; the nearest node is only
        # searched for the others (it is what the messages about them name), in grid-step units,
        # from the point moved onto the grid's bounding box (a far-off value, --mh 5 or --teff 1,
        # is nearest the box's face; differences, not expanded squares, so 1e200 stays exact).
        nearest = params.copy()
        outside = np.where(~inside)[0]
        lo, hi = self._box
        chunk = max(1, 2_000_000 // max(self.nodes.size, 1))
        reach = (1.0 + 1e-9) * steps
        for start in range(0, len(outside), chunk):
            rows = outside[start: start + chunk]
            q = np.clip(np.nan_to_num(params[rows], nan=0.0), lo, hi)
            dist2 = np.sum(((q[:, None, :] - self.nodes[None]) / steps) ** 2, axis=2)
            nearest[rows] = self.nodes[np.argmin(dist2, axis=1)]
            close = np.all(np.abs(params[rows, None, :] - self.nodes[None]) <= reach, axis=2).any(axis=1)
            status[rows[close]] = NEAR
        return Coverage(status, nearest)

    def outside_message(self, row: np.ndarray, nearest: np.ndarray) -> str:
        return (f"{describe(row, self.axes)} is outside the {self.grid} grid (more than one grid step from any "
                f"populated node); nearest populated node: {describe(nearest, self.axes)}")

    def guard(self, params: np.ndarray, extrapolate: bool = False, warn=None) -> np.ndarray:
        """Coverage statuses; raises OutOfGridError for the first row outside unless ``extrapolate``.

        With calibrated weights, points in or near the populated grid are predicted silently
        here: :meth:`warn_uncertain` speaks for them once their uncertainty is known.  Weights
        without a calibration warn about every point beyond the populated grid (NEAR)."""
        params = np.atleast_2d(np.asarray(params, dtype=float))
        cov = self.coverage(params)
        far = np.where(cov.status == OUTSIDE)[0]
        if len(far) and not extrapolate:
            i = far[0]
            where = f"row {i + 1}: " if len(params) > 1 else ""
            raise OutOfGridError(f"{where}{self.outside_message(params[i], cov.nearest[i])}; "
                                 f"pass --extrapolate to predict anyway")
        if warn:
            near = np.where(cov.status == NEAR)[0] if not self.calibrated else []
            if len(near):
                first = describe(params[near[0]], self.axes)
                more = f" and {len(near) - 1} more" if len(near) > 1 else ""
                warn(f"{first}{more}: beyond the populated grid (within one step of it); linear interpolation could "
                     f"not have been done here")
            if len(far):
                warn(f"{len(far)} model(s) extrapolated more than one grid step beyond the grid: treat with caution")
        return cov.status

    def drop_outside(self, params: np.ndarray, rows, source: str) -> tuple[np.ndarray, list[str]]:
        """For ``--skip-invalid``: which rows lie within the grid's reach (a mask), and one
        message per row that does not, naming its data row of ``source``."""
        cov = self.coverage(params)
        keep = cov.status != OUTSIDE
        problems = [f"{source}, row {rows[i]}: outside the {self.grid} grid (nearest populated node: "
                    f"{describe(cov.nearest[i], self.axes)})" for i in np.flatnonzero(~keep)]
        return keep, problems

    # -------------------------------------------------------------------------------- warnings
    @staticmethod
    def peak_sigma_t(sigma_t: np.ndarray, temperature: np.ndarray) -> np.ndarray:
        """Each model's largest sigma(T) over depth, in percent."""
        return 100.0 * np.max(sigma_t / temperature, axis=1)

    def warns(self, peak_sigma_t: np.ndarray, max_sigma: float) -> np.ndarray:
        """Whether the guard warns about models of these largest sigma(T) (percent) at ``max_sigma``."""
        return self.guard_z * np.asarray(peak_sigma_t) > max_sigma

    def warn_uncertain(self, params: np.ndarray, log_tau: np.ndarray, temperature: np.ndarray, sigma_t: np.ndarray,
                       few_nodes: np.ndarray, status: np.ndarray | None, max_sigma: float, warn) -> None:
        """One warning naming the first model whose sigma(T) exceeds ``max_sigma`` percent at some
        depth: how large, where in depth, where in the grid and why; and how many more do.
        ``few_nodes``: per model, whether its stencil lacked grid models."""
        relative = 100.0 * sigma_t / temperature
        over = np.where(self.warns(relative.max(axis=1), max_sigma))[0]
        if not len(over):
            return
        i = over[0]
        high = np.where(self.guard_z * relative[i] > max_sigma)[0]
        lo, hi = log_tau[high[0]], log_tau[high[-1]]
        if high[-1] == len(log_tau) - 1 and high[0] > 0:
            depths = f"at log tau > {lo:.1f}"
        elif high[0] == 0 and high[-1] < len(log_tau) - 1:
            depths = f"at log tau < {hi:.1f}"
        elif high[0] == 0:
            depths = "everywhere"
        else:
            depths = f"at log tau {lo:.1f} to {hi:.1f}"
        if status is not None and status[i] == OUTSIDE:
            why = "extrapolated beyond the grid"
        elif few_nodes[i]:
            why = "few nodes nearby"
        else:
            why = "the grid changes steeply here"
        where = f"row {i + 1}: " if len(params) > 1 else ""
        z = self.guard_z
        more = f"; {len(over) - 1} more such model(s)" if len(over) > 1 else ""
        peak = int(np.argmax(relative[i]))
        warn(f"{where}{describe(params[i], self.axes)}: sigma(T) up to {relative[i, peak]:.2g}% at log tau "
             f"{log_tau[peak]:.1f} ({z:g} sigma above {max_sigma:g}% {depths}): {self.region(params[i])}, {why}{more}")

    def region(self, row: np.ndarray) -> str:
        """Where a point lies in the grid, in words: "hot low-gravity corner", "metal-poor edge"."""
        words = []
        for j, axis in enumerate(self.axes):
            if axis not in _REGION_WORDS:
                continue
            values = self.axis_values[j]
            x, lo, hi = row[j], values[0], values[-1]
            if axis == "teff":
                x, lo, hi = np.log10(max(x, 1.0)), np.log10(lo), np.log10(hi)
            fraction = (x - lo) / (hi - lo) if hi > lo else 0.5
            low, high = _REGION_WORDS[axis]
            if fraction < 0.25:
                words.append(low)
            elif fraction > 0.75:
                words.append(high)
        if not words:
            return "inside the grid"
        return " ".join(words) + (" corner" if len(words) > 1 else " edge")
