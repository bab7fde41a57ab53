"""The Python API: load an interpolator by grid name and call it with parameters.

    >>> from innterpol_cli.interpolate import load
    >>> atlas9 = load("atlas9")
    >>> arrays = atlas9.predict_arrays(teff=[5777, 6000], logg=[4.44, 4.0])
    >>> arrays["temperature"].shape
    (2, 72)
    >>> sun = atlas9.atmosphere(teff=5777, logg=4.44)   # a formats.Atmosphere

Inference runs in numpy from the weights file (:mod:`innterpol_cli.engine`): torch is not
imported.  Every call passes the coverage guard (see :meth:`Interpolator.coverage`).
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from formats.errors import InnterpolError
from formats.model import PLANE_PARALLEL, SPHERICAL, Atmosphere, opacity_from_log_tau

from . import __version__, engine
from .encoding import Channel, ParamScaling, learned_to_standard
from .hybrid import Blend, Signals
from .stencil import NodeSet
from .uncertainty import Calibration
from .weightsfile import WeightsError
from .weightsfile import load as load_weights

#: Shipped weights by grid name (and alias).
SHIPPED = {
    "atlas9": "atlas9-ck04.npz",
    "atlas9-ck04": "atlas9-ck04.npz",
    "marcs": "marcs-sdss.npz",
    "marcs-sdss": "marcs-sdss.npz",
}

INSIDE, NEAR, OUTSIDE = 0, 1, 2
#: Default threshold (percent) of sigma(T) above which a prediction is warned about.
MAX_SIGMA = 1.0
G_CGS = 6.67430e-8  # cm3 g-1 s-2 (CODATA 2018)
M_SUN = 1.98841e33  # g (IAU 2015 nominal GM_sun / G)


#: Points blended per chunk (see :meth:`Interpolator._predict`).
BLEND_CHUNK = 64


_BLAS = threading.local()


def _one_blas_thread_method(method):
    """Run an :class:`Interpolator` method with BLAS on one thread (restored after; re-entrant).

    innterpol's products are small (a few to a thousand rows of 256): OpenBLAS threads each of
    them, and waking its threads costs more than the product, all the more on a busy machine. On
    the 2-core machine a 16-row product of the network took 28 ms on two threads and 0.45 ms on
    one; a 1,024-row one 8.1 and 5.7 ms.  The numbers are the same (BLAS partitions its output,
    not its sums: the pinned predictions hold).  Without threadpoolctl this is a no-op."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if getattr(_BLAS, "active", False):
            return method(self, *args, **kwargs)
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - a dependency, but the answers do not depend on it
            return method(self, *args, **kwargs)
        _BLAS.active = True
        try:
            with threadpool_limits(limits=1, user_api="blas"):
                return method(self, *args, **kwargs)
        finally:
            _BLAS.active = False

    return wrapper


class OutOfGridError(InnterpolError):
    """Parameters lie farther than one grid step from every populated node."""


class ParameterError(InnterpolError):
    """Parameters that no grid can take (non-numeric, non-finite, Teff <= 0, an axis the grid lacks)."""


def resolve(grid: str) -> Path:
    """The weights file for a grid name, or a path to a weights file."""
    key = grid.lower()
    if key in SHIPPED:
        from importlib.resources import files

        path = Path(str(files("innterpol_cli.weights").joinpath(SHIPPED[key])))
        if not path.is_file():
            raise WeightsError(
                f"the shipped weights for {grid!r} are missing ({SHIPPED[key]}): reinstall innterpol, or train them "
                f"with `innterpol train --grid {key} GRID-FILES -o {SHIPPED[key]}`"
            )
        return path
    if key == "phoenix" or key.startswith("phoenix"):
        raise WeightsError(
            "no PHOENIX weights ship with innterpol (there is no PHOENIX grid to train them on here); train your own "
            "with `innterpol train --grid phoenix DIR-OF-ATMOS-FITS -o phoenix.npz`, then use `--grid phoenix.npz`"
        )
    path = Path(grid)
    if path.is_file():
        return path
    known = ", ".join(sorted({k.split("-")[0] for k in SHIPPED}))
    raise WeightsError(f"unknown grid {grid!r}: use one of {known}, or a path to a weights file")


_CACHE: dict[str, Interpolator] = {}


def load(grid: str) -> Interpolator:
    path = resolve(grid)
    key = str(path.resolve())
    if key not in _CACHE:
        _CACHE[key] = Interpolator(load_weights(path))
    return _CACHE[key]


@dataclass
class Coverage:
    status: np.ndarray  # INSIDE, NEAR or OUTSIDE per row
    nearest: np.ndarray  # (N, P) nearest populated node per row


class Interpolator:
    """A weights file ready to predict: the coverage guard, the numpy network, the hybrid blend
    with the grid, and complete atmospheres.  Made by :func:`load`; never imports torch."""

    def __init__(self, weights):
        self.weights = weights
        meta = weights.meta
        self.meta = meta
        self.name = meta["grid"]
        self.family = meta["family"]
        self.native_format = meta["native_format"]
        self.axes: list[str] = meta["axes"]
        self.channels = meta["channels"]
        self.log_tau = np.array(meta["log_tau"])
        self.nodes = weights.nodes
        self.scaling = ParamScaling.from_dict(meta["param_norm"], self.axes)
        self.codec = [Channel.from_dict(ch) for ch in self.channels]
        self.cells = NodeSet(self.nodes)
        self.axis_values = self.cells.values
        arrays = weights.arrays or {}
        self.hybrid = "residual/nodes" in arrays
        self.blend = Blend(arrays, self._standard_network, len(self.log_tau)) if self.hybrid else None
        self._node_steps = np.stack([self._local_step(j, self.nodes[:, j]) for j in range(len(self.axes))], axis=1)

    # ------------------------------------------------------------------ parameters and coverage
    def parameters(self, **given) -> np.ndarray:
        """Parameter rows (N, P) from keyword arrays; absent axes default to 0, unknown axes are errors."""
        known = set(self.axes)
        for key, value in given.items():
            if value is None:
                continue
            if key not in ("teff", "logg", "mh", "am", "cm"):
                raise ParameterError(f"unknown parameter {key!r}")
            if key not in known:
                default_zero = np.all(np.asarray(value, dtype=float) == 0) if _numeric(value) else False
                if not default_zero:
                    raise ParameterError(f"the {self.name} grid has no {_LABELS[key]} axis (its axes: {', '.join(_LABELS[a] for a in self.axes)})")
        for required in ("teff", "logg"):
            if given.get(required) is None:
                raise ParameterError(f"{_LABELS[required]} is required")
        columns = []
        for axis in self.axes:
            value = given.get(axis)
            try:
                arr = np.atleast_1d(np.asarray(0.0 if value is None else value, dtype=float))
            except (TypeError, ValueError):
                raise ParameterError(f"{_LABELS[axis]} must be numeric, not {value!r}") from None
            columns.append(arr)
        n = max(len(c) for c in columns)
        try:
            params = np.stack([np.broadcast_to(c, (n,)) for c in columns], axis=1).astype(float)
        except ValueError:
            raise ParameterError("parameter arrays have different lengths") from None
        check_parameters(params, self.axes)
        return params

    def _local_step(self, j: int, values: np.ndarray) -> np.ndarray:
        grid = self.axis_values[j]
        if len(grid) < 2:
            return np.zeros(len(values))
        gaps = np.diff(grid)
        k = np.clip(np.searchsorted(grid, values), 0, len(grid) - 1)
        left = np.where(k > 0, gaps[np.clip(k - 1, 0, len(gaps) - 1)], gaps[0])
        right = np.where(k < len(gaps), gaps[np.clip(k, 0, len(gaps) - 1)], gaps[-1])
        return np.maximum(left, right)

    def coverage(self, params: np.ndarray) -> Coverage:
        """INSIDE where every corner of the enclosing grid cell is a populated node (linear
        interpolation is possible); NEAR within one grid step of a populated node on every axis
        (the hybrid fills absent corners in from the network); else OUTSIDE.  ``nearest`` is the
        closest populated node in grid-step units (for rows INSIDE, the point itself)."""
        params = np.atleast_2d(np.asarray(params, dtype=float))
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
        lo, hi = self.nodes.min(axis=0), self.nodes.max(axis=0)
        chunk = max(1, 2_000_000 // max(self.nodes.size, 1))
        for start in range(0, len(outside), chunk):
            rows = outside[start: start + chunk]
            q = np.clip(np.nan_to_num(params[rows], nan=0.0), lo, hi)
            dist2 = np.sum(((q[:, None, :] - self.nodes[None]) / steps) ** 2, axis=2)
            nearest[rows] = self.nodes[np.argmin(dist2, axis=1)]
        reach = (1.0 + 1e-9) * steps
        rest = np.where(~inside)[0]
        chunk = max(1, 2_000_000 // max(self.nodes.size, 1))
        for start in range(0, len(rest), chunk):
            rows = rest[start: start + chunk]
            close = np.all(np.abs(params[rows, None, :] - self.nodes[None]) <= reach, axis=2).any(axis=1)
            status[rows[close]] = NEAR
        return Coverage(status, nearest)

    def guard(self, params: np.ndarray, extrapolate: bool = False, warn=None) -> np.ndarray:
        """Coverage statuses; raises OutOfGridError for rows outside unless ``extrapolate``.

        With calibrated weights, points in or near the populated grid are predicted silently
        here: :meth:`warn_uncertain` speaks for them once their uncertainty is known.  Weights
        without a calibration warn about every point beyond the populated grid (NEAR)."""
        cov = self.coverage(params)
        far = np.where(cov.status == OUTSIDE)[0]
        if len(far) and not extrapolate:
            i = far[0]
            where = f"row {i + 1}: " if len(params) > 1 else ""
            raise OutOfGridError(
                f"{where}{_describe(params[i], self.axes)} is outside the {self.name} grid (more than one grid step from "
                f"any populated node); nearest populated node: {_describe(cov.nearest[i], self.axes)}; "
                f"pass --extrapolate to predict anyway"
            )
        if warn:
            near = np.where(cov.status == NEAR)[0] if not self.calibrated else []
            if len(near):
                first = _describe(params[near[0]], self.axes)
                more = f" and {len(near) - 1} more" if len(near) > 1 else ""
                warn(f"{first}{more}: beyond the populated grid (within one step of it); linear interpolation could "
                     f"not have been done here")
            if len(far):
                warn(f"{len(far)} model(s) extrapolated more than one grid step beyond the grid: treat with caution")
        return cov.status

    # --------------------------------------------------------------------------- prediction
    @_one_blas_thread_method
    def network(self, params: np.ndarray, exact: bool = False) -> np.ndarray:
        """The network alone: normalised profiles (N, C, D), in float64.

        Always float64, whatever the batch: a model must not depend on how many others are asked
        for with it.  (A float32 path for batches of 256 or more moved the profiles by up to 1e-5
        and sigma by up to 1%.)  ``exact`` is kept for callers; it changes nothing."""
        x = self.scaling(np.asarray(params, dtype=float))
        w = self.weights
        if len(x) <= 1024:
            return engine.profiles(w.tensors, self.meta, w.arrays, w.mean, w.scale, x)
        out = np.empty((len(x), self.meta["config"]["n_channels"], self.meta["config"]["n_depth"]))
        for start in range(0, len(x), 1024):  # chunks that stay in cache
            rows = slice(start, start + 1024)
            out[rows] = engine.profiles(w.tensors, self.meta, w.arrays, w.mean, w.scale, x[rows])
        return out

    def without(self, nodes: np.ndarray) -> Interpolator:
        """This interpolator with the grid models at ``nodes`` forgotten by the hybrid (the
        network is unchanged): how held-out test nodes are evaluated."""
        other = object.__new__(Interpolator)
        other.__dict__.update(self.__dict__)
        if self.blend is not None:
            other.blend = self.blend.without(nodes)
        return other

    def stencil_only(self) -> Interpolator:
        """This interpolator with the blend's alpha 0 everywhere: the interpolation stencil of the
        grid models alone (absent nodes still filled in by the network), the baseline the network's
        share of the blend is judged against."""
        other = object.__new__(Interpolator)
        other.__dict__.update(self.__dict__)
        if self.blend is not None:
            other.blend = self.blend.stencil_only()
        return other

    def _learned(self, params: np.ndarray, exact: bool = False) -> np.ndarray:
        """The network in learned units (N, C, D)."""
        return self.network(params, exact) * self.weights.scale[None, :, None] + self.weights.mean[None]

    def _standard_network(self, params: np.ndarray) -> np.ndarray:
        """The network's hybrid channels in standard units, flattened (N, F), at lattice points: in
        float64 always, so that the cached grid models (:class:`~innterpol_cli.hybrid.Blend`) do
        not depend on which batch first needed them."""
        return learned_to_standard(self.codec, self._learned(params, exact=True), self.blend.channels)

    def predict_normalised(self, params: np.ndarray, hybrid: bool = True) -> np.ndarray:
        """Profiles (N, C, D) in the network's normalised learned units, hybrid or bare."""
        if not (hybrid and self.blend is not None):
            return self.network(np.atleast_2d(np.asarray(params, dtype=float)))
        physical = self.predict_physical(params)
        learned = np.stack([ch.forward(physical[:, c]) for c, ch in enumerate(self.codec)], axis=1)
        return (learned - self.weights.mean[None]) / self.weights.scale[None, :, None]

    @_one_blas_thread_method
    def predict_physical(self, params: np.ndarray, hybrid: bool = True, widen: int | None = None) -> np.ndarray:
        """The predicted channels (N, C, D) in physical units.

        With ``hybrid`` (and the hybrid's arrays in the weights), every channel but the MARCS
        partial pressures is blended with the grid by :class:`~innterpol_cli.hybrid.Blend` in its
        standard representation; ``steps`` channels are then made strictly increasing
        (:meth:`Channel.increasing`); zero-floor channels are exactly zero where every grid node of
        the stencil is zero, and never negative.  ``widen=j`` rebuilds points on grid nodes along
        axis ``j`` only (evaluation).
        """
        return self._predict(params, hybrid, widen, signals=False)[0]

    @_one_blas_thread_method
    def predict_with_signals(self, params: np.ndarray, widen: int | None = None) -> tuple[np.ndarray, Signals]:
        """:meth:`predict_physical` (hybrid) and what its uncertainty is made of (calibration)."""
        if self.blend is None:
            raise WeightsError(f"{self.weights.path}: these weights have no hybrid arrays, hence no uncertainty")
        return self._predict(params, True, widen, signals=True)

    @property
    def calibrated(self) -> bool:
        return self.blend is not None and Calibration.present(self.weights.arrays)

    def predict_with_sigma(self, params: np.ndarray, widen: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict_physical` (hybrid) and its calibrated 1-sigma uncertainty (N, C, D), both in
        physical units (see :mod:`innterpol_cli.uncertainty`)."""
        out, signals = self.predict_with_signals(params, widen)
        return out, self.sigma(params, out, signals)

    def _require_calibration(self) -> None:
        if not self.calibrated:
            raise WeightsError(f"{self.weights.path}: these weights carry no uncertainty calibration; add one with "
                               f"`innterpol train --calibrate-only --grid {self.name} GRID-FILES -o {Path(self.weights.path).name}`")

    @_one_blas_thread_method
    def sigma(self, params: np.ndarray, out: np.ndarray, signals: Signals) -> np.ndarray:
        """Physical 1-sigma (N, C, D) of predictions ``out`` at ``params`` from their signals
        (:meth:`predict_with_signals`): each channel's standard-unit sigma mapped through its
        transform (half the interval y +- sigma)."""
        self._require_calibration()
        params = np.atleast_2d(np.asarray(params, dtype=float))
        calibration = Calibration(self.weights.arrays)
        n, _, n_depth = out.shape
        sigma_standard = np.broadcast_to(calibration.network[None], out.shape).copy()
        blended = calibration.sigma(signals, self.blend.channels, self.scaling(params))
        sigma_standard[:, self.blend.channels] = blended.reshape(n, len(self.blend.channels), n_depth)
        sigma = np.empty_like(out)
        for c, ch in enumerate(self.codec):
            centre = ch.standard(out[:, c])
            upper, lower = ch.from_standard(centre + sigma_standard[:, c]), ch.from_standard(centre - sigma_standard[:, c])
            sigma[:, c] = 0.5 * np.abs(upper - lower)
            if ch.zero_floor:
                sigma[:, c][out[:, c] == 0.0] = 0.0
        return sigma

    def _predict(self, params: np.ndarray, hybrid: bool, widen: int | None, signals: bool) -> tuple[np.ndarray, Signals | None]:
        params = np.atleast_2d(np.asarray(params, dtype=float))
        learned = self._learned(params)
        out = np.stack([ch.inverse(learned[:, c]) for c, ch in enumerate(self.codec)], axis=1)
        parts = []
        if hybrid and self.blend is not None and len(params):
            blend = self.blend
            n_depth = learned.shape[2]
            own = learned_to_standard(self.codec, learned, blend.channels)
            zeros = np.zeros((len(params), len(blend.zero_channels), n_depth), dtype=bool)
            # Chunks of 64: a chunk's stencils gather up to 128 grid models per point, (64 x 128, F)
            # floats (about 40 MB for ATLAS9), small enough to stay fast (fresh pages are the cost)
            # and to bound memory.
            for start in range(0, len(params), BLEND_CHUNK):
                rows = slice(start, start + BLEND_CHUNK)
                own[rows], found, part = blend(params[rows], own[rows], widen=widen, signals=signals)
                parts.append(part)
                if found is not None:
                    zeros[rows] = found.reshape(-1, len(blend.zero_channels), n_depth)
            own = own.reshape(len(params), len(blend.channels), n_depth)
            for i, c in enumerate(blend.channels):
                ch = self.codec[c]
                standard = ch.increasing(own[:, i]) if ch.transform == "steps" else own[:, i]
                out[:, c] = ch.from_standard(standard)
            for z, c in enumerate(blend.zero_channels):
                out[:, c][zeros[:, z]] = 0.0
        for c, ch in enumerate(self.codec):
            if ch.zero_floor:
                out[:, c] = np.maximum(out[:, c], 0.0)
        if not signals:
            return out, None
        if not parts:
            return out, Signals.empty(len(params), len(self.axes), len(self.blend.channels) * len(self.log_tau))
        return out, Signals.concatenate(parts)

    @_one_blas_thread_method
    def predict_arrays(self, params: np.ndarray | None = None, *, extrapolate: bool = False, guard: bool = True,
                       warn=None, hybrid: bool = True, uncertainty: bool = False, max_sigma: float = MAX_SIGMA,
                       **given) -> dict[str, np.ndarray]:
        """Depth quantities (N, D) in physical units for every row of parameters, predicted and
        derived; with ``uncertainty``, also ``<quantity>_sigma``, the calibrated 1-sigma
        uncertainty (N, D) of every predicted quantity, in its units (see
        :mod:`innterpol_cli.uncertainty`).  With ``warn``, models whose sigma(T) exceeds
        ``max_sigma`` percent somewhere are named (:meth:`warn_uncertain`)."""
        if params is None:
            params = self.parameters(**given)
        else:
            params = np.atleast_2d(np.asarray(params, dtype=float))
            check_parameters(params, self.axes)
        status = self.guard(params, extrapolate, warn) if guard else None
        return self._arrays(params, status, warn, hybrid, uncertainty, max_sigma)

    def _arrays(self, params: np.ndarray, status: np.ndarray | None, warn, hybrid: bool, uncertainty: bool,
                max_sigma: float) -> dict[str, np.ndarray]:
        """:meth:`predict_arrays` once the parameters are checked and their coverage ``status`` known."""
        if uncertainty:
            self._require_calibration()
        if not (hybrid and self.calibrated) or not (uncertainty or warn):
            y = self.predict_physical(params, hybrid=hybrid)
            return self.complete({ch.name: y[:, c] for c, ch in enumerate(self.codec)}, len(params))
        y, signals = self.predict_with_signals(params)
        sigma = self.sigma(params, y, signals)
        out = self.complete({ch.name: y[:, c] for c, ch in enumerate(self.codec)}, len(params))
        if warn:
            self.warn_uncertain(params, out["temperature"], sigma[:, self._channel("temperature")], signals,
                                status, max_sigma, warn)
        if uncertainty:
            out.update({f"{ch.name}_sigma": sigma[:, c] for c, ch in enumerate(self.codec)})
        return out

    def _channel(self, name: str) -> int:
        return [ch.name for ch in self.codec].index(name)

    @property
    def guard_z(self) -> float:
        """The guard warns where ``guard_z`` times the largest sigma(T) exceeds the threshold: the
        factor the calibration chose so that few models whose error exceeds it go unwarned
        (``meta["uncertainty"]["guard_z"]``; 1 for weights calibrated before it existed)."""
        value = (self.meta.get("uncertainty") or {}).get("guard_z", 1.0)
        return float(value) if isinstance(value, (int, float)) and value > 0 else 1.0

    @staticmethod
    def peak_sigma_t(sigma_t: np.ndarray, temperature: np.ndarray) -> np.ndarray:
        """Each model's largest sigma(T) over depth, in percent."""
        return 100.0 * np.max(sigma_t / temperature, axis=1)

    def warns(self, peak_sigma_t: np.ndarray, max_sigma: float) -> np.ndarray:
        """Whether the guard warns about models of these largest sigma(T) (percent) at ``max_sigma``."""
        return self.guard_z * np.asarray(peak_sigma_t) > max_sigma

    def warn_uncertain(self, params: np.ndarray, temperature: np.ndarray, sigma_t: np.ndarray, signals: Signals,
                       status: np.ndarray | None, max_sigma: float, warn) -> None:
        """One warning naming the first model whose sigma(T) exceeds ``max_sigma`` percent at some
        depth: how large, where in depth, where in the grid and why; and how many more do."""
        relative = 100.0 * sigma_t / temperature
        over = np.where(self.warns(relative.max(axis=1), max_sigma))[0]
        if not len(over):
            return
        i = over[0]
        high = np.where(self.guard_z * relative[i] > max_sigma)[0]
        lo, hi = self.log_tau[high[0]], self.log_tau[high[-1]]
        if high[-1] == len(self.log_tau) - 1 and high[0] > 0:
            depths = f"at log tau > {lo:.1f}"
        elif high[0] == 0 and high[-1] < len(self.log_tau) - 1:
            depths = f"at log tau < {hi:.1f}"
        elif high[0] == 0:
            depths = "everywhere"
        else:
            depths = f"at log tau {lo:.1f} to {hi:.1f}"
        if status is not None and status[i] == OUTSIDE:
            why = "extrapolated beyond the grid"
        elif not signals.found[i] or signals.missing[i] > 0:
            why = "few nodes nearby"
        else:
            why = "the grid changes steeply here"
        where = f"row {i + 1}: " if len(params) > 1 else ""
        z = self.guard_z
        more = f"; {len(over) - 1} more such model(s)" if len(over) > 1 else ""
        peak = int(np.argmax(relative[i]))
        warn(f"{where}{_describe(params[i], self.axes)}: sigma(T) up to {relative[i, peak]:.2g}% at log tau "
             f"{self.log_tau[peak]:.1f} ({z:g} sigma above {max_sigma:g}% {depths}): {self.region(params[i])}, {why}{more}")

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

    @_one_blas_thread_method
    def atmospheres(self, params: np.ndarray | None = None, *, extrapolate: bool = False, warn=None,
                    max_sigma: float = MAX_SIGMA, status: np.ndarray | None = None, **given) -> list[Atmosphere]:
        """Complete :class:`formats.Atmosphere` objects, ready for any writer, with the 1-sigma
        uncertainty of every predicted layer quantity (calibrated weights).  ``status``: the
        coverage of ``params`` when the caller ran :meth:`guard` already (a batch predicted in chunks)."""
        if params is None:
            params = self.parameters(**given)
        params = np.atleast_2d(np.asarray(params, dtype=float))
        check_parameters(params, self.axes)
        if status is None:
            status = self.guard(params, extrapolate, warn)
        arrays = self._arrays(params, status, warn, True, self.calibrated, max_sigma)
        models = [self.assemble(params[i], {k: v[i] for k, v in arrays.items()}, status[i]) for i in range(len(params))]
        log_pradk = self.blend.scalar("pradk", params) if self.blend is not None else None
        if log_pradk is not None:  # the grid's own PRADK, interpolated; elsewhere the writer derives it from Teff
            for model, value in zip(models, log_pradk):
                if np.isfinite(value):
                    model.extra["pradk"] = float(10.0**value)
        return models

    def atmosphere(self, **given) -> Atmosphere:
        return self.atmospheres(**given)[0]

    def complete(self, out: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        """Predicted channels (N, D) of ``n`` models plus what the family derives from them:
        the depth scale, ATLAS9's ABROSS, MARCS's zero turbulent pressure."""
        depth_layer = self.meta.get("depth_layer", "log_tau_ross")
        out[depth_layer] = np.broadcast_to(self.log_tau, (n, len(self.log_tau))).copy()
        if self.family == "atlas9":
            # ABROSS = d tau / d RHOX on the fixed tau scale (derived, not predicted).
            out["rosseland_opacity"] = opacity_from_log_tau(out["column_mass"], self.log_tau)
        if self.family == "marcs":
            out["turbulent_pressure"] = np.zeros_like(out["temperature"])  # zero in every model of the grid
        return out

    def assemble(self, row: np.ndarray, arrays: dict[str, np.ndarray], status: int) -> Atmosphere:
        """One :class:`formats.Atmosphere` from a parameter row, its completed arrays (D,) and its
        coverage status: geometry, microturbulence, scaled abundances and provenance."""
        p = dict(zip(self.axes, map(float, row)))
        teff, logg = p["teff"], p["logg"]
        mh, am, cm = p.get("mh", 0.0), p.get("am", 0.0), p.get("cm", 0.0)
        fixed = self.meta.get("fixed", {})
        geometry, mass, radius = PLANE_PARALLEL, None, None
        if "spherical_max_logg" in fixed:
            # Spherical up to the grid's last spherical log g (3.0), plane-parallel from its first
            # plane-parallel one (3.5); in between, the midpoint (3.25) decides.
            cut = 0.5 * (fixed["spherical_max_logg"] + fixed["plane_parallel_min_logg"])
            if logg < cut:
                geometry, mass = SPHERICAL, fixed.get("mass", 1.0)
                radius = math.sqrt(G_CGS * mass * M_SUN / 10.0**logg)
        vmic_table = fixed.get("vmic_by_geometry") or {}
        vmic = vmic_table.get(geometry) or (fixed.get("vmic") or [2.0])[0]
        layers = {k: v for k, v in arrays.items() if not k.startswith("pp:") and not k.endswith("_sigma")}
        partial = {}
        if any(k.startswith("pp:") for k in arrays):
            partial["lgPgas"] = np.log10(arrays["gas_pressure"])
            partial.update({k[3:]: v for k, v in arrays.items() if k.startswith("pp:") and not k.endswith("_sigma")})
        if self.family == "atlas9":
            layers["microturbulence"] = np.full(len(self.log_tau), vmic * 1e5)
        reference = self.meta.get("reference", {})
        abundances = _scaled(reference, mh, am)
        label = {INSIDE: "interpolated", NEAR: "interpolated (cell not fully populated)",
                 OUTSIDE: "EXTRAPOLATED (beyond one grid step)"}[int(status)]
        weights_name = Path(self.weights.path).name
        note = f"innterpol {__version__} {label} with {weights_name}"
        extra = dict(reference.get("extra", {}))
        # The reference model's H and He number fractions, X, Y, Z, abundance scale and PRADK
        # belong to its own parameters: the writers derive this model's from its abundances and Teff.
        for key in ("kurucz_h_he", "marcs_xyz", "abundance_scale", "pradk", "marcs_name"):
            extra.pop(key, None)
        extra["innterpol"] = note
        sigma = {k[:-6]: v for k, v in arrays.items() if k.endswith("_sigma") and k[:-6] in layers}
        summary = ""
        if "temperature" in sigma:
            relative = 100.0 * sigma["temperature"] / arrays["temperature"]
            k = int(np.argmax(relative))
            extra["sigma_t_max_percent"] = float(relative[k])
            summary = f"max sigma(T) {relative[k]:.2g}% at log tau {self.log_tau[k]:.1f}"
            extra["sigma_summary"] = summary
        short = "EXTRAPOLATED" if int(status) == OUTSIDE else ""
        # VTURB= and L/H= as in the CK04 titles: PySME's KrzFile takes the microturbulence
        # from this line (without it, vturb = 0).
        # [M/H] to 0.01 dex, so that readers (innterpol's, PySME's) get back what was predicted.
        # The uncertainty summary goes here too: a deck has no other free-text line.
        start = f"TITLE  [{mh:+.2f}{'a' if am >= 0.2 else ''}] VTURB={vmic:g}  L/H=1.25 innterpol"
        texts = (summary, summary.replace("max ", "")) if summary else ()
        titles = [" ".join(filter(None, (start, version, short, text))) for version in (__version__, "") for text in texts]
        titles.append(f"{start} {__version__} {short or 'interpolated'} {weights_name}"[:80])
        extra["atlas9_title"] = next(t for t in titles if len(t) <= 80)
        # Line 1 of a MARCS file is the model's MARCS name, which the writer builds (Turbospectrum
        # takes a line 1 not starting with 's' or 'p' for another format); the note goes on line 2.
        extra["marcs_teff_comment"] = f" {note}" + (f"; {summary}" if summary else "")
        extra["status"] = label
        return Atmosphere(teff=teff, logg=logg, mh=mh, am=am, cm=cm, vmic=vmic, geometry=geometry, mass=mass,
                          radius=radius, abundances=abundances, layers=layers, partial_pressures=partial, extra=extra,
                          source=f"innterpol:{weights_name}", uncertainty=sigma)


def _scaled(reference: dict, mh: float, am: float) -> np.ndarray:
    from formats.model import ALPHA_ELEMENTS, scaled_abundances

    if not reference.get("abundances"):
        return scaled_abundances(mh, am)
    eps = np.array(reference["abundances"], dtype=float)
    present = eps > -20
    eps[2:] = np.where(present[2:], eps[2:] + mh, eps[2:])
    for z in ALPHA_ELEMENTS:
        if z - 1 < len(eps) and present[z - 1]:
            eps[z - 1] += am - reference.get("abundances_am", 0.0)
    return eps


_REGION_WORDS = {"teff": ("cool", "hot"), "logg": ("low-gravity", "high-gravity"), "mh": ("metal-poor", "metal-rich")}
_LABELS = {"teff": "Teff", "logg": "log g", "mh": "[M/H]", "am": "[alpha/M]", "cm": "[C/M]"}


def _numeric(value) -> bool:
    try:
        np.asarray(value, dtype=float)
        return True
    except (TypeError, ValueError):
        return False


def _describe(row, axes) -> str:
    return " ".join(f"{_LABELS[a]}={v:g}" for a, v in zip(axes, row))


def check_parameters(params: np.ndarray, axes) -> None:
    """Non-finite values and Teff <= 0 are errors, naming the row."""
    bad = ~np.isfinite(params)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        where = f"row {i + 1}: " if len(params) > 1 else ""
        raise ParameterError(f"{where}{_LABELS[axes[j]]} is not finite ({params[i, j]})")
    if "teff" in axes:
        j = list(axes).index("teff")
        low = np.where(params[:, j] <= 0)[0]
        if len(low):
            where = f"row {low[0] + 1}: " if len(params) > 1 else ""
            raise ParameterError(f"{where}Teff must be positive, not {params[low[0], j]:g}")
