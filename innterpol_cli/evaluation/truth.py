"""The truth an evaluation scores against, and the reference grid the baselines may use.

The truth is either the weights' own recorded test split, taken from the grid files they were
trained from (:func:`test_split`), or real models the user passes (:func:`with_truth`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..grid import GridData, build_grid
from .errors import EvaluateError


@dataclass
class Setup:
    """The grid with the truth in it: ``grid.params[ref_idx]`` is what linear interpolation may
    use, ``grid.params[truth_idx]`` are the truth models."""

    grid: GridData
    ref_idx: np.ndarray
    truth_idx: np.ndarray
    source: str  # "test split" or "truth files"
    notes: list[str] = field(default_factory=list)


def node_keys(params: np.ndarray) -> list[tuple]:
    """Hashable keys of parameter rows (rounded to 4 decimals), to match nodes across files."""
    return [tuple(np.round(p, 4)) for p in np.asarray(params, dtype=float)]


def recorded_nodes(meta: dict, split: str = "test_nodes") -> list:
    """The nodes of one split (``test_nodes``, ``validation_nodes``) a weights file records; [] if none."""
    return meta.get("provenance", {}).get(split) or []


def node_rows(params: np.ndarray, nodes) -> list[int | None]:
    """The row of ``params`` holding each of ``nodes`` (parameters recorded in a weights file), or None."""
    index = {k: i for i, k in enumerate(node_keys(params))}
    return [index.get(k) for k in node_keys(nodes)]


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
    test_nodes = recorded_nodes(interp.meta)
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
    from ..coverage import OUTSIDE, describe
    from ..grid import FAMILIES

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
                            f"e.g. {describe(truth.params[outside[0]], interp.axes)}: evaluate inside the grid only")
    held = set(node_keys(truth.params))
    ref = np.array([i for i, k in enumerate(node_keys(grid.params)) if k not in held], dtype=int)
    if len(ref) < len(grid.params):
        notes.append(f"{len(grid.params) - len(ref)} grid model(s) at truth nodes removed from the linear baseline")
    trained = set(node_keys(interp.nodes)) - set(node_keys(recorded_nodes(interp.meta)))
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
