import os
from pathlib import Path

# The suite runs in two processes (pytest-xdist, ``-n 2`` in pyproject.toml) on 2-core machines:
# BLAS threads on top of them make innterpol's small products up to 60x slower.  Set before
# numpy is imported by any test module (subprocesses inherit it).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def _shared_dir() -> Path | None:
    env = os.environ.get("INNTERPOL_SHARED")
    candidate = Path(env) if env else REPO.parent / "shared"
    return candidate if (candidate / "grids").is_dir() else None


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared data directory ($INNTERPOL_SHARED, else ../shared beside the repo).  Absent, the
    tests that need it skip, except under CI=true, where CI always has it: there it is a failure."""
    path = _shared_dir()
    if path is None:
        message = "shared data not found: set INNTERPOL_SHARED or put it at ../shared next to the repo"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: the shared data must be there)")
        pytest.skip(message)
    return path


def deck_count(path: Path) -> int:
    """Models in an ATLAS9 file, counted from its text (one ``TEFF`` card per deck), so tests
    follow the shared grid as it grows instead of pinning a number."""
    with open(path, encoding="ascii", errors="replace") as handle:
        return sum(1 for line in handle if line.startswith("TEFF"))


def run_cli(args, capsys, monkeypatch, stdin: str | None = None):
    """The CLI in-process, as the user runs it: (exit code, stdout, stderr)."""
    import io
    import sys

    from innterpol_cli.cli import main

    monkeypatch.setattr(sys, "argv", ["innterpol", *map(str, args)])
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="session")
def ck04_deck(shared):
    """The CK04 model at 5750 K / log g 4.5 / [M/H] 0 (ap00k2odfnew.dat)."""
    import formats

    models = formats.read(shared / "grids" / "atlas9-ck04" / "ap00k2odfnew.dat")
    return next(m for m in models if (m.teff, m.logg) == (5750.0, 4.5))


@pytest.fixture(scope="session")
def marcs_sun(shared):
    """The solar MARCS model of the samples (sun.mod)."""
    import formats

    return formats.read(shared / "samples" / "marcs" / "sun.mod")[0]


def shipped_grid(name: str) -> str:
    """The grid to test predictions with: ``$INNTERPOL_TEST_<NAME>`` (a weights file), else the
    shipped weights of that name."""
    override = os.environ.get(f"INNTERPOL_TEST_{name.upper()}")
    if override:
        return override
    from innterpol_cli.interpolate import resolve

    resolve(name)  # the weights ship with the package: a failure here is a bug, never a skip
    return name
