"""``innterpol predict`` end to end: single models, CSV batches, pipelines, the coverage guard, bad input.

These run on the shipped weights (grid names ``atlas9`` and ``marcs``) and skip while a
weights file is absent.  ``INNTERPOL_TEST_ATLAS9`` / ``INNTERPOL_TEST_MARCS`` may point at
other weights files of the same layout (for testing weights before they are shipped).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import formats
from innterpol_cli.interpolate import NEAR, OUTSIDE, load

from conftest import run_cli, shipped_grid

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def atlas9() -> str:
    return shipped_grid("atlas9")


@pytest.fixture(scope="module")
def marcs() -> str:
    return shipped_grid("marcs")


run = run_cli  # the CLI in-process: (exit code, stdout, stderr)


def _inside(grid: str, count: int, seed: int = 0) -> np.ndarray:
    """Parameter rows strictly inside populated cells of the grid."""
    interp = load(grid)
    rng = np.random.default_rng(seed)
    picks = interp.nodes[rng.choice(len(interp.nodes), 40 * count + 100)]
    steps = np.array([np.min(np.diff(v)) if len(v) > 1 else 0.0 for v in interp.axis_values])
    candidates = picks + rng.uniform(0.0, 0.9, picks.shape) * steps
    rows = candidates[interp.cells.stencils(candidates).found][:count]
    assert len(rows) == count
    return rows


def _csv(rows, axes, names=None) -> str:
    header = ",".join((["name"] if names else []) + list(axes))
    lines = [header] + [
        ",".join(([names[i]] if names else []) + [f"{v:.6g}" for v in row]) for i, row in enumerate(rows)
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ single models

def test_single_model_file_header(atlas9, tmp_path, capsys, monkeypatch):
    target = tmp_path / "sun.dat"
    code, out, err = run(["predict", "--grid", atlas9, "--teff", 5777, "--logg", 4.44, "-o", target], capsys, monkeypatch)
    assert code == 0, err
    assert out == ""
    text = target.read_text()
    assert text.startswith("TEFF   5777.  GRAVITY 4.44000")
    assert "innterpol" in text.splitlines()[1]
    from innterpol_cli import __version__

    assert __version__ in text
    [model] = formats.read(target)
    assert model.teff == 5777 and abs(model.logg - 4.44) < 1e-6


def test_marcs_native_format(marcs, tmp_path, capsys, monkeypatch):
    target = tmp_path / "sun.mod"
    code, out, err = run(["predict", "--grid", marcs, "--teff", 5777, "--logg", 4.44, "-o", target], capsys, monkeypatch)
    assert code == 0, err
    assert formats.identify(target) == "marcs"
    [model] = formats.read(target)
    assert abs(model.teff - 5777) < 1 and "innterpol" in target.read_text()[:400]


def test_marcs_from_atlas9_fails_clearly(atlas9, tmp_path, capsys, monkeypatch):
    target = tmp_path / "sun.mod"
    code, out, err = run(["predict", "--grid", atlas9, "--teff", 5777, "--logg", 4.44, "-o", target, "--format", "marcs"],
                         capsys, monkeypatch)
    assert code == 1 and "lgTau5" in err and [line for line in err.splitlines() if line.startswith("error:")] == err.splitlines()[-1:]
    assert not target.exists()


def test_fits_inferred_from_suffix(atlas9, tmp_path, capsys, monkeypatch):
    target = tmp_path / "sun.fits"
    code, _, err = run(["predict", "--grid", atlas9, "--teff", 5777, "--logg", 4.44, "-o", target], capsys, monkeypatch)
    assert code == 0, err
    assert formats.identify(target) == "fits"


def test_node_is_returned(atlas9, shared):
    """At a training node the prediction gives back the grid model (ATLAS9 Sun-like node)."""
    grid_models = formats.read(shared / "grids" / "atlas9-ck04" / "ap00k2odfnew.dat")
    [node] = [m for m in grid_models if m.teff == 5750 and abs(m.logg - 4.5) < 1e-6]
    interp = load(atlas9)
    predicted = interp.predict_arrays(teff=5750, logg=4.5, mh=0.0, am=0.0, extrapolate=True)
    log_tau = predicted["log_tau_ross"][0]
    grid_t = np.interp(log_tau, node.layers["log_tau_ross"], node.layers["temperature"])
    within = (log_tau >= node.layers["log_tau_ross"].min()) & (log_tau <= node.layers["log_tau_ross"].max())
    relative = np.abs(predicted["temperature"][0][within] / grid_t[within] - 1)
    assert relative.max() < 0.01, relative.max()


# ------------------------------------------------------------------------------ batches

def test_csv_to_directory_and_fits(atlas9, tmp_path, capsys, monkeypatch):
    interp = load(atlas9)
    rows = _inside(atlas9, 1000)
    names = [f"star{i:04d}" for i in range(1000)]
    (tmp_path / "stars.csv").write_text(_csv(rows, interp.axes, names))
    code, out, err = run(["predict", "--grid", atlas9, "--params", tmp_path / "stars.csv", "-o", f"{tmp_path}/models/"],
                         capsys, monkeypatch)
    assert code == 0, err
    assert out == ""
    files = sorted((tmp_path / "models").iterdir())
    assert len(files) == 1000 and files[0].name == "star0000.dat"
    [first] = formats.read(files[0])
    assert abs(first.teff - float(f"{rows[0, 0]:.6g}")) <= 0.5  # an ATLAS9 header prints Teff to 1 K

    code, _, err = run(["predict", "--grid", atlas9, "--params", tmp_path / "stars.csv", "-o", tmp_path / "all.fits"],
                       capsys, monkeypatch)
    assert code == 0, err
    table = formats.read(tmp_path / "all.fits")
    assert len(table) == 1000
    np.testing.assert_allclose([m.teff for m in table], [float(f"{t:.6g}") for t in rows[:, 0]])  # input order


def test_names_from_parameters_and_force(atlas9, tmp_path, capsys, monkeypatch):
    interp = load(atlas9)
    csv = _csv(_inside(atlas9, 3, seed=1), interp.axes)
    args = ["predict", "--grid", atlas9, "--params", "-", "-o", f"{tmp_path}/out/"]
    code, _, err = run(args, capsys, monkeypatch, stdin=csv)
    assert code == 0, err
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(files) == 3 and all(f.startswith("t") and f.endswith(".dat") for f in files)
    stamp = {f: (tmp_path / "out" / f).stat().st_mtime_ns for f in files}
    code, _, err = run(args, capsys, monkeypatch, stdin=csv)  # every target exists: refused
    assert code == 1 and "exists" in err and "--force" in err
    assert stamp == {f: (tmp_path / "out" / f).stat().st_mtime_ns for f in files}
    code, _, err = run(args + ["--force"], capsys, monkeypatch, stdin=csv)
    assert code == 0, err


def test_bad_row_writes_nothing_then_skip_invalid(atlas9, tmp_path, capsys, monkeypatch):
    interp = load(atlas9)
    rows = np.repeat(_inside(atlas9, 1, seed=2), 9000, axis=0)
    lines = _csv(rows, interp.axes).splitlines()
    lines[9000] = lines[9000].replace(lines[9000].split(",")[1], "abc", 1)  # row 9000, column logg
    (tmp_path / "stars.csv").write_text("\n".join(lines) + "\n")
    code, _, err = run(["predict", "--grid", atlas9, "--params", tmp_path / "stars.csv", "-o", f"{tmp_path}/out/"],
                       capsys, monkeypatch)
    assert code == 1
    assert err.strip() == f"error: {tmp_path / 'stars.csv'}, row 9000, column logg: 'abc' is not a number"
    assert not (tmp_path / "out").exists()

    few = "teff,logg\n" + f"{rows[0, 0]},{rows[0, 1]}\n" + "-5,4\n" + "5000,\n"
    code, _, err = run(["predict", "--grid", atlas9, "--params", "-", "-o", f"{tmp_path}/few/", "--skip-invalid"],
                       capsys, monkeypatch, stdin=few)
    assert code == 0, err
    assert len(list((tmp_path / "few").iterdir())) == 1
    assert "row 2" in err and "row 3" in err and "2 bad rows skipped" in err


# ------------------------------------------------------------------------------ pipelines

def test_stdout_single_and_many(atlas9, tmp_path, capsys, monkeypatch):
    code, out, err = run(["predict", "--grid", atlas9, "--teff", 5777, "--logg", 4.44, "-o", "-"], capsys, monkeypatch)
    assert code == 0 and out.startswith("TEFF") and out.count("TEFF ") == 1
    assert "TEFF" not in err
    interp = load(atlas9)
    csv = _csv(_inside(atlas9, 5, seed=3), interp.axes)
    code, out, err = run(["predict", "--grid", atlas9, "--params", "-", "-o", "-"], capsys, monkeypatch, stdin=csv)
    assert code == 0 and out.count("TEFF ") == 5
    (tmp_path / "deck.dat").write_text(out)
    assert len(formats.read(tmp_path / "deck.dat")) == 5
    code, out, err = run(["predict", "--grid", atlas9, "--params", "-", "-o", "-", "--format", "marcs"], capsys, monkeypatch,
                         stdin=csv)
    assert code == 1 and out == "" and "directory" in err


def test_stdout_fits_pipeline_subprocess(atlas9, tmp_path):
    """A real pipe: FITS bytes on stdout, messages on stderr."""
    interp = load(atlas9)
    csv = _csv(_inside(atlas9, 4, seed=4), interp.axes)
    result = subprocess.run([sys.executable, "-c", "from innterpol_cli.cli import main; main()", "predict", "--grid", atlas9,
                             "--params", "-", "-o", "-", "--format", "fits"], input=csv.encode(), capture_output=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"SIMPLE  =")
    assert b"wrote 4 models" in result.stderr
    (tmp_path / "p.fits").write_bytes(result.stdout)
    assert len(formats.read(tmp_path / "p.fits")) == 4


# ------------------------------------------------------------------------------ coverage guard

def test_coverage_guard(atlas9, tmp_path, capsys, monkeypatch):
    """Inside and near the populated grid the guard speaks through the uncertainty: silent below
    --max-sigma, a warning with the number, the depths and the reason above it."""
    interp = load(atlas9)
    inside = _inside(atlas9, 1, seed=5)[0]
    args = sum(([f"--{k}", v] for k, v in zip(interp.axes, inside)), [])
    code, _, err = run(["predict", "--grid", atlas9, *args, "-o", tmp_path / "in.dat", "--max-sigma", "50"], capsys, monkeypatch)
    assert code == 0 and "warning" not in err
    assert "innterpol" in (tmp_path / "in.dat").read_text().splitlines()[1]
    code, _, err = run(["predict", "--grid", atlas9, *args, "-o", tmp_path / "in2.dat", "--max-sigma", "1e-4"], capsys, monkeypatch)
    assert code == 0 and "warning" in err and "sigma(T) up to" in err and "log tau" in err

    hi = interp.nodes[:, 0].max()
    top = interp.nodes[interp.nodes[:, 0] == hi][0]
    steps = np.array([np.diff(v).max() if len(v) > 1 else 0.0 for v in interp.axis_values])
    near = top.copy()
    near[0] = hi + 0.5 * (steps[0] if interp.axes[0] != "teff" else np.diff(interp.axis_values[0])[-1])
    assert interp.coverage(near).status[0] == NEAR
    params = sum(([f"--{k}", v] for k, v in zip(interp.axes, near)), [])
    code, _, err = run(["predict", "--grid", atlas9, *params, "-o", tmp_path / "near.dat", "--max-sigma", "1e-4"],
                       capsys, monkeypatch)
    assert "warning" in err and "sigma(T) up to" in err and "hot" in err and "few nodes nearby" in err
    _written_or_refused_by_the_check(code, err, tmp_path / "near.dat")

    far = top.copy()
    far[0] = hi * 3
    assert interp.coverage(far).status[0] == OUTSIDE
    params = sum(([f"--{k}", v] for k, v in zip(interp.axes, far)), [])
    code, out, err = run(["predict", "--grid", atlas9, *params, "-o", tmp_path / "far.dat"], capsys, monkeypatch)
    assert code == 1 and "nearest populated node" in err and f"Teff={hi:g}" in err
    assert not (tmp_path / "far.dat").exists()
    code, out, err = run(["predict", "--grid", atlas9, *params, "-o", tmp_path / "far.dat", "--extrapolate"], capsys, monkeypatch)
    if _written_or_refused_by_the_check(code, err, tmp_path / "far.dat"):
        assert "extrapolated" in (tmp_path / "far.dat").read_text().splitlines()[1].lower()


def _written_or_refused_by_the_check(code, err, target) -> bool:
    """Beyond the grid a prediction is written only if it passes the physical-consistency check
    (tests/test_written_files.py); otherwise one error line names the test and nothing is written."""
    if code == 0:
        assert target.exists()
        return True
    assert code == 1 and "fails the physical-consistency check" in err.strip().splitlines()[-1]
    assert not target.exists()
    return False


# ------------------------------------------------------------------------------ bad input

BAD = {
    "non-numeric": (["--teff", "abc", "--logg", "4.4"], "'abc' is not a number"),
    "nan": (["--teff", "nan", "--logg", "4.4"], "not finite"),
    "inf": (["--teff", "5000", "--logg", "inf"], "not finite"),
    "teff<=0": (["--teff", "0", "--logg", "4.4"], "Teff must be positive"),
    "negative teff": (["--teff", "-10", "--logg", "4.4"], "Teff must be positive"),
    "missing logg": (["--teff", "5000"], "--logg"),
    "axis the grid lacks": (["--teff", "5000", "--logg", "4.4", "--cm", "0.3"], "no [C/M] axis"),
    "unknown grid": (["--grid", "nosuchgrid", "--teff", "5000", "--logg", "4.4"], "unknown grid 'nosuchgrid'"),
    "phoenix": (["--grid", "phoenix", "--teff", "5000", "--logg", "4.4"], "no PHOENIX weights"),
    "missing weights file": (["--grid", "missing.npz", "--teff", "5000", "--logg", "4.4"], "unknown grid"),
    "unknown format": (["--teff", "5000", "--logg", "4.4", "--format", "xyz"], "unknown format 'xyz'"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_single_input(case, atlas9, tmp_path, capsys, monkeypatch):
    args, message = BAD[case]
    if "--grid" not in args:
        args = ["--grid", atlas9, *args]
    target = tmp_path / "x.dat"
    code, out, err = run(["predict", *args, "-o", target], capsys, monkeypatch)
    assert code == 1, err
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error:") and message in err
    assert not target.exists() and list(tmp_path.iterdir()) == []


BAD_CSV = {
    "missing column": ("teff,mh\n5000,0\n", "missing column logg"),
    "bad row": ("teff,logg\n5000,4.5\n5000,4.5,1\n", "row 2: 3 fields"),
    "empty cell": ("teff,logg\n5000,\n", "row 1, column logg: empty"),
    "non-finite cell": ("teff,logg\n5000,nan\n", "row 1, column logg: 'nan' is not finite"),
    "teff<=0 cell": ("teff,logg\n0,4\n", "row 1, column teff: Teff must be positive"),
    "no rows": ("teff,logg\n", "no data rows"),
    "bad name": ("name,teff,logg\n../x,5000,4\n", "not a plain file name"),
    "duplicate name": ("name,teff,logg\na,5000,4\na,5100,4\n", "rows 1 and 2: both are named 'a.dat'"),
}


@pytest.mark.parametrize("case", list(BAD_CSV), ids=list(BAD_CSV))
def test_bad_csv(case, atlas9, tmp_path, capsys, monkeypatch):
    text, message = BAD_CSV[case]
    code, out, err = run(["predict", "--grid", atlas9, "--params", "-", "-o", f"{tmp_path}/out/"], capsys, monkeypatch, stdin=text)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_existing_file_and_unwritable_path(atlas9, tmp_path, capsys, monkeypatch):
    target = tmp_path / "x.dat"
    target.write_text("keep")
    code, _, err = run(["predict", "--grid", atlas9, "--teff", 5777, "--logg", 4.44, "-o", target], capsys, monkeypatch)
    assert code == 1 and "exists" in err and "--force" in err and target.read_text() == "keep"
    code, _, err = run(["predict", "--grid", atlas9, "--teff", 5777, "--logg", 4.44, "-o", target, "--force"], capsys, monkeypatch)
    assert code == 0 and target.read_text().startswith("TEFF")
    code, _, err = run(["predict", "--grid", atlas9, "--teff", 5777, "--logg", 4.44, "-o", tmp_path / "no" / "x.dat"],
                       capsys, monkeypatch)
    assert code == 1 and "does not exist" in err and len(err.strip().splitlines()) == 1
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        code, _, err = run(["predict", "--grid", atlas9, "--teff", 5777, "--logg", 4.44, "-o", locked / "x.dat"], capsys, monkeypatch)
        assert code == 1 and "not writable" in err
    finally:
        locked.chmod(0o700)


# ------------------------------------------------------------------------------ light imports

HEAVY = ("torch", "pandas", "astropy")
PROBE = """
import sys
from innterpol_cli.cli import main
sys.argv = ["innterpol", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
sys.stderr.write("\\nMODULES " + " ".join(m for m in {heavy!r} if m in sys.modules) + "\\n")
"""


@pytest.mark.parametrize("args", [["--help"], ["predict", "--teff", "5777", "--logg", "4.44", "-o", "{out}"]], ids=["help", "predict"])
def test_no_heavy_imports(args, atlas9, tmp_path):
    args = [a.replace("{out}", str(tmp_path / "sun.dat")) for a in args]
    if args[0] == "predict":
        args[1:1] = ["--grid", atlas9]
    result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], capture_output=True, text=True)
    line = [text for text in result.stderr.splitlines() if text.startswith("MODULES")][-1]
    assert line.split()[1:] == [], f"imported: {line}"
    if args[0] == "predict":
        assert (tmp_path / "sun.dat").exists(), result.stderr


def test_predict_runs_without_typer(atlas9, tmp_path):
    """The everyday command (prediction.run_fast) never imports Typer; --help still does."""
    out = tmp_path / "sun.dat"
    probe = PROBE.replace("{heavy!r}", "('typer',)")
    result = subprocess.run([sys.executable, "-c", probe, "predict", "--grid", atlas9, "--teff", "5777", "--logg", "4.44",
                             "-o", str(out)], capture_output=True, text=True)
    line = [text for text in result.stderr.splitlines() if text.startswith("MODULES")][-1]
    assert line.split()[1:] == [] and out.exists(), result.stderr
    result = subprocess.run([sys.executable, "-c", probe, "predict", "--help"], capture_output=True, text=True)
    assert "--max-sigma" in result.stdout
    assert [text for text in result.stderr.splitlines() if text.startswith("MODULES")][-1].split()[1:] == ["typer"]


def test_typer_command_declares_the_option_table():
    """commands/predict.py's Typer options are prediction.OPTIONS, in order, flags, defaults and help."""
    import inspect

    from innterpol_cli.commands.predict import predict
    from innterpol_cli.prediction import OPTIONS

    declared = inspect.signature(predict).parameters
    assert list(declared) == [o.name for o in OPTIONS]
    for option in OPTIONS:
        typer_option = declared[option.name].default
        assert tuple(typer_option.param_decls) == option.decls
        assert typer_option.default == option.default and typer_option.help == option.help
