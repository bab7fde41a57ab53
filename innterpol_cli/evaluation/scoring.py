"""Held-out accuracy: innterpol, the bare network and linear interpolation rebuilding grid
models they never saw, scored per channel, along each axis in turn.

A held-out node is rebuilt along one axis at a time: its own value on that axis is removed and
the grid values on either side are used (for [M/H], the node's metallicity plane is skipped, so
the query sits between the planes around it).  With calibrated weights, the uncertainty of
innterpol's rebuilds is scored too (:func:`innterpol_cli.evaluation.metrics.calibration`).  innterpol forgets the held-out
nodes' grid models (:meth:`Interpolator.without`); linear interpolation
(:func:`innterpol_cli.baselines.linear.linear_rebuild`) uses the nearest models on either side
along the same axis, in each quantity's usual representation (log10 of positive quantities).
"""

from __future__ import annotations

import numpy as np

from ..baselines.linear import linear_rebuild
from ..encoding import Channel
from .metrics import calibration, channel_errors, summarize


def score(codec: list[Channel], units: list[str], true: np.ndarray, predictions: dict[str, np.ndarray]) -> dict:
    """Per channel and method: the statistics of :func:`innterpol_cli.evaluation.metrics.summarize`."""
    channels = {}
    for c, ch in enumerate(codec):
        row = {m: summarize(channel_errors(p[:, c], true[:, c], ch.error_kind)) for m, p in predictions.items()}
        row["unit"] = "%" if ch.error_kind == "relative" else (units[c] or "abs")
        channels[ch.name] = row
    return {"methods": list(predictions), "channels": channels}


def depth_profile(codec: list[Channel], true: np.ndarray, predictions: dict[str, np.ndarray]) -> dict:
    """Per channel and method, the median and 90th percentile of |error| at each depth."""
    out = {}
    for c, ch in enumerate(codec):
        rows = {}
        for m, p in predictions.items():
            e = np.abs(channel_errors(p[:, c], true[:, c], ch.error_kind))
            rows[m] = {"median": np.median(e, axis=0).tolist(), "p90": np.percentile(e, 90, axis=0).tolist()}
        out[ch.name] = rows
    return out


def along_axes(interp, params: np.ndarray, values: np.ndarray, held: np.ndarray,
               methods=("innterpol", "stencil", "network"), log=None) -> dict:
    """Rebuild the ``held`` rows of the grid (``params`` (N, P), physical ``values`` (N, C, D))
    along each axis of ``interp``; returns {"n_held", "axes": {axis: {"n", "methods", "channels",
    "profile", "calibration", "linear_stencil"}}}.

    Methods: ``innterpol`` (the hybrid), ``stencil`` (the same hybrid with alpha 0: the grid's
    interpolation stencil alone), ``network`` (bare) and ``linear`` (always).  ``linear_stencil``
    scores the same methods on the rebuilds whose stencil along the axis is linear only (an edge
    plane, a hole next to the node): where most real stars between planes sit."""
    log = log or (lambda message: None)
    held = np.asarray(held, dtype=int)
    ref = np.setdiff1d(np.arange(len(params)), held)
    forgetful = interp.without(params[held])
    units = [ch.get("unit", "") for ch in interp.channels]
    result: dict = {"n_held": int(len(held)), "axes": {}}
    for j, axis in enumerate(interp.axes):
        lin, used = linear_rebuild(interp.codec, params[ref], values[ref], params[held], axes=[j])
        ok = used >= 0
        if not ok.any():
            result["axes"][axis] = {"n": 0}
            if "innterpol" in methods and forgetful.calibrated:
                # No linear baseline, but innterpol rebuilds (absent neighbours filled in by the
                # network): its uncertainty can still be scored there.
                pred, signals = forgetful.predict_with_signals(params[held], widen=j)
                found = signals.found
                if found.any():
                    sigma = forgetful.sigma(params[held[found]], pred[found], signals.take(found))
                    result["axes"][axis].update(n_calibration=int(found.sum()), calibration={
                        ch.name: calibration(pred[found, c], sigma[:, c], values[held[found], c], ch.error_kind)
                        for c, ch in enumerate(interp.codec)})
            continue
        rows = held[ok]
        predictions = {}
        sigma = None
        linear_stencil = np.zeros(len(rows), dtype=bool)
        if "innterpol" in methods:
            if forgetful.blend is not None:
                predictions["innterpol"], signals = forgetful.predict_with_signals(params[rows], widen=j)
                linear_stencil = signals.found & ~signals.cubic[:, j]
                if forgetful.calibrated:
                    sigma = forgetful.sigma(params[rows], predictions["innterpol"], signals)
            else:
                predictions["innterpol"] = forgetful.predict_physical(params[rows], widen=j)
        if "stencil" in methods and forgetful.blend is not None:
            predictions["stencil"] = forgetful.stencil_only().predict_physical(params[rows], widen=j)
        if "network" in methods:
            predictions["network"] = interp.predict_physical(params[rows], hybrid=False)
        predictions["linear"] = lin[ok]
        result["axes"][axis] = {"n": int(len(rows)), **score(interp.codec, units, values[rows], predictions),
                                "profile": depth_profile(interp.codec, values[rows], predictions)}
        if linear_stencil.any():
            result["axes"][axis]["linear_stencil"] = {
                "n": int(linear_stencil.sum()),
                **score(interp.codec, units, values[rows[linear_stencil]],
                        {m: p[linear_stencil] for m, p in predictions.items()})}
        if sigma is not None:
            result["axes"][axis]["calibration"] = {
                ch.name: calibration(predictions["innterpol"][:, c], sigma[:, c], values[rows, c], ch.error_kind)
                for c, ch in enumerate(interp.codec)}
        log(f"along {axis}: {len(rows)} held-out nodes rebuilt")
    return result


#: Cell-fraction bins of the calibration tables: t folded to [0, 0.5] (0 on a node, 0.5 mid-cell).
FRACTION_BINS = ((0.0, 0.25), (0.25, 0.5))


def guard_rates(max_error: np.ndarray, warned: np.ndarray, threshold: float) -> dict:
    """The guard's false-alarm rate (warned, among models whose true max error stays below
    ``threshold``) and miss rate (not warned, among those above it)."""
    good, bad = max_error <= threshold, max_error > threshold
    return {"good": int(good.sum()), "bad": int(bad.sum()),
            "false_alarm": float(np.mean(warned[good])) if good.any() else 0.0,
            "miss": float(np.mean(~warned[bad])) if bad.any() else 0.0}


def calibration_by_fraction(interp, params: np.ndarray, values: np.ndarray, held: np.ndarray, skips,
                            max_sigma: float | None = None, log=None) -> dict:
    """The uncertainty scored where real queries fall: the ``held`` rows rebuilt along each axis
    at several fractions of a cell (``skips``: grid values skipped below and above, see
    :meth:`~innterpol_cli.stencil.NodeSet.stencils`), edge planes with a linear stencil among
    them; per axis, per bin of the folded cell fraction (:data:`FRACTION_BINS`) and per stencil
    kind (cubic, linear only, reaching absent nodes that the network fills in), per channel,
    :func:`~innterpol_cli.evaluation.metrics.calibration`, and the coverage guard's false-alarm and miss
    rates at ``max_sigma`` percent of T (``interp.warns``)."""
    log = log or (lambda message: None)
    held = np.asarray(held, dtype=int)
    forgetful = interp.without(params[held])
    t_channel = [ch.name for ch in interp.codec].index("temperature")
    out: dict = {}
    for j, axis in enumerate(interp.axes):
        preds, sigmas, truths, folded, linear, filled, peak_sigma = [], [], [], [], [], [], []
        for skip in skips:
            pred, signals = forgetful.predict_with_signals(params[held], widen=(j, *skip))
            found = np.where(signals.found & (signals.bump[:, j] > 0)
                             & np.all(np.isfinite(pred.reshape(len(pred), pred[0].size if len(pred) else 0)), axis=1))[0]
            if not len(found):
                continue
            sub = signals.take(found)
            sigma = forgetful.sigma(params[held[found]], pred[found], sub)
            preds.append(pred[found])
            sigmas.append(sigma)
            truths.append(values[held[found]])
            bump = np.clip(sub.bump[:, j], 0.0, 1.0)
            folded.append(0.5 * (1.0 - np.sqrt(1.0 - bump)))
            linear.append(~sub.cubic[:, j])
            filled.append(sub.missing > 0)
            peak_sigma.append(forgetful.peak_sigma_t(sigma[:, t_channel], pred[found][:, t_channel]))
        if not preds:
            continue
        pred, sigma, truth = np.concatenate(preds), np.concatenate(sigmas), np.concatenate(truths)
        t, lin, peak = np.concatenate(folded), np.concatenate(linear), np.concatenate(peak_sigma)
        absent = np.concatenate(filled)
        error_t = 100.0 * np.max(np.abs(pred[:, t_channel] / truth[:, t_channel] - 1.0), axis=1)
        rows = {}
        subsets = {f"t in [{lo:g}, {hi:g}{']' if hi == 0.5 else ')'}": (t >= lo) & ((t < hi) | (hi == 0.5))
                   for lo, hi in FRACTION_BINS}
        # Per stencil kind: cubic along the axis, linear only (an edge plane, a hole), and stencils
        # that reach absent nodes, which the network fills in (these overlap the first two).
        subsets["cubic stencil"] = ~lin
        subsets["linear stencil"] = lin
        subsets["absent nodes filled in"] = absent
        for label, mask in subsets.items():
            if not mask.any():
                continue
            rows[label] = {"n": int(mask.sum()), "channels": {
                ch.name: calibration(pred[mask, c], sigma[mask, c], truth[mask, c], ch.error_kind)
                for c, ch in enumerate(interp.codec)}}
            if max_sigma is not None:
                rows[label]["guard"] = guard_rates(error_t[mask], interp.warns(peak[mask], max_sigma), max_sigma)
        out[axis] = rows
        log(f"uncertainty along {axis}: {len(pred)} rebuilds at {len(skips)} cell fractions scored")
    return out
