"""Rich tables of accuracy summaries, on stderr (stdout stays data)."""

from __future__ import annotations

from ..metrics import STATISTICS


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
    """One table per axis of :func:`innterpol_cli.scoring.along_axes`."""
    from ..console import err

    for axis, part in result.get("axes", {}).items():
        if not part.get("n"):
            err.print(f"{title}, along {axis}: no held-out node has neighbours on both sides")
            continue
        table = _table(f"{title}, rebuilt along {axis}: {part['n']} held-out models (worst = median over models of each "
                       f"model's largest error over depth; green: better than linear)")
        _rows(table, part, channels)
        err.print(table)
