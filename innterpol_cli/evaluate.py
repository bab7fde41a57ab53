"""Held-out accuracy: innterpol against linear interpolation and the paper's other baselines.

The truth is either the weights' own recorded test split, taken from the grid files they were
trained from, or real models the user passes.  Every method predicts the truth models'
parameters; linear interpolation (:mod:`innterpol_cli.linear`) rebuilds them from the grid
with the truth nodes removed, and only truth models that linear interpolation can rebuild
are scored, so every method is compared on the same models.

Methods:

- ``innterpol``: the hybrid (network plus its interpolated residuals), the default predictor;
- ``network``: the network alone;
- ``linear``: linear interpolation, always computed (it is the baseline);
- ``pca``: a second weights file trained with ``--method pca`` (the paper's PCA-NN), network alone;
- ``gbm``: gradient boosting (scikit-learn's HistGradientBoostingRegressor, standing in for the
  paper's LightGBM, Sect. 3.2) on a few principal components of the profiles.  The paper found it
  behaves like nearest-neighbour between nodes; :func:`half_step_positions` measures that.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import numpy as np

from formats.errors import InnterpolError

from .encoding import Channel, transform_params
from .grid import GridData, build_grid
from .metrics import channel_errors

METHODS = ("innterpol", "network", "linear", "pca", "gbm")
DEFAULT_METHODS = ("innterpol", "network", "linear")


class EvaluateError(InnterpolError):
    """An evaluation that cannot be run as asked (wrong truth models, missing extra, bad method)."""


def parse_methods(text: str | None, pca_weights: str | None) -> list[str]:
    """Methods from a comma-separated list, in METHODS order; linear is always included."""
    if not text:
        chosen = list(DEFAULT_METHODS) + (["pca"] if pca_weights else [])
    else:
        chosen = [m.strip().lower() for m in text.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise EvaluateError(f"unknown method(s) {', '.join(unknown)}: use {', '.join(METHODS)}")
    if "pca" in chosen and not pca_weights:
        raise EvaluateError("method pca needs --pca-weights PATH (weights trained with `innterpol train --method pca`)")
    if "gbm" in chosen and importlib.util.find_spec("sklearn") is None:
        raise EvaluateError("method gbm needs scikit-learn, which is not installed: pip install 'innterpol[eval]'")
    chosen = set(chosen) | {"linear"}
    return [m for m in METHODS if m in chosen]


# ------------------------------------------------------------------------------------ the truth
@dataclass
class Setup:
    """The grid with the truth in it: ``grid.params[ref_idx]`` is what linear interpolation may
    use, ``grid.params[truth_idx]`` are the truth models."""

    grid: GridData
    ref_idx: np.ndarray
    truth_idx: np.ndarray
    source: str  # "test split" or "truth files"
    notes: list[str] = field(default_factory=list)


def _keys(params: np.ndarray) -> list[tuple]:
    return [tuple(np.round(p, 4)) for p in np.asarray(params, dtype=float)]


def node_rows(params: np.ndarray, nodes) -> list[int | None]:
    """The row of ``params`` holding each of ``nodes`` (parameters recorded in a weights file), or None."""
    index = {k: i for i, k in enumerate(_keys(params))}
    return [index.get(k) for k in _keys(nodes)]


def check_grid_files(interp, grid: GridData) -> list[str]:
    """The grid files must be of the weights' family and depth scale; a different data hash is a note."""
    if grid.family.name != interp.family:
        raise EvaluateError(f"the grid files are {grid.family.name} models but the weights {interp.name!r} are for "
                            f"the {interp.family} family")
    _check_depths(interp, grid, "grid files")
    notes = []
    trained_hash = interp.meta.get("provenance", {}).get("data_hash")
    if trained_hash and grid.data_hash != trained_hash:
        notes.append("the grid files differ from those the weights were trained from (data hash mismatch)")
    return notes


def _check_depths(interp, grid: GridData, what: str) -> None:
    if len(grid.log_tau) != len(interp.log_tau) or np.max(np.abs(grid.log_tau - interp.log_tau)) > 1e-4:
        raise EvaluateError(f"the {what} are on a different depth scale ({len(grid.log_tau)} depths, log tau "
                            f"{grid.log_tau[0]:g} ... {grid.log_tau[-1]:g}) from the weights' ({len(interp.log_tau)} "
                            f"depths, {interp.log_tau[0]:g} ... {interp.log_tau[-1]:g})")


def test_split(interp, grid: GridData) -> Setup:
    """The weights' recorded test nodes, found in the grid files; the rest is the reference."""
    notes = check_grid_files(interp, grid)
    test_nodes = interp.meta.get("provenance", {}).get("test_nodes") or []
    if not test_nodes:
        raise EvaluateError(f"the weights {interp.name!r} record no test nodes: pass --truth FILES")
    found = node_rows(grid.params, test_nodes)
    missing = sum(i is None for i in found)
    if missing == len(found):
        raise EvaluateError(f"none of the weights' {len(found)} test nodes is in the grid files: pass the files the "
                            f"weights were trained from")
    if missing:
        notes.append(f"{missing} of the weights' {len(found)} test nodes are not in the grid files: skipped")
    truth = np.array(sorted(i for i in found if i is not None))
    ref = np.setdiff1d(np.arange(len(grid.params)), truth)
    return Setup(grid, ref, truth, "test split", notes)


def with_truth(interp, grid: GridData, truth_models, truth_format: str) -> Setup:
    """Truth models from files: same family and depth scale as the weights, inside their coverage.

    The grid's own models at the truth nodes are removed from the reference, so linear
    interpolation never sees the answer.
    """
    from .grid import FAMILIES
    from .interpolate import OUTSIDE, _describe

    notes = check_grid_files(interp, grid)
    family = FAMILIES.get(truth_format)
    if family is None or family.name != interp.family:
        raise EvaluateError(f"the truth files are {truth_format} models, but the weights {interp.name!r} are for the "
                            f"{interp.family} family: pass truth models of the same grid family")
    truth = build_grid(truth_models, grid.family, [])
    _check_depths(interp, truth, "truth files")
    status = interp.coverage(truth.params).status
    outside = np.where(status == OUTSIDE)[0]
    if len(outside):
        raise EvaluateError(f"{len(outside)} truth model(s) lie outside the coverage of the weights {interp.name!r}, "
                            f"e.g. {_describe(truth.params[outside[0]], interp.axes)}: evaluate inside the grid only")
    held = set(_keys(truth.params))
    ref = np.array([i for i, k in enumerate(_keys(grid.params)) if k not in held], dtype=int)
    if len(ref) < len(grid.params):
        notes.append(f"{len(grid.params) - len(ref)} grid model(s) at truth nodes removed from the linear baseline")
    trained = set(_keys(interp.nodes)) - set(_keys(interp.meta.get("provenance", {}).get("test_nodes") or []))
    seen = sum(k in trained for k in held)
    if seen:
        notes.append(f"{seen} truth model(s) sit on nodes the weights were trained on: their innterpol errors "
                     f"measure recall, not interpolation")
    combined = GridData(
        family=grid.family,
        params=np.concatenate([grid.params[ref], truth.params]),
        values=np.concatenate([grid.values[ref], truth.values]),
        log_tau=grid.log_tau,
        sources=[grid.sources[i] for i in ref] + truth.sources,
        fixed=grid.fixed,
        report=grid.report + truth.report,
        data_hash=grid.data_hash,
        models=[grid.models[i] for i in ref] + list(truth.models) if grid.models is not None else None,
    )
    return Setup(combined, np.arange(len(ref)), np.arange(len(ref), len(combined.params)), "truth files", notes)


# ------------------------------------------------------------------------------------- methods
def network_prediction(interp, params: np.ndarray, hybrid: bool) -> np.ndarray:
    """Learned (transformed) values (N, C, D) of a weights file at ``params``."""
    y = interp.predict_normalised(params, hybrid=hybrid)
    return y * interp.weights.scale[None, :, None] + interp.weights.mean[None]


class GradientBoosting:
    """HistGradientBoostingRegressor per principal component of the normalised profiles.

    The paper (Sect. 3.2) regressed LightGBM on the grid; with trees, every split falls between
    two grid values, so between nodes the prediction stays on one node's model.
    """

    def __init__(self, params: np.ndarray, transformed: np.ndarray, axes, mean: np.ndarray, scale: np.ndarray,
                 components: int = 12, seed: int = 0, max_iter: int = 300):
        try:
            from sklearn.ensemble import HistGradientBoostingRegressor
        except ImportError:
            raise EvaluateError("method gbm needs scikit-learn, which is not installed: pip install 'innterpol[eval]'") from None
        self.axes, self.mean, self.scale = list(axes), mean, scale
        flat = ((transformed - mean[None]) / scale[None, :, None]).reshape(len(params), -1)
        self.centre = flat.mean(axis=0)
        _, sing, vt = np.linalg.svd(flat - self.centre, full_matrices=False)
        self.basis = vt[:components]
        self.kept = float(np.sum(sing[:components] ** 2) / np.sum(sing**2))
        coeffs = (flat - self.centre) @ self.basis.T
        x = transform_params(params, self.axes)
        self.models = [
            HistGradientBoostingRegressor(max_iter=max_iter, learning_rate=0.1, early_stopping=False, random_state=seed).fit(x, coeffs[:, k])
            for k in range(len(self.basis))
        ]
        self.shape = transformed.shape[1:]

    def predict(self, params: np.ndarray) -> np.ndarray:
        x = transform_params(np.atleast_2d(params), self.axes)
        coeffs = np.stack([m.predict(x) for m in self.models], axis=1)
        flat = coeffs @ self.basis + self.centre
        return flat.reshape((len(x),) + self.shape) * self.scale[None, :, None] + self.mean[None]


def half_step_positions(predict, truth_params: np.ndarray, ref_params: np.ndarray, channel: int) -> dict:
    """Where a method puts Teff +- half a step, along the way between the two grid neighbours.

    For each truth model at Teff T whose neighbours lo < T < hi along Teff are in the reference,
    the method predicts at lo, hi and T -+ s/2 (s the step to that neighbour), the paper's
    "adding 125 K" test (Sect. 3.2, Fig. 3).  The position is the projection of
    p(q) - p(lo) onto p(hi) - p(lo) for channel ``channel`` (learned units): a smooth
    interpolator gives about 0.25 and 0.75 when T is midway, nearest-neighbour gives 0 or 1
    (or the value it gives at T itself).
    """
    rows = []
    for q in truth_params:
        line = np.all(np.isclose(ref_params[:, 1:], q[1:], atol=1e-6), axis=1)
        teffs = ref_params[line, 0]
        below, above = teffs[teffs < q[0] - 1e-6], teffs[teffs > q[0] + 1e-6]
        if not len(below) or not len(above):
            continue
        lo, hi = below.max(), above.min()
        rows.append((q, lo, hi))
    if not rows:
        return {"n": 0}
    queries = []
    for q, lo, hi in rows:
        for teff in (lo, hi, q[0] - (q[0] - lo) / 2, q[0] + (hi - q[0]) / 2):
            p = q.copy()
            p[0] = teff
            queries.append(p)
    pred = predict(np.array(queries))[:, channel].reshape(len(rows), 4, -1)
    span = pred[:, 1] - pred[:, 0]
    norm = np.sum(span**2, axis=1)
    ok = norm > 0
    minus = np.sum((pred[:, 2] - pred[:, 0]) * span, axis=1)[ok] / norm[ok]
    plus = np.sum((pred[:, 3] - pred[:, 0]) * span, axis=1)[ok] / norm[ok]
    expected_minus = np.array([((q[0] - (q[0] - lo) / 2) - lo) / (hi - lo) for q, lo, hi in rows])[ok]
    expected_plus = np.array([((q[0] + (hi - q[0]) / 2) - lo) / (hi - lo) for q, lo, hi in rows])[ok]

    def stats(a):
        return {"median": float(np.median(a)), "p05": float(np.percentile(a, 5)), "p95": float(np.percentile(a, 95))}

    return {"n": int(ok.sum()), "minus_half_step": stats(minus), "plus_half_step": stats(plus),
            "linear_minus": float(np.median(expected_minus)), "linear_plus": float(np.median(expected_plus))}


# ---------------------------------------------------------------------------------- evaluation
@dataclass
class Evaluation:
    grid_name: str
    weights_path: str
    source: str
    axes: list[str]
    channels: list[dict]  # name, transform, unit (from the weights)
    log_tau: np.ndarray
    params: np.ndarray  # (M, P) the evaluated truth models
    true: np.ndarray  # (M, C, D) physical
    predictions: dict[str, np.ndarray]  # method -> (M, C, D) physical
    summary: dict  # scoring.score
    n_truth: int
    n_without_linear: int
    notes: list[str]
    half_step: dict = field(default_factory=dict)
    synth: dict | None = None
    models: list | None = None  # the evaluated truth models (Atmosphere), for --synth
    by_axis: dict | None = None  # scoring.along_axes of the test split

    def errors(self, method: str) -> np.ndarray:
        """Signed errors (M, C, D): percent for log channels, absolute otherwise."""
        return np.stack([channel_errors(self.predictions[method][:, c], self.true[:, c], Channel.from_dict(ch).error_kind)
                         for c, ch in enumerate(self.channels)], axis=1)

    def to_json(self) -> dict:
        """A JSON-ready dict (NaN becomes null)."""
        return json_safe(self._document())

    def _document(self) -> dict:
        temperature = next((c for c, ch in enumerate(self.channels) if ch["name"] == "temperature"), 0)
        per_model = {m: np.nanmax(np.abs(self.errors(m)[:, temperature]), axis=1) for m in self.predictions}
        return {
            "grid": self.grid_name,
            "weights": self.weights_path,
            "truth": self.source,
            "n_truth": self.n_truth,
            "n_evaluated": int(len(self.params)),
            "n_without_linear": self.n_without_linear,
            "statistics": "median, RMS, 95th percentile and max of |error| over every evaluated model and depth; "
                          "percent for log-learned channels, absolute (unit given) otherwise",
            "methods": self.summary.get("methods", []),
            "channels": self.summary.get("channels", {}),
            "half_step": self.half_step,
            "notes": self.notes,
            "models": [
                {"params": dict(zip(self.axes, map(float, p))),
                 "max_abs_temperature_error_percent": {m: float(v[i]) for m, v in per_model.items()}}
                for i, p in enumerate(self.params)
            ],
            **({"synth": self.synth} if self.synth is not None else {}),
            **({"by_axis": self.by_axis} if self.by_axis is not None else {}),
        }


def json_safe(value):
    """``value`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def evaluate(interp, setup: Setup, methods, *, pca=None, max_models: int | None = None, seed: int = 0,
             gbm_components: int = 12, log=None) -> Evaluation:
    """Score each method on the truth models that linear interpolation can rebuild (along the
    first axis with neighbours on both sides, Teff first).  innterpol forgets the truth nodes'
    grid models first, so it interpolates rather than recalls."""
    from .scoring import linear_rebuild, score

    log = log or (lambda message: None)
    grid = setup.grid
    channels = [dict(ch) for ch in interp.channels]
    ref = setup.ref_idx
    lin, used = linear_rebuild(interp.codec, grid.params[ref], grid.values[ref], grid.params[setup.truth_idx])
    ok = used >= 0
    n_without = int((~ok).sum())
    if not ok.any():
        raise EvaluateError(f"linear interpolation can rebuild none of the {len(ok)} truth models (no grid neighbours "
                            f"on both sides along any axis): nothing to compare")
    chosen = np.where(ok)[0]
    if max_models is not None and max_models < len(chosen):
        chosen = np.sort(np.random.default_rng(seed).choice(chosen, size=max_models, replace=False))
    truth_idx = setup.truth_idx[chosen]
    params = grid.params[truth_idx]
    log(f"{len(setup.truth_idx)} truth models ({setup.source}); {len(chosen)} evaluated"
        + (f"; {n_without} have no linear-interpolation neighbours and are left out" if n_without else ""))

    forgetful = interp.without(grid.params[setup.truth_idx])
    predictions: dict[str, np.ndarray] = {}
    if "innterpol" in methods:
        predictions["innterpol"] = forgetful.predict_physical(params)
    if "network" in methods:
        predictions["network"] = interp.predict_physical(params, hybrid=False)
    if "pca" in methods:
        predictions["pca"] = pca.predict_physical(params, hybrid=False)
    half_step = {}
    if "gbm" in methods:
        log(f"fitting gradient boosting on {gbm_components} principal components of {len(ref)} reference models ...")
        y_t = grid.transformed
        gbm = GradientBoosting(grid.params[ref], y_t[ref], interp.axes, interp.weights.mean, interp.weights.scale,
                               components=gbm_components, seed=seed)
        family_channels = grid.family.channels
        predictions["gbm"] = np.stack([ch.inverse(gbm.predict(params)[:, c]) for c, ch in enumerate(family_channels)], axis=1)
        channel = next((c for c, ch in enumerate(channels) if ch["name"] == "temperature"), 0)
        half_step = {
            "channel": channels[channel]["name"],
            "gbm": half_step_positions(gbm.predict, params, grid.params[ref], channel),
            "innterpol": half_step_positions(lambda p: network_prediction(forgetful, p, hybrid=True), params,
                                             grid.params[ref], channel),
            "gbm_pca_power_kept": gbm.kept,
        }
    predictions["linear"] = lin[chosen]
    order = [m for m in METHODS if m in predictions]
    physical_predictions = {m: predictions[m] for m in order}
    summary = score(interp.codec, [ch.get("unit", "") for ch in channels], grid.values[truth_idx], physical_predictions)
    summary.update(n_test=int(len(truth_idx)), n_linear=int(len(truth_idx)))
    notes = list(setup.notes)
    if "pca" in methods and pca is not None:
        pca_tests = set(_keys(pca.meta.get("provenance", {}).get("test_nodes") or []))
        trained = sum(k not in pca_tests for k in _keys(params))
        if trained:
            notes.append(f"{trained} evaluated model(s) are not in the PCA weights' test split: its errors there "
                         f"measure recall")
    return Evaluation(
        grid_name=interp.name, weights_path=str(interp.weights.path), source=setup.source, axes=list(interp.axes),
        channels=channels, log_tau=np.asarray(grid.log_tau), params=params, true=grid.values[truth_idx],
        predictions=physical_predictions, summary=summary, n_truth=int(len(setup.truth_idx)), n_without_linear=n_without,
        notes=notes, half_step=half_step,
        models=[grid.models[i] for i in truth_idx] if grid.models is not None else None,
    )


# ----------------------------------------------------------------------------------- spectra
#: "rebuilt" is the true model's own channels completed the way predictions are: the floor
#: that the derived quantities and the writer alone put under every method's difference.
SYNTH_METHODS = ("innterpol", "linear", "rebuilt")


def require_pysme() -> None:
    if importlib.util.find_spec("pysme") is None:
        raise EvaluateError("--synth needs PySME, which is not installed: pip install 'innterpol[synth]' "
                            "(or pip install pysme-astro)")


def completed_atmospheres(interp, params: np.ndarray, values: np.ndarray, note: str) -> list:
    """Complete atmospheres from predicted channels ``values`` (M, C, D, physical), the rest
    derived exactly as innterpol derives its own, so that methods differ only in what they
    interpolate."""
    from .interpolate import INSIDE

    arrays = {ch["name"]: values[:, c] for c, ch in enumerate(interp.channels)}
    arrays = interp.complete(arrays, len(params))
    atmospheres = []
    for i, row in enumerate(params):
        atm = interp.assemble(row, {k: v[i] for k, v in arrays.items()}, INSIDE)
        atm.extra["innterpol"] = note
        atmospheres.append(atm)
    return atmospheres


def spectrum_differences(wave_true, flux_true, wave, flux) -> tuple[float, float]:
    """max |delta normalised flux| and RMS difference, on the true spectrum's wavelengths."""
    other = np.interp(wave_true, wave, flux)
    diff = other - flux_true
    return float(np.max(np.abs(diff))), float(np.sqrt(np.mean(diff**2)))


def synth_compare(interp, evaluation: Evaluation, linelist, *, jobs: int = 1, timeout: float = 300.0,
                  wave_range=(5000.0, 5100.0), progress=None) -> dict:
    """Synthesise every true model and its innterpol and linear counterparts with PySME; the
    distribution over models of max |delta flux| and RMS delta flux, per method.  The
    "rebuilt" row is the floor: the true channels put through the same completion.

    Each synthesis runs in its own process with a timeout (:func:`synth.synthesize_in_subprocess`),
    ``jobs`` at a time.  A synthesis that fails is counted and named, not fatal.
    """
    import tempfile
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    import formats

    from .synth import SynthesisError, synthesize_in_subprocess

    require_pysme()
    if evaluation.models is None:
        raise EvaluateError("the truth models are not available for synthesis")
    fmt = interp.native_format
    sets = {
        "true": evaluation.models,
        # the truth nodes' own grid models forgotten, as in the scores: interpolation, not recall
        "innterpol": interp.without(evaluation.params).atmospheres(evaluation.params, extrapolate=True),
        "linear": completed_atmospheres(interp, evaluation.params, evaluation.predictions["linear"], "linear baseline"),
        "rebuilt": completed_atmospheres(interp, evaluation.params, evaluation.true, "true channels, rebuilt"),
    }
    results: dict[tuple[str, int], tuple | str] = {}
    with tempfile.TemporaryDirectory(prefix="innterpol-eval-") as tmp:
        tasks = []
        for kind, atmospheres in sets.items():
            for i, atm in enumerate(atmospheres):
                path = Path(tmp) / f"{kind}-{i:04d}.mod"
                formats.write([atm], path, fmt)
                tasks.append((kind, i, path))

        def run(task):
            kind, i, path = task
            try:
                wave, flux = synthesize_in_subprocess(path, linelist, wave_range, timeout=timeout, format=fmt)
            except SynthesisError as exc:
                return kind, i, str(exc)
            bad = int(np.sum(~np.isfinite(flux)))
            if bad:  # PySME can return NaN flux on a model it accepts: a failure, not a number
                return kind, i, f"PySME returned {bad} non-finite flux values of {len(flux)}"
            return kind, i, (wave, flux)

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for kind, i, result in pool.map(run, tasks):
                results[(kind, i)] = result
                if progress:
                    progress()
    failures = [f"{kind} model {i + 1}: {r}" for (kind, i), r in results.items() if isinstance(r, str)]
    # Against the rebuilt true model, only the interpolation differs; against the true file,
    # the completion (derived ABROSS, header constants) adds the floor that "rebuilt" shows.
    pairs = {(m, ref): {"max_abs": [], "rms": []} for m in SYNTH_METHODS for ref in ("rebuilt", "true") if m != ref}
    for i in range(len(evaluation.params)):
        for (m, ref), store in pairs.items():
            got, truth = results[(m, i)], results[(ref, i)]
            if isinstance(got, str) or isinstance(truth, str):
                continue
            peak, rms = spectrum_differences(truth[0], truth[1], got[0], got[1])
            store["max_abs"].append(peak)
            store["rms"].append(rms)

    def dist(values):
        a = np.asarray(values, dtype=float)
        if not a.size:
            return {"median": float("nan"), "p95": float("nan"), "max": float("nan")}
        return {"median": float(np.median(a)), "p95": float(np.percentile(a, 95)), "max": float(np.max(a))}

    return {
        "linelist": str(linelist), "wave_range": list(wave_range), "n_models": int(len(evaluation.params)),
        "comparisons": [
            {"method": m, "against": ref, "n": len(store["max_abs"]), "max_abs_delta_flux": dist(store["max_abs"]),
             "rms_delta_flux": dist(store["rms"])}
            for (m, ref), store in pairs.items()
        ],
        "failures": failures,
    }


def check_pca_weights(interp, pca) -> list[str]:
    if pca.family != interp.family or list(pca.axes) != list(interp.axes):
        raise EvaluateError(f"--pca-weights are for the {pca.family} family ({', '.join(pca.axes)}), the weights "
                            f"evaluated for {interp.family} ({', '.join(interp.axes)})")
    if len(pca.log_tau) != len(interp.log_tau) or np.max(np.abs(pca.log_tau - interp.log_tau)) > 1e-4:
        raise EvaluateError("--pca-weights are on a different depth scale from the weights evaluated")
    method = pca.meta.get("train_config", {}).get("method")
    return [] if method == "pca" else [f"--pca-weights were trained with method {method!r}, not 'pca'"]
