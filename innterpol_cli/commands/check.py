"""``innterpol check FILE...``: the physical-consistency check of atmosphere files, in any format."""

from __future__ import annotations

import typer

from ..app import app


@app.command()
def check(
    files: list[str] = typer.Argument(..., metavar="FILE...", help="Model files in any format innterpol reads ('-' for stdin)."),
    from_format: str | None = typer.Option(None, "--from", help="Input format, when detection is not wanted."),
) -> None:
    """Check every model of every FILE for physical consistency.

    Tests: finite values; tau, RHOX and depth increasing; positive T, P, Ne/Pe, kappa, rho;
    hydrostatic equilibrium (P_gas + P_rad = g RHOX) and smoothness, both to the level the real
    grid models reach; Pe = Ne k T where both are given; values that fit the format's fixed-width
    fields. Prints one line per failing model (file, model, test, depth, value), then how many
    models passed each test; exits 1 if any model fails. Limits: docs/formats.md.

    Examples: innterpol check model.dat; innterpol check grids/*.mod.gz
    """
    import formats

    from .. import check as consistency

    reports, where = [], []
    for path in files:
        fmt = from_format.lower() if from_format else None
        if str(path) != "-" and fmt is None:
            fmt = formats.identify(path)
        models = formats.read(path, fmt)
        name = "<stdin>" if path == "-" else path
        if fmt is None and models:
            fmt = _format_of(models[0])
        for report in consistency.check(models, fmt):
            reports.append(report)
            where.append(name if len(models) == 1 else f"{name}: model {report.index + 1}")
    for report, place in zip(reports, where):
        if not report.ok:
            typer.echo(f"{place} ({report.atmosphere.describe()}): {report.describe()}")
    typer.echo(_summary_table(consistency.summary(reports), consistency.TESTS))
    passed = sum(r.ok for r in reports)
    typer.echo(f"{passed} of {len(reports)} models pass every test" if len(reports) != 1 else
               f"{passed} of 1 model passes every test")
    if passed < len(reports):
        raise typer.Exit(1)


def _format_of(atm) -> str | None:
    """The format a model from stdin came in, from what its reader kept (for the ``fields`` test)."""
    extra = atm.extra
    if "atlas9_columns" in extra:
        return "atlas9"
    if "marcs_name" in extra:
        return "marcs"
    if "moog_title" in extra:
        return "moog"
    return None


def _summary_table(summary: dict, tests: dict) -> str:
    rows = [("test", "passed", "failed", "n/a", "what it checks")]
    rows += [(test, str(p), str(f), str(n), tests[test]) for test, (p, f, n) in summary.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:4], widths[1:])]
        lines.append("  ".join(cells + [row[4]]))
    return "\n".join(lines)
