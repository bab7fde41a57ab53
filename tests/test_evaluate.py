"""``innterpol evaluate`` end to end on a tiny ATLAS9 training, and its bad inputs.

The weights are trained here, in seconds, on the solar-metallicity ATLAS9 file, so the test
does not depend on the shipped weights.  Error paths run through a subprocess, as the user
runs them (main() turns library errors into one ``error:`` line and exit 1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import formats

REPO = Path(__file__).resolve().parent.parent
ENTRY = "from innterpol_cli.cli import main; main()"
GRID_FILE = "grids/atlas9-ck04/ap00k2odfnew.dat"


def innterpol(*args, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", ENTRY, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=180)


@pytest.fixture(scope="module")
def tiny(shared, tmp_path_factory):
    """(weights path, grid file): a few epochs of a small network on one ATLAS9 file."""
    work = tmp_path_factory.mktemp("evaluate")
    weights = work / "tiny.npz"
    grid_file = shared / GRID_FILE
    result = innterpol("train", "--grid", "atlas9-tiny", grid_file, "-o", weights, "--epochs", "3", "--cae-epochs", "3",
                       "--net-epochs", "3", "--structure-epochs", "3", "--width", "32", "--latent", "8", "--layers", "2",
                       "--threads", "1", cwd=work)
    assert result.returncode == 0, result.stderr
    return weights, grid_file


def test_end_to_end_json_table_and_plots(tiny, tmp_path):
    weights, grid_file = tiny
    result = innterpol("evaluate", "--grid", weights, "--grid-files", grid_file, "--max-models", 20,
                       "--json", tmp_path / "eval.json", "--plots", tmp_path / "plots", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # the table is a message: stderr
    assert "median" in result.stderr and "linear" in result.stderr
    doc = json.loads((tmp_path / "eval.json").read_text())
    assert doc["truth"] == "test split"
    assert doc["n_evaluated"] == 20 and len(doc["models"]) == 20
    assert doc["methods"] == ["innterpol", "network", "linear"]
    temperature = doc["channels"]["temperature"]
    assert temperature["unit"] == "%"
    for method in doc["methods"]:
        stats = temperature[method]
        assert 0 <= stats["median"] <= stats["p95"] <= stats["max"]
        assert stats["rms"] <= stats["max"]
    # Linear interpolation of solar ATLAS9 temperatures across one 250 K gap is good to a few percent.
    assert temperature["linear"]["median"] < 2.0
    pngs = sorted((tmp_path / "plots").glob("*.png"))
    assert len(pngs) == 9  # one per ATLAS9 channel, and the uncertainty's reliability
    assert (tmp_path / "plots" / "atlas9-tiny-reliability.png") in pngs
    calibration = doc["by_axis"]["axes"]["teff"]["calibration"]["temperature"]
    assert 0 <= calibration["within_1"] <= calibration["within_2"] <= 1
    # The uncertainty by position: per cell fraction and stencil kind, in the JSON and in a table.
    position = doc["by_position"]["teff"]
    assert {"t in [0.25, 0.5]", "cubic stencil", "linear stencil"} <= set(position)
    both = position["cubic stencil"]["n"] + position["linear stencil"]["n"]
    assert both == sum(row["n"] for label, row in position.items() if label.startswith("t in"))
    assert 0 <= position["cubic stencil"]["guard"]["false_alarm"] <= 1
    flat = " ".join(result.stderr.split())  # Rich wraps the title and the cells at 80 columns
    assert "uncertainty by position" in flat and "cubic" in flat
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert not list(tmp_path.glob(".eval.json.*"))


def test_json_to_stdout_is_the_only_stdout(tiny, tmp_path):
    weights, grid_file = tiny
    result = innterpol("evaluate", "--grid", weights, "--grid-files", grid_file, "--max-models", 5, "--json", "-",
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["n_evaluated"] == 5


def _grid_models(grid_file):
    return formats.read(grid_file, "atlas9")


def test_truth_files_of_the_test_split_match_the_recorded_split(tiny, tmp_path):
    """--truth with the held-out models themselves: the linear baseline loses them from its reference,
    so it scores exactly as the recorded test split does."""
    from innterpol_cli.evaluation.run import evaluate
    from innterpol_cli.evaluation.truth import test_split, with_truth
    from innterpol_cli.grid import ATLAS9, build_grid
    from innterpol_cli.interpolate import load

    weights, grid_file = tiny
    interp = load(str(weights))
    models = _grid_models(grid_file)
    grid = build_grid(models, ATLAS9)
    recorded = evaluate(interp, test_split(interp, grid), ["innterpol", "linear"])
    tests = {tuple(np.round(p, 4)) for p in interp.meta["provenance"]["test_nodes"]}
    truth = [m for m in models if tuple(round(float(getattr(m, a)), 4) for a in ATLAS9.axes) in tests]
    setup = with_truth(interp, grid, truth, "atlas9")
    assert len(setup.ref_idx) == len(grid.params) - len(tests)
    again = evaluate(interp, setup, ["innterpol", "linear"])
    assert again.summary["channels"]["temperature"]["linear"] == pytest.approx(recorded.summary["channels"]["temperature"]["linear"])
    assert not [n for n in setup.notes if "recall" in n]


def test_truth_from_another_grid_family_is_a_clear_error(tiny, shared, tmp_path):
    weights, grid_file = tiny
    result = innterpol("evaluate", "--grid", weights, "--grid-files", grid_file,
                       "--truth", shared / "samples/marcs/sun.mod", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error:") and "marcs" in lines[-1] and "atlas9" in lines[-1]


def test_truth_outside_the_coverage_is_a_clear_error(tiny, tmp_path):
    weights, grid_file = tiny
    far = _grid_models(grid_file)[0]
    far.teff = 90000.0  # beyond the grid's hottest model by far
    formats.write([far], tmp_path / "far.dat", "atlas9")
    result = innterpol("evaluate", "--grid", weights, "--grid-files", grid_file, "--truth", tmp_path / "far.dat",
                       "--json", tmp_path / "out.json", cwd=tmp_path)
    assert result.returncode == 1
    assert "outside the coverage" in result.stderr and "Teff=90000" in result.stderr
    assert not (tmp_path / "out.json").exists()


def test_unknown_method_and_pca_without_weights(tiny, tmp_path):
    weights, grid_file = tiny
    result = innterpol("evaluate", "--grid", weights, "--grid-files", grid_file, "--methods", "innterpol,spline",
                       cwd=tmp_path)
    assert result.returncode == 1 and "unknown method(s) spline" in result.stderr
    result = innterpol("evaluate", "--grid", weights, "--grid-files", grid_file, "--methods", "pca", cwd=tmp_path)
    assert result.returncode == 1 and "--pca-weights" in result.stderr


@pytest.mark.parametrize("module, call", [("sklearn", "gbm"), ("pysme", "synth")])
def test_missing_optional_extra_names_what_to_install(monkeypatch, module, call):
    import importlib.util

    from innterpol_cli.evaluation.errors import EvaluateError
    from innterpol_cli.evaluation.methods import parse_methods
    from innterpol_cli.evaluation.spectra import require_pysme

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a))
    with pytest.raises(EvaluateError, match="pip install"):
        if call == "gbm":
            parse_methods("innterpol,gbm", None)
        else:
            require_pysme()


def test_an_interrupted_json_write_leaves_nothing(tiny, tmp_path, monkeypatch):
    """Stopped while the JSON is being written: no file, no half-written file."""
    from typer.testing import CliRunner

    import innterpol_cli.commands  # noqa: F401  (registers the commands)
    from innterpol_cli.app import app

    weights, grid_file = tiny
    real_dump = json.dump

    def dump_then_stop(obj, handle, **kwargs):
        handle.write(json.dumps(obj, **kwargs)[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(json, "dump", dump_then_stop)
    target = tmp_path / "eval.json"
    result = CliRunner().invoke(app, ["evaluate", "--grid", str(weights), "--grid-files", str(grid_file),
                                      "--max-models", "3", "--json", str(target)])
    monkeypatch.setattr(json, "dump", real_dump)
    assert result.exit_code != 0
    assert "linear" in result.output  # the table was printed: it stopped at the JSON, not before
    assert not target.exists()
    assert not list(tmp_path.iterdir())


def test_synth_reports_flux_differences(tiny, shared, tmp_path):
    pytest.importorskip("pysme")
    weights, grid_file = tiny
    result = innterpol("evaluate", "--grid", weights, "--grid-files", grid_file, "--max-models", 1, "--synth",
                       "--jobs", 2, "--linelist", shared / "clients/atomic_lines_4995-5105.csv", "--json", "-",
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    synth = json.loads(result.stdout)["synth"]
    assert synth["failures"] == []
    pairs = {(c["method"], c["against"]): c for c in synth["comparisons"]}
    assert set(pairs) == {("innterpol", "rebuilt"), ("innterpol", "true"), ("linear", "rebuilt"), ("linear", "true"),
                          ("rebuilt", "true")}
    for c in pairs.values():
        assert c["n"] == 1
        assert 0 <= c["rms_delta_flux"]["max"] <= c["max_abs_delta_flux"]["max"] < 1
    # the held-out model is interpolated, not recalled from the residuals stored at its node
    assert pairs[("innterpol", "rebuilt")]["max_abs_delta_flux"]["max"] > 1e-5
    assert "max |dF|" in result.stderr


def test_synth_without_a_line_list_is_a_clear_error(tiny, tmp_path):
    weights, grid_file = tiny
    result = innterpol("evaluate", "--grid", weights, "--grid-files", grid_file, "--synth", "--linelist",
                       tmp_path / "none.csv", cwd=tmp_path)
    assert result.returncode == 1 and "none.csv: no such file" in result.stderr


def test_figure_names_are_distinct_for_every_channel():
    from innterpol_cli.evaluation.plots import channel_slug
    from innterpol_cli.grid import FAMILIES

    for family in FAMILIES.values():
        names = [channel_slug(ch.name) for ch in family.channels]
        assert len(set(names)) == len(names), family.name


def test_pca_baseline_from_a_second_weights_file(tiny, tmp_path):
    weights, grid_file = tiny
    pca = tmp_path / "pca.npz"
    trained = innterpol("train", "--grid", "atlas9-tiny-pca", grid_file, "-o", pca, "--method", "pca", "--epochs", "2",
                        "--net-epochs", "2", "--width", "32", "--latent", "8", "--layers", "2", "--threads", "1",
                        cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    result = innterpol("evaluate", "--grid", weights, "--grid-files", grid_file, "--pca-weights", pca,
                       "--max-models", 5, "--json", "-", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["methods"] == ["innterpol", "network", "linear", "pca"]
    assert doc["channels"]["temperature"]["pca"]["max"] > 0


def test_calibrate_only_adds_the_uncertainty_to_existing_weights(tiny, tmp_path):
    """train --calibrate-only refits the sigma arrays of a weights file from its grid files and
    its recorded validation nodes, and changes nothing else."""
    import numpy as np

    from innterpol_cli.weightsfile import load, save

    weights_path, grid_file = tiny
    weights = load(weights_path)
    weights.arrays = {k: v for k, v in weights.arrays.items() if not k.startswith("sigma/")}
    save(weights, tmp_path / "plain.npz")
    result = innterpol("train", "--calibrate-only", "--grid", "atlas9-tiny", grid_file, "-o", tmp_path / "plain.npz",
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "calibration of innterpol's 1-sigma" in result.stderr
    again = load(tmp_path / "plain.npz")
    assert "sigma/coef" in again.arrays and "--calibrate-only" in again.meta["uncertainty"]["command"]
    for key, value in weights.tensors.items():
        np.testing.assert_array_equal(again.tensors[key], value)
    np.testing.assert_array_equal(again.arrays["residual/q"], weights.arrays["residual/q"])
    other = innterpol("train", "--calibrate-only", "--grid", "atlas9-tiny", grid_file, "-o", tmp_path / "missing.npz",
                      cwd=tmp_path)
    assert other.returncode != 0 and len(other.stderr.strip().splitlines()) == 1 and "not found" in other.stderr
