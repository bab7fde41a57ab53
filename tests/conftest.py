import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _shared_dir() -> Path | None:
    env = os.environ.get("INNTERPOL_SHARED")
    candidate = Path(env) if env else REPO.parent / "shared"
    return candidate if (candidate / "grids").is_dir() else None


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared data directory ($INNTERPOL_SHARED, else ../shared beside the repo)."""
    path = _shared_dir()
    if path is None:
        pytest.skip("shared data not found: set INNTERPOL_SHARED or put it at ../shared next to the repo")
    return path


def deck_count(path: Path) -> int:
    """Models in an ATLAS9 file, counted from its text (one ``TEFF`` card per deck), so tests
    follow the shared grid as it grows instead of pinning a number."""
    with open(path, encoding="ascii", errors="replace") as handle:
        return sum(1 for line in handle if line.startswith("TEFF"))
