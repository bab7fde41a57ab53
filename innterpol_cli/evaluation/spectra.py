"""Spectra of the evaluated models (``innterpol evaluate --synth``): PySME syntheses of the true
models and of their innterpol and linear counterparts, and how far the spectra differ."""

from __future__ import annotations

import importlib.util

import numpy as np

from .errors import EvaluateError
from .record import Evaluation

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
    from ..coverage import INSIDE

    arrays = {ch["name"]: values[:, c] for c, ch in enumerate(interp.channels)}
    arrays = interp.complete(arrays, len(params))
    atmospheres = []
    for i, row in enumerate(params):
        atm = interp.assembler.atmosphere(row, {k: v[i] for k, v in arrays.items()}, INSIDE)
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

    Each synthesis runs in its own process with a timeout (:func:`innterpol_cli.synth.synthesize_in_subprocess`),
    ``jobs`` at a time.  A synthesis that fails is counted and named, not fatal.
    """
    import tempfile
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    import formats

    from ..synth import SynthesisError, synthesize_in_subprocess

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
