"""Rich tables of accuracy summaries, on stderr (stdout stays data): the scores of
:mod:`.scoring`, the uncertainty's calibration, the half-step test and the spectra."""

from __future__ import annotations

from .metrics import STATISTICS

#: Channels the headline tables show, per family (the rest are in the JSON and --all tables).
HEADLINE = {
    "atlas9": ("temperature", "gas_pressure", "electron_density", "column_mass"),
    "marcs": ("temperature", "gas_pressure", "electron_pressure", "column_mass"),
}


def _rows(table, summary: dict, channels=None) -> None:
    methods = summary.get("methods", [])
    names = [n for n in summary["channels"] if channels is None or n in channels]
    for name in names:
        row = summary["channels"][name]
        for m in methods:
            cells = [name if m == methods[0] else "", row["unit"] if m == methods[0] else "", m]
            for stat in STATISTICS:
                v = row[m][stat]
                better = m != "linear" and "linear" in row and v < row["linear"][stat]
                cells.append(f"[green]{v:.3g}[/green]" if better else f"{v:.3g}")
            table.add_row(*cells, end_section=(m == methods[-1]))


def _table(title: str):
    from rich.table import Table

    table = Table(title=title)
    for column in ("channel", "unit", "method"):
        table.add_column(column)
    for stat in STATISTICS:
        table.add_column(stat, justify="right")
    return table


def print_summary(summary: dict, title: str, channels=None) -> None:
    """One table: every channel (or ``channels``), every method; green where better than linear."""
    from ..console import err

    if not summary or not summary.get("channels"):
        err.print("no test split: nothing to summarise")
        return
    table = _table(f"{title}: |error| over {summary.get('n_test', '?')} held-out models and all depths; worst = median over "
                   f"models of each model's largest error (green: better than linear)")
    _rows(table, summary, channels)
    err.print(table)


def print_axes(result: dict, title: str, channels=None) -> None:
    """One table per axis of :func:`innterpol_cli.evaluation.scoring.along_axes`."""
    from ..console import err

    for axis, part in result.get("axes", {}).items():
        if not part.get("n"):
            err.print(f"{title}, along {axis}: no held-out node has grid neighbours on both sides (no linear baseline)")
            continue
        table = _table(f"{title}, rebuilt along {axis}: {part['n']} held-out models (worst = median over models of each "
                       f"model's largest error over depth; green: better than linear)")
        _rows(table, part, channels)
        err.print(table)
        sub = part.get("linear_stencil")
        if sub:
            table = _table(f"{title}, rebuilt along {axis}, the {sub['n']} of them whose stencil along {axis} is "
                           f"linear only (an edge plane or a hole; green: better than linear)")
            _rows(table, sub, channels)
            err.print(table)
    print_calibration(result, title, channels)


#: The ranges a calibrated 1-sigma must meet: fraction within 1 and 2 sigma, rank correlation.
CALIBRATION_GOALS = {"within_1": (0.60, 0.76), "within_2": (0.90, 0.98), "rank_correlation": (0.5, 1.0)}


def _calibration_cells(row: dict) -> list[str]:
    """Within 1 sigma, within 2 sigma and the rank correlation of one calibration row, each red
    where it misses its :data:`CALIBRATION_GOALS` range."""
    cells = []
    for key in ("within_1", "within_2", "rank_correlation"):
        lo, hi = CALIBRATION_GOALS[key]
        text = f"{100 * row[key]:.1f}%" if key != "rank_correlation" else f"{row[key]:.2f}"
        cells.append(text if lo <= row[key] <= hi else f"[red]{text}[/red]")
    return cells

def print_calibration(result: dict, title: str, channels=None) -> None:
    """One table of the uncertainty's calibration per axis (:func:`innterpol_cli.evaluation.metrics.calibration`)."""
    from rich.table import Table

    from ..console import err

    parts = {axis: part for axis, part in result.get("axes", {}).items() if part.get("calibration")}
    if not parts:
        return
    table = Table(title=f"{title}: calibration of innterpol's 1-sigma on held-out models (goals: 60-76% within 1 sigma, "
                        f"90-98% within 2 sigma, rank correlation of each model's max sigma and max error >= 0.5; red: missed)")
    for column in ("axis", "models", "channel", "within 1 sigma", "within 2 sigma", "rank corr."):
        table.add_column(column, justify="left" if column in ("axis", "channel") else "right")
    for axis, part in parts.items():
        names = [n for n in part["calibration"] if channels is None or n in channels]
        for k, name in enumerate(names):
            cells = _calibration_cells(part["calibration"][name])
            models = part.get("n") or part.get("n_calibration")
            table.add_row(axis if k == 0 else "", str(models) if k == 0 else "", name, *cells, end_section=k == len(names) - 1)
    err.print(table)


def print_by_position(by_fraction: dict, title: str, channels=None) -> None:
    """One table of the uncertainty where real queries fall
    (:func:`innterpol_cli.evaluation.scoring.calibration_by_fraction`): per axis, per bin of the
    cell fraction and per stencil kind, within 1 / 2 / beyond 3 sigma and the rank correlation per
    channel, and on the temperature row the coverage guard's false alarms and misses."""
    from rich.table import Table

    from ..console import err

    if not by_fraction:
        return
    table = Table(title=f"{title}: the 1-sigma uncertainty by position, held-out nodes rebuilt at several cell fractions "
                        f"(goals: 60-76% within 1 sigma, 90-98% within 2, rank corr. >= 0.5; red: missed); guard: false "
                        f"alarms among models whose max T error stays below the threshold, misses among those above")
    for column in ("axis", "rebuilds", "models", "channel", "within 1 sigma", "within 2 sigma", "beyond 3 sigma",
                   "rank corr.", "guard"):
        table.add_column(column, justify="left" if column in ("axis", "rebuilds", "channel") else "right")
    for axis, rows in by_fraction.items():
        for r, (label, row) in enumerate(rows.items()):
            names = [n for n in row["channels"] if channels is None or n in channels]
            guard = row.get("guard")
            for k, name in enumerate(names):
                c = row["channels"][name]
                cells = _calibration_cells(c)
                cells.insert(2, f"{100 * c['beyond_3']:.1f}%")
                rates = (f"{100 * guard['false_alarm']:.0f}% / {100 * guard['miss']:.0f}%"
                         if guard and name == "temperature" else "")
                table.add_row(axis if r == 0 and k == 0 else "", label if k == 0 else "", str(row["n"]) if k == 0 else "",
                              name, *cells, rates, end_section=k == len(names) - 1)
    err.print(table)


def print_half_step(half: dict) -> None:
    """The half-step test (:func:`innterpol_cli.evaluation.halfstep.half_step_positions`) of innterpol and gbm."""
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


def print_synth(result: dict) -> None:
    """The spectra's differences (:func:`innterpol_cli.evaluation.spectra.synth_compare`), and the failed syntheses."""
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
