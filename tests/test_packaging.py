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
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist:") and any(heavy in line.lower() for heavy in ("torch", "matplotlib", "pysme")):
            assert "extra ==" in line, line  # only through an extra


def _pyproject() -> dict:
    import tomllib

    with open(REPO / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]


def _name(requirement: str) -> str:
    import re

    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def test_core_dependencies_are_light():
    """`pip install .` gives predict, convert, check and evaluate: no torch, no matplotlib, no PySME
    (threadpoolctl, pure Python and tiny, keeps BLAS on one thread for innterpol's small products)."""
    project = _pyproject()
    assert {_name(r) for r in project["dependencies"]} == {"numpy", "typer", "rich", "astropy", "pandas", "threadpoolctl"}
    extras = project["optional-dependencies"]
    assert extras["train"] == ["torch>=2.3,<2.14"]
    assert [_name(r) for r in extras["plots"]] == ["matplotlib"]
    assert [_name(r) for r in extras["synth"]] == ["pysme-astro"]


def test_the_test_extra_installs_everything():
    """The README's `pip install -e '.[test]'` must bring every extra the suite uses."""
    test = _pyproject()["optional-dependencies"]["test"]
    selfref = next(r for r in test if _name(r) == "innterpol")
    assert {"train", "plots", "synth", "eval"} <= set(selfref[selfref.index("[") + 1: selfref.index("]")].split(","))
    assert {"pytest", "ruff"} <= {_name(r) for r in test}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_load_without_pickle_and_are_small(name):
    from importlib.resources import files

    from innterpol_cli.weightsfile import load

    path = Path(str(files("innterpol_cli.weights").joinpath(name)))
    # ~8 MB of network (2 M float32 parameters) and ~8 MB of int16 residuals at every grid node:
    # still a fraction of the grids' 59 and 111 MB of text.
    assert path.stat().st_size < 20_000_000
    weights = load(path)  # numpy.load(allow_pickle=False) inside
    metrics = weights.meta["provenance"]["test_metrics"]
    assert metrics["axes"]["teff"]["channels"]["temperature"]["innterpol"]["worst"] > 0
    assert weights.meta["provenance"]["command"].startswith("innterpol train")
