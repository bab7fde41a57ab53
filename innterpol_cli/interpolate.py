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
import threading
from pathlib import Path

import numpy as np

from formats.model import Atmosphere

from . import engine
from .assemble import Assembler
from .coverage import (
    AXES,
    INSIDE,
    MAX_SIGMA,
    NEAR,
    OUTSIDE,
    Coverage,
    Guard,
    OutOfGridError,
    ParameterError,
    check_parameters,
    parameters,
)
from .encoding import Channel, ParamScaling, learned_to_standard
from .hybrid import Blend, Signals
from .shipped import SHIPPED, resolve
from .stencil import NodeSet
from .uncertainty import Calibration
from .weightsfile import WeightsError
from .weightsfile import load as load_weights

__all__ = ["AXES", "INSIDE", "MAX_SIGMA", "NEAR", "OUTSIDE", "SHIPPED", "Coverage", "Interpolator", "OutOfGridError",
           "ParameterError", "check_parameters", "load", "resolve"]

#: Points blended per chunk (see :meth:`Interpolator._predict`).
BLEND_CHUNK = 64


_BLAS = threading.local()


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, found once: finding them reads
    /proc/self/maps, about 1 ms, more than a whole one-model prediction's arithmetic."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        return None
    return ThreadpoolController()


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
        controller = _blas_controller()
        if controller is None:  # pragma: no cover - a dependency, but the answers do not depend on it
            return method(self, *args, **kwargs)
        _BLAS.active = True
        try:
            with controller.limit(limits=1, user_api="blas"):
                return method(self, *args, **kwargs)
        finally:
            _BLAS.active = False

    return wrapper


_CACHE: dict[str, Interpolator] = {}


def load(grid: str) -> Interpolator:
    path = resolve(grid)
    key = str(path.resolve())
    if key not in _CACHE:
        _CACHE[key] = Interpolator(load_weights(path))
    return _CACHE[key]


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
        self.coverage_guard = Guard(self.nodes, self.axes, self.name, self.calibrated, self.guard_z, self.cells)
        self.assembler = Assembler(meta, Path(weights.path).name)

    # ------------------------------------------------------------------ parameters and coverage
    def parameters(self, **given) -> np.ndarray:
        """Parameter rows (N, P) from keyword arrays (:func:`innterpol_cli.coverage.parameters`)."""
        return parameters(self.axes, self.name, **given)

    def coverage(self, params: np.ndarray) -> Coverage:
        """The coverage of every row (:meth:`innterpol_cli.coverage.Guard.coverage`)."""
        return self.coverage_guard.coverage(params)

    def guard(self, params: np.ndarray, extrapolate: bool = False, warn=None) -> np.ndarray:
        """Coverage statuses; OutOfGridError for a row outside unless ``extrapolate``
        (:meth:`innterpol_cli.coverage.Guard.guard`)."""
        return self.coverage_guard.guard(params, extrapolate, warn)

    def drop_outside(self, params: np.ndarray, rows, source: str) -> tuple[np.ndarray, list[str]]:
        """Which rows are within reach, and a message per row that is not (``--skip-invalid``)."""
        return self.coverage_guard.drop_outside(params, rows, source)

    # --------------------------------------------------------------------------- prediction
    @_one_blas_thread_method
    def network(self, params: np.ndarray) -> np.ndarray:
        """The network alone: normalised profiles (N, C, D), in float64.

        Always float64, whatever the batch: a model must not depend on how many others are asked
        for with it.  (A float32 path for batches of 256 or more moved the profiles by up to 1e-5
        and sigma by up to 1%.)"""
        x = self.scaling(np.asarray(params, dtype=float))
        w = self.weights
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

    def _learned(self, params: np.ndarray) -> np.ndarray:
        """The network in learned units (N, C, D)."""
        return self.weights.profile_scaling.denormalise(self.network(params))

    def _standard_network(self, params: np.ndarray) -> np.ndarray:
        """The network's hybrid channels in standard units, flattened (N, F), at lattice points: in
        float64 always, so that the cached grid models (:class:`~innterpol_cli.hybrid.Blend`) do
        not depend on which batch first needed them."""
        return learned_to_standard(self.codec, self._learned(params), self.blend.channels)

    def predict_normalised(self, params: np.ndarray, hybrid: bool = True) -> np.ndarray:
        """Profiles (N, C, D) in the network's normalised learned units, hybrid or bare."""
        if not (hybrid and self.blend is not None):
            return self.network(np.atleast_2d(np.asarray(params, dtype=float)))
        physical = self.predict_physical(params)
        learned = np.stack([ch.forward(physical[:, c]) for c, ch in enumerate(self.codec)], axis=1)
        return self.weights.profile_scaling.normalise(learned)

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
            few_nodes = ~signals.found | (signals.missing > 0)
            self.coverage_guard.warn_uncertain(params, self.log_tau, out["temperature"],
                                               sigma[:, self._channel("temperature")], few_nodes, status, max_sigma, warn)
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
        return Guard.peak_sigma_t(sigma_t, temperature)

    def warns(self, peak_sigma_t: np.ndarray, max_sigma: float) -> np.ndarray:
        """Whether the guard warns about models of these largest sigma(T) (percent) at ``max_sigma``."""
        return self.coverage_guard.warns(peak_sigma_t, max_sigma)

    def region(self, row: np.ndarray) -> str:
        """Where a point lies in the grid, in words: "hot low-gravity corner", "metal-poor edge"."""
        return self.coverage_guard.region(row)

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
        models = [self.assembler.atmosphere(params[i], {k: v[i] for k, v in arrays.items()}, status[i])
                  for i in range(len(params))]
        log_pradk = self.blend.scalar("pradk", params) if self.blend is not None else None
        if log_pradk is not None:  # the grid's own PRADK, interpolated; elsewhere the writer derives it from Teff
            for model, value in zip(models, log_pradk):
                if np.isfinite(value):
                    model.extra["pradk"] = float(10.0**value)
        return models

    def atmosphere(self, **given) -> Atmosphere:
        return self.atmospheres(**given)[0]

    def complete(self, out: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        """Predicted channels (N, D) plus what the family derives (:meth:`Assembler.complete`)."""
        return self.assembler.complete(out, n)
