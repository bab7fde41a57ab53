"""The shipped weights travel inside the wheel and are found through importlib.resources."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ("atlas9-ck04.npz", "marcs-sdss.npz")


def test_wheel_contains_the_weights(tmp_path):
    for name in SHIPPED:
        assert (REPO / "weights" / name).is_file(), f"weights/{name} is not in the repository"
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    wheel = next(tmp_path.glob("innterpol-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in SHIPPED:
        assert f"innterpol_cli/weights/{name}" in names
    assert "formats/atlas9.py" in names
    assert "innterpol_cli/commands/predict.py" in names


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_load_without_pickle_and_are_small(name):
    from importlib.resources import files

    from innterpol_cli.weightsfile import load

    path = Path(str(files("innterpol_cli.weights").joinpath(name)))
    assert path.stat().st_size < 5_000_000
    weights = load(path)  # numpy.load(allow_pickle=False) inside
    assert weights.meta["provenance"]["test_metrics"]["channels"]
    assert weights.meta["provenance"]["command"].startswith("innterpol train")
