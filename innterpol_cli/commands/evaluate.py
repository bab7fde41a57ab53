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
    from formats.textio import atomic_output

    from ..console import err, info, warn
    from ..evaluate import check_pca_weights, parse_methods, require_pysme, synth_compare, test_split, with_truth
    from ..evaluate import evaluate as run
    from ..grid import build_grid, family_for_format, read_grid_files
    from ..interpolate import load
    from .tables import print_axes, print_summary

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
        from ..scoring import along_axes

        info("rebuilding the test split along each axis in turn ...")
        evaluation.by_axis = along_axes(interp, data.params, data.values, setup.truth_idx,
                                        methods=[m for m in ("innterpol", "stencil", "network")
                                                 if m in chosen or (m == "stencil" and "innterpol" in chosen)])
        print_axes(evaluation.by_axis, interp.name)
    if evaluation.half_step:
        _print_half_step(evaluation.half_step)
    if synth:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        total = 4 * len(evaluation.params)
        with Progress(TextColumn("PySME syntheses"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err) as progress:
            task = progress.add_task("synth", total=total)
            evaluation.synth = synth_compare(interp, evaluation, linelist, jobs=jobs, timeout=synth_timeout,
                                             progress=lambda: progress.advance(task))
        _print_synth(evaluation.synth)
    if plots:
        from ..plots import error_figures

        written = error_figures(evaluation, plots)
        if evaluation.by_axis is not None:
            from ..plots import reliability_figure
            from ..scoring import HEADLINE

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
    from ..evaluate import EvaluateError

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


def _print_half_step(half: dict) -> None:
    from rich.table import Table

    from ..console import err

    table = Table(title=f"Teff -+ half a step: position of the {half['channel']} profile between the two grid "
                        f"neighbours (0 = lower, 1 = upper)")
    table.add_column("method")
    table.add_column("models", justify="right")
    table.add_column("Teff - step/2: median [5%, 95%]", justify="right")
    table.add_column("Teff + step/2: median [5%, 95%]", justify="right")
    linear = None
    for method in ("innterpol", "gbm"):
        row = half.get(method) or {}
        if not row.get("n"):
            continue
        linear = (row["linear_minus"], row["linear_plus"])
        cells = [f"{row[k]['median']:.2f} [{row[k]['p05']:.2f}, {row[k]['p95']:.2f}]" for k in ("minus_half_step", "plus_half_step")]
        table.add_row(method, str(row["n"]), *cells)
    if linear:
        table.add_row("linear", "", f"{linear[0]:.2f}", f"{linear[1]:.2f}")
    err.print(table)
    err.print("gbm near 0 or 1 (or stuck on one value) means it jumps from node to node like a nearest-neighbour "
              "lookup, as the paper found for LightGBM (Sect. 3.2)", soft_wrap=True)


def _print_synth(result: dict) -> None:
    from rich.table import Table

    from ..console import err, warn

    lo, hi = result["wave_range"]
    table = Table(title=f"PySME spectra {lo:g}-{hi:g} A: differences in normalised flux (distribution over "
                        f"{result['n_models']} models)")
    table.add_column("method")
    table.add_column("against")
    table.add_column("models", justify="right")
    table.add_column("per model")
    for stat in ("median", "p95", "max"):
        table.add_column(stat, justify="right")
    labels = {"max_abs_delta_flux": "max |dF|", "rms_delta_flux": "RMS dF"}
    for row in result["comparisons"]:
        for key, label in labels.items():
            first = key == "max_abs_delta_flux"
            table.add_row(row["method"] if first else "", row["against"] if first else "", str(row["n"]) if first else "", label,
                          *(f"{row[key][s]:.2e}" for s in ("median", "p95", "max")), end_section=not first)
    err.print(table)
    err.print("rebuilt: the true model's own channels, completed and written as predictions are; against it only the "
              "interpolation differs.  rebuilt against true is the floor the completion puts under every method.",
              soft_wrap=True)
    for failure in result["failures"][:5]:
        warn(failure)
    if len(result["failures"]) > 5:
        warn(f"... and {len(result['failures']) - 5} more failed syntheses")
