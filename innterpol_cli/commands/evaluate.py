"""``innterpol evaluate``: held-out accuracy of a weights file against linear interpolation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from ..app import app

LINELIST_NAME = "atomic_lines_4995-5105.csv"


@app.command()
def evaluate(
    grid: str = typer.Option(..., "--grid", help="Shipped grid name (atlas9, marcs) or a weights file."),
    grid_files: list[str] = typer.Option(..., "--grid-files", help="The grid files the weights were trained from: "
                                         "a directory, a quoted glob pattern, or a file (repeat the option for more)."),
    truth: list[str] | None = typer.Option(None, "--truth", help="Real models the network did not train on, "
                                              "given like --grid-files (default: the weights' recorded test split, "
                                              "taken from the grid files)."),
    methods: str | None = typer.Option(None, "--methods", help="Comma-separated: innterpol, network, linear, pca, "
                                          "gbm (default innterpol,network,linear, plus pca with --pca-weights; "
                                          "linear is always included)."),
    pca_weights: str | None = typer.Option(None, "--pca-weights", help="Weights trained with --method pca, for "
                                              "the PCA + network baseline."),
    json_out: str | None = typer.Option(None, "--json", help="Write the results as JSON to FILE ('-': stdout)."),
    plots: Path | None = typer.Option(None, "--plots", help="Write error-against-depth PNGs into DIR."),
    synth: bool = typer.Option(False, "--synth", help="Also compare PySME spectra of true, innterpol and linear models."),
    jobs: int = typer.Option(1, "--jobs", min=1, help="Parallel synthesis processes."),
    linelist: Path | None = typer.Option(None, "--linelist", help=f"Line list CSV for --synth (default: "
                                            f"$INNTERPOL_SHARED/clients/{LINELIST_NAME} or ../shared/clients/...)."),
    synth_timeout: float = typer.Option(300.0, "--synth-timeout", help="Seconds before one synthesis is abandoned."),
    max_models: int | None = typer.Option(None, "--max-models", min=1, help="Evaluate a seeded random subset of "
                                             "at most N truth models."),
) -> None:
    """Compare innterpol with linear interpolation (and other baselines) on held-out models."""
    from formats.transaction import atomic_output

    from ..baselines.pca import check_pca_weights
    from ..console import err, info, warn
    from ..evaluation.methods import parse_methods
    from ..evaluation.run import evaluate as run
    from ..evaluation.spectra import require_pysme, synth_compare
    from ..evaluation.tables import print_axes, print_half_step, print_summary, print_synth
    from ..evaluation.truth import test_split, with_truth
    from ..grid import build_grid, family_for_format, read_grid_files
    from ..interpolate import load

    chosen = parse_methods(methods, pca_weights)
    if synth:
        require_pysme()
        linelist = _linelist(linelist)
    interp = load(grid)
    pca = None
    if "pca" in chosen:
        pca = load(pca_weights)
        for note in check_pca_weights(interp, pca):
            warn(note)
    info(f"reading grid files for {interp.name} ...")
    models, fmt, report = read_grid_files(grid_files)
    data = build_grid(models, family_for_format(fmt), report)
    if truth:
        truth_models, truth_fmt, _ = read_grid_files(truth)
        setup = with_truth(interp, data, truth_models, truth_fmt)
    else:
        setup = test_split(interp, data)
    for note in setup.notes:
        warn(note)
    evaluation = run(interp, setup, chosen, pca=pca, max_models=max_models, log=info)
    for note in evaluation.notes[len(setup.notes):]:
        warn(note)
    print_summary(evaluation.summary, f"{interp.name} ({evaluation.source})")
    if not truth:
        from ..evaluation.scoring import along_axes

        info("rebuilding the test split along each axis in turn ...")
        evaluation.by_axis = along_axes(interp, data.params, data.values, setup.truth_idx,
                                        methods=[m for m in ("innterpol", "stencil", "network")
                                                 if m in chosen or (m == "stencil" and "innterpol" in chosen)])
        print_axes(evaluation.by_axis, interp.name)
        if interp.calibrated and "innterpol" in chosen:
            from ..evaluation.scoring import calibration_by_fraction
            from ..evaluation.tables import HEADLINE, print_by_position
            from ..interpolate import MAX_SIGMA
            from ..uncertaintyfit import SKIPS

            info("rebuilding the test split at several cell fractions, for the uncertainty by position ...")
            evaluation.by_position = calibration_by_fraction(interp, data.params, data.values, setup.truth_idx, SKIPS,
                                                             max_sigma=MAX_SIGMA)
            print_by_position(evaluation.by_position, interp.name, HEADLINE.get(interp.family))
    if evaluation.half_step:
        print_half_step(evaluation.half_step)
    if synth:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        total = 4 * len(evaluation.params)
        with Progress(TextColumn("PySME syntheses"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err) as progress:
            task = progress.add_task("synth", total=total)
            evaluation.synth = synth_compare(interp, evaluation, linelist, jobs=jobs, timeout=synth_timeout,
                                             progress=lambda: progress.advance(task))
        print_synth(evaluation.synth)
    if plots:
        from ..evaluation.plots import error_figures

        written = error_figures(evaluation, plots)
        if evaluation.by_axis is not None:
            from ..evaluation.plots import reliability_figure
            from ..evaluation.tables import HEADLINE

            figure = reliability_figure(evaluation.by_axis, HEADLINE.get(interp.family, ()), plots / f"{interp.name}-reliability.png",
                                        f"{interp.name}: calibration of the 1-sigma uncertainty on held-out models")
            written += [figure] if figure else []
        info(f"wrote {len(written)} figure(s) to {plots}")
    if json_out:
        with atomic_output(json_out) as handle:
            json.dump(evaluation.to_json(), handle, indent=1, allow_nan=False)
            handle.write("\n")
        if json_out != "-":
            info(f"wrote {json_out}")


def _linelist(given: Path | None) -> Path:
    from ..evaluation.errors import EvaluateError

    if given is not None:
        if not given.is_file():
            raise EvaluateError(f"--linelist {given}: no such file")
        return given
    shared = os.environ.get("INNTERPOL_SHARED")
    candidates = ([Path(shared) / "clients" / LINELIST_NAME] if shared else []) + [Path("..") / "shared" / "clients" / LINELIST_NAME]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    raise EvaluateError(f"--synth: no line list found ({LINELIST_NAME} in $INNTERPOL_SHARED/clients or "
                        f"../shared/clients): pass --linelist CSV")
