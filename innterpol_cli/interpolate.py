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

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from formats.errors import InnterpolError
from formats.model import PLANE_PARALLEL, SPHERICAL, Atmosphere, opacity_from_log_tau

from . import __version__, engine
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
G_CGS = 6.67430e-8  # cm3 g-1 s-2 (CODATA 2018)
M_SUN = 1.98841e33  # g (IAU 2015 nominal GM_sun / G)


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


class NodeSet:
    """Grid nodes with interpolation stencils: tensor products of per-axis stencils.

    Per axis a point gets a 4-point Lagrange (cubic) stencil where two grid values lie on each
    side, else the 2-point linear one; a point on a grid value uses that value alone.  The
    stencil's nodes must all be populated; if one is missing, the all-linear stencil (the grid
    cell's corners) is tried.  Stencils are computed for whole batches: each node is keyed by its
    flat index on the grid of unique axis values, and looked up by binary search.
    """

    def __init__(self, nodes: np.ndarray):
        self.nodes = np.asarray(nodes, dtype=float)
        self.values = [np.unique(self.nodes[:, j]) for j in range(self.nodes.shape[1])]
        self._shape = tuple(len(v) for v in self.values)
        positions = tuple(np.searchsorted(v, self.nodes[:, j]) for j, v in enumerate(self.values))
        keys = np.ravel_multi_index(positions, self._shape)
        order = np.argsort(keys, kind="stable")
        self._keys, self._order = keys[order], order

    def _axis(self, j: int, x: np.ndarray, expand: bool, cubic: bool):
        """Per row: 4 positions on axis ``j``, their weights, and whether a stencil exists.

        A value within 1e-6 of a grid value sits on it unless ``expand``, which uses the
        neighbouring values instead (the value itself is treated as missing).
        """
        grid = self.values[j]
        n = len(grid)
        k = np.searchsorted(grid, x - 1e-9)
        on = np.minimum(k, n - 1)
        exact = (k < n) & (np.abs(grid[on] - x) < 1e-6)
        # neighbours below and above: for an exact value being widened, skip the value itself
        hi = np.where(exact, k + 1, k) if expand else k
        pos = np.stack([k - 2, k - 1, hi, hi + 1], axis=1)
        use_cubic = cubic & (pos[:, 0] >= 0) & (pos[:, 3] < n)
        linear_ok = (pos[:, 1] >= 0) & (pos[:, 2] < n)
        p = np.clip(pos, 0, n - 1)
        xs = grid[p]
        w_cubic = np.ones((len(x), 4))
        for a in range(4):
            for b in range(4):
                if a != b:
                    den = xs[:, a] - xs[:, b]
                    w_cubic[:, a] *= np.divide(x - xs[:, b], den, out=np.zeros_like(x), where=den != 0)
        span = xs[:, 2] - xs[:, 1]
        t = np.divide(x - xs[:, 1], span, out=np.zeros_like(x), where=span > 0)
        w_linear = np.stack([np.zeros_like(x), 1.0 - t, t, np.zeros_like(x)], axis=1)
        w = np.where(use_cubic[:, None], w_cubic, w_linear)
        valid = use_cubic | linear_ok
        if not expand:
            w = np.where(exact[:, None], np.array([0.0, 1.0, 0.0, 0.0]), w)
            p = np.where(exact[:, None], on[:, None], p)
            valid |= exact
        return p, w, valid

    def stencils(self, queries: np.ndarray, fallback: bool = False, cubic: bool = False, impute: bool = False):
        """Stencils of many points: (indices (N, 4**P), weights (N, 4**P), found (N,)), and with
        ``impute`` also ``missing`` (N, 4**P): live slots whose node is absent, and ``keys``
        (N, 4**P): every slot's flat index on the lattice of unique axis values.

        Rows not ``found`` have all-zero weights; nodes of zero weight need not be populated.
        With ``cubic``, 4-point stencils are tried first on the first two axes (Teff and log g,
        the densely sampled ones) where they allow one; the other axes stay linear.  With
        ``impute``, a stencil with absent nodes is accepted (after the complete ones fail) unless
        the point sits exactly on an absent node; the caller fills those nodes in.  With
        ``fallback``, a point exactly on an absent node (held out, or unconverged) is rebuilt by
        widening each axis in turn (Teff first) to its neighbouring values, as the
        linear-interpolation baseline does.
        """
        queries = np.atleast_2d(np.asarray(queries, dtype=float))
        n, p = queries.shape
        size = 4**p
        idx = np.zeros((n, size), dtype=np.intp)
        wts = np.zeros((n, size))
        found = np.zeros(n, dtype=bool)
        missing = np.zeros((n, size), dtype=bool)
        keys = np.zeros((n, size), dtype=np.intp) if impute else None
        modes = [True, False] if cubic else [False]
        attempts = [(None, c, False) for c in modes]
        if impute:
            attempts += [(None, c, True) for c in modes]
        if fallback:
            attempts += [(j, c, False) for j in range(p) for c in modes]
        for widen, use_cubic, allow_missing in attempts:
            todo = np.where(~found)[0]
            if not len(todo):
                break
            q = queries[todo]
            axes = [self._axis(j, q[:, j], expand=(j == widen), cubic=use_cubic and j < 2) for j in range(p)]
            ok = np.all([a[2] for a in axes], axis=0)
            node_idx = np.zeros((len(todo), size), dtype=np.intp)
            slot_keys = np.zeros((len(todo), size), dtype=np.intp)
            node_w = np.ones((len(todo), size))
            absent = np.zeros((len(todo), size), dtype=bool)
            any_present = np.zeros(len(todo), dtype=bool)
            for c in range(size):
                digits = [(c // 4 ** (p - 1 - j)) % 4 for j in range(p)]
                pos = tuple(a[0][:, d] for a, d in zip(axes, digits))
                for a, d in zip(axes, digits):
                    node_w[:, c] *= a[1][:, d]
                live = node_w[:, c] != 0.0
                if not live.any():
                    continue
                key = np.ravel_multi_index(pos, self._shape)
                at = np.minimum(np.searchsorted(self._keys, key), len(self._keys) - 1)
                present = self._keys[at] == key
                node_idx[:, c] = np.where(present, self._order[at], 0)
                slot_keys[:, c] = key
                absent[:, c] = live & ~present
                any_present |= live & present
                if not allow_missing:
                    ok &= present | ~live
            if allow_missing:
                ok &= any_present
            rows = todo[ok]
            idx[rows] = node_idx[ok]
            wts[rows] = node_w[ok]
            missing[rows] = absent[ok] if allow_missing else False
            if impute:
                keys[rows] = slot_keys[ok]
            found[rows] = True
        if impute:
            return idx, wts, found, missing, keys
        return idx, wts, found

    def stencil(self, q: np.ndarray, fallback: bool = False, cubic: bool = False):
        """(indices, weights) of the interpolation at one point ``q``, or None."""
        idx, wts, found = self.stencils(np.asarray(q, dtype=float)[None], fallback, cubic)
        if not found[0]:
            return None
        keep = wts[0] != 0.0
        return idx[0][keep], wts[0][keep]


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
        self._lo = np.array(meta["param_norm"]["lo"])
        self._hi = np.array(meta["param_norm"]["hi"])
        self._grid = NodeSet(self.nodes)
        self._axis_values = self._grid.values
        arrays = weights.arrays or {}
        self.hybrid = "residual/q" in arrays
        if self.hybrid:
            self._residual_nodes = NodeSet(arrays["residual/nodes"])
            self._residual_channels = arrays["residual/channels"].astype(int)
            self._residual_q = arrays["residual/q"]
            self._residual_s = arrays["residual/s"]
            self._residual_k = arrays["residual/k"]
            self._residual_alpha = arrays["residual/alpha"].ravel()
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
        grid = self._axis_values[j]
        if len(grid) < 2:
            return np.zeros(len(values))
        gaps = np.diff(grid)
        k = np.clip(np.searchsorted(grid, values), 0, len(grid) - 1)
        left = np.where(k > 0, gaps[np.clip(k - 1, 0, len(gaps) - 1)], gaps[0])
        right = np.where(k < len(gaps), gaps[np.clip(k, 0, len(gaps) - 1)], gaps[-1])
        return np.maximum(left, right)

    def coverage(self, params: np.ndarray) -> Coverage:
        """INSIDE where every corner of the enclosing grid cell is a populated node (linear
        interpolation is possible); NEAR within one grid step of a populated node on every axis;
        else OUTSIDE.  ``nearest`` is the closest populated node in grid-step units (for rows
        INSIDE, the point itself)."""
        params = np.atleast_2d(np.asarray(params, dtype=float))
        _, _, inside = self._grid.stencils(params)
        status = np.where(inside, INSIDE, OUTSIDE)
        steps = np.where(self._node_steps > 0, self._node_steps, 1.0)
        # Squared distances in grid-step units as one matrix product:
        # sum_j ((q_j - n_j) / s_j)^2 = q^2 . (1/s^2) - 2 q . (n/s^2) + sum_j (n_j/s_j)^2
        inv2 = 1.0 / steps**2
        scaled_nodes = self.nodes * inv2
        node_term = np.sum(self.nodes * scaled_nodes, axis=1)
        # Inside the populated grid a point is its own reference; the nearest node is only
        # searched for the others (it is what the messages about them name).
        nearest = params.copy()
        outside = np.where(~inside)[0]
        chunk = max(1, 4_000_000 // max(len(self.nodes), 1))
        for start in range(0, len(outside), chunk):
            rows = outside[start: start + chunk]
            q = params[rows]
            dist2 = (q**2) @ inv2.T - 2.0 * (q @ scaled_nodes.T) + node_term
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
        """Coverage statuses; raises OutOfGridError for rows outside unless ``extrapolate``."""
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
            near = np.where(cov.status == NEAR)[0]
            if len(near):
                first = _describe(params[near[0]], self.axes)
                more = f" and {len(near) - 1} more" if len(near) > 1 else ""
                warn(f"{first}{more}: beyond the populated grid (within one step of it); linear interpolation could "
                     f"not have been done here")
            if len(far):
                warn(f"{len(far)} model(s) extrapolated more than one grid step beyond the grid: treat with caution")
        return cov.status

    # --------------------------------------------------------------------------- prediction
    def network(self, params: np.ndarray) -> np.ndarray:
        """The network alone: normalised profiles (N, C, D)."""
        x = np.array(params, dtype=float, copy=True)
        for j, axis in enumerate(self.axes):
            if axis == "teff":
                x[:, j] = np.log10(x[:, j])
        span = np.where(self._hi > self._lo, self._hi - self._lo, 1.0)
        x = 2.0 * (x - self._lo) / span - 1.0
        if len(x) < 256:
            return engine.forward(self.weights.tensors, self.meta["config"], x)
        # Large batches run in float32 (about twice as fast; 1e-7 relative, far below the
        # network's own error), in chunks that stay in cache.
        if not hasattr(self, "_tensors32"):
            self._tensors32 = {k: v.astype(np.float32) for k, v in self.weights.tensors.items()}
        out = np.empty((len(x), self.meta["config"]["n_channels"], self.meta["config"]["n_depth"]))
        for start in range(0, len(x), 1024):
            rows = slice(start, start + 1024)
            out[rows] = engine.forward(self._tensors32, self.meta["config"], x[rows].astype(np.float32))
        return out

    def predict_normalised(self, params: np.ndarray, hybrid: bool = True) -> np.ndarray:
        """Normalised profiles (N, C, D).

        With ``hybrid`` (and residuals in the weights) the structure channels are

            y(p) = S[r](p) + alpha * N(p) + (1 - alpha) * S[N](p),

        with N the network, r = grid - N its residuals at the training nodes and S the
        interpolation stencil of :class:`NodeSet` (cubic where the grid allows, else linear).
        Since S[r] + S[N] = S[grid], this is interpolation of the grid models plus alpha times
        the part of the network's curvature that the stencil misses; alpha (per channel and
        depth, in [0, 1]) was fitted on the validation nodes.  At a node the grid model comes
        back.  Where no stencil exists (beyond the populated grid) the network alone answers.
        """
        params = np.atleast_2d(np.asarray(params, dtype=float))
        y = self.network(params)
        if hybrid and self.hybrid and len(y):
            channels = self._residual_channels
            own = y[:, channels].reshape(len(y), -1)
            for start in range(0, len(params), 2048):
                rows = slice(start, start + 2048)
                own[rows] = self._blend(params[rows], own[rows])
            y[:, channels] = own.reshape(len(y), len(channels), -1)
        return y

    def _blend(self, params: np.ndarray, own: np.ndarray) -> np.ndarray:
        nodes = self._residual_nodes
        idx, wts, found, missing, keys = nodes.stencils(params, fallback=True, cubic=True, impute=True)
        if not found.any():
            return own
        live = wts != 0.0
        present = live & ~missing
        # The network at every lattice point a stencil touches (absent nodes are filled in by
        # the network, residual 0), computed once per Interpolator.
        net = self._lattice_network(keys[live])
        residual = self._decoded_residual(idx[present])
        stencil_net = _row_sums(live, wts, net, own.shape)
        stencil_residual = _row_sums(present, wts, residual, own.shape)
        blended = stencil_residual + stencil_net + self._residual_alpha * (own - stencil_net)
        return np.where(found[:, None], blended, own)

    def _lattice_network(self, keys: np.ndarray) -> np.ndarray:
        """Network output (structure channels, flattened) at lattice points, cached."""
        nodes = self._residual_nodes
        if not hasattr(self, "_lattice_cache"):
            self._lattice_cache: dict[int, int] = {}
            self._lattice_rows = np.zeros((0, len(self._residual_alpha)))
        unique, where = np.unique(keys, return_inverse=True)
        new = [k for k in unique.tolist() if k not in self._lattice_cache]
        if new:
            positions = np.unravel_index(np.array(new), nodes._shape)
            coords = np.stack([nodes.values[j][positions[j]] for j in range(len(positions))], axis=1)
            values = self.network(coords)[:, self._residual_channels].reshape(len(new), -1)
            start = len(self._lattice_rows)
            self._lattice_rows = np.concatenate([self._lattice_rows, values])
            self._lattice_cache.update({k: start + i for i, k in enumerate(new)})
        rows = np.array([self._lattice_cache[k] for k in unique.tolist()], dtype=np.intp)
        return self._lattice_rows[rows[where]]

    def _decoded_residual(self, idx: np.ndarray) -> np.ndarray:
        unique, where = np.unique(idx, return_inverse=True)
        decoded = self._residual_s * np.sinh(self._residual_q[unique].astype(np.float64) / self._residual_k)
        return decoded[where]

    def predict_arrays(self, params: np.ndarray | None = None, *, extrapolate: bool = False, guard: bool = True,
                       warn=None, hybrid: bool = True, **given) -> dict[str, np.ndarray]:
        """Depth quantities (N, D) in physical units for every row of parameters, predicted and derived."""
        if params is None:
            params = self.parameters(**given)
        else:
            params = np.atleast_2d(np.asarray(params, dtype=float))
            check_parameters(params, self.axes)
        if guard:
            self.guard(params, extrapolate, warn)
        y = self.predict_normalised(params, hybrid=hybrid)
        y = y * self.weights.scale[None, :, None] + self.weights.mean[None]
        out: dict[str, np.ndarray] = {}
        for c, ch in enumerate(self.channels):
            v = y[:, c]
            if ch["transform"] == "log":
                v = 10.0**v
            elif ch["transform"] == "asinh":
                v = np.sinh(v) * ch["scale"]
            out[ch["name"]] = v
        return self._derive(out, len(params))

    def _derive(self, out: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        depth_layer = self.meta.get("depth_layer", "log_tau_ross")
        out[depth_layer] = np.broadcast_to(self.log_tau, (n, len(self.log_tau))).copy()
        for name in ("convective_flux_fraction", "convective_velocity"):
            if name in out:  # non-negative by definition; the asinh read-out can dip a hair below 0
                out[name] = np.maximum(out[name], 0.0)
        if self.family == "atlas9":
            # ABROSS = d tau / d RHOX on the fixed tau scale (derived, not predicted).
            out["rosseland_opacity"] = opacity_from_log_tau(out["column_mass"], self.log_tau)
        if self.family == "marcs":
            out["turbulent_pressure"] = np.zeros_like(out["temperature"])  # zero in every model of the grid
        return out

    def atmospheres(self, params: np.ndarray | None = None, *, extrapolate: bool = False, warn=None,
                    **given) -> list[Atmosphere]:
        """Complete :class:`formats.Atmosphere` objects, ready for any writer."""
        if params is None:
            params = self.parameters(**given)
        params = np.atleast_2d(np.asarray(params, dtype=float))
        check_parameters(params, self.axes)
        status = self.guard(params, extrapolate, warn)
        arrays = self.predict_arrays(params, guard=False)
        return [self._atmosphere(params[i], {k: v[i] for k, v in arrays.items()}, status[i]) for i in range(len(params))]

    def atmosphere(self, **given) -> Atmosphere:
        return self.atmospheres(**given)[0]

    def _atmosphere(self, row: np.ndarray, arrays: dict[str, np.ndarray], status: int) -> Atmosphere:
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
        layers = {k: v for k, v in arrays.items() if not k.startswith("pp:")}
        partial = {}
        if any(k.startswith("pp:") for k in arrays):
            partial["lgPgas"] = np.log10(arrays["gas_pressure"])
            partial.update({k[3:]: v for k, v in arrays.items() if k.startswith("pp:")})
        if self.family == "atlas9":
            layers["microturbulence"] = np.full(len(self.log_tau), vmic * 1e5)
        reference = self.meta.get("reference", {})
        abundances = _scaled(reference, mh, am)
        label = {INSIDE: "interpolated", NEAR: "interpolated (cell not fully populated)",
                 OUTSIDE: "EXTRAPOLATED (beyond one grid step)"}[int(status)]
        weights_name = Path(self.weights.path).name
        note = f"innterpol {__version__} {label} with {weights_name}"
        extra = dict(reference.get("extra", {}))
        # The reference model's H and He number fractions belong to its metallicity: the
        # writer derives this model's own from its abundances.
        extra.pop("kurucz_h_he", None)
        extra["innterpol"] = note
        short = "EXTRAPOLATED" if int(status) == OUTSIDE else "interpolated"
        # VTURB= and L/H= as in the CK04 titles: PySME's KrzFile takes the microturbulence
        # from this line (without it, vturb = 0).
        extra["atlas9_title"] = (f"TITLE  [{mh:+.1f}{'a' if am >= 0.2 else ''}] VTURB={vmic:g}  L/H=1.25 "
                                 f"innterpol {__version__} {short} {weights_name}")[:80]
        extra["marcs_name"] = (f"innterpol {label}: Teff={teff:.0f} logg={logg:.2f} [M/H]={mh:+.2f}" +
                               (f" [a/M]={am:+.2f}" if "am" in self.axes else "") + f" weights={weights_name} v{__version__}")
        extra["marcs_teff_comment"] = f" {label} by innterpol {__version__}"
        extra["status"] = label
        return Atmosphere(teff=teff, logg=logg, mh=mh, am=am, cm=cm, vmic=vmic, geometry=geometry, mass=mass,
                          radius=radius, abundances=abundances, layers=layers, partial_pressures=partial, extra=extra,
                          source=f"innterpol:{weights_name}")


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


def _row_sums(mask: np.ndarray, wts: np.ndarray, values: np.ndarray, shape) -> np.ndarray:
    """sum over the masked slots of each row of weight * value; ``values`` are the masked slots'
    values in row-major order (as ``np.nonzero(mask)`` lists them)."""
    out = np.zeros(shape)
    rows, slots = np.nonzero(mask)
    if not len(rows):
        return out
    weighted = wts[rows, slots, None] * values
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    out[rows[starts]] = np.add.reduceat(weighted, starts, axis=0)
    return out


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
