"""The light install: predict, convert and check run without the extras (torch, matplotlib, PySME),
and a command that needs a missing extra names the one to install."""

import subprocess
import sys

import pytest

#: The CLI as `pip install .` leaves it: importing torch, matplotlib or PySME fails.
LIGHT = [sys.executable, "-c",
         "import sys\nfor name in ('torch', 'matplotlib', 'pysme', 'sklearn'):\n    sys.modules[name] = None\n"
         "from innterpol_cli.cli import main\nmain()"]


def _run(args, cwd):
    return subprocess.run([*LIGHT, *map(str, args)], capture_output=True, text=True, timeout=180, cwd=cwd)


def test_predict_convert_and_check_need_no_extra(tmp_path):
    predicted = _run(["predict", "--teff", 5777, "--logg", 4.44, "-o", "sun.dat"], tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    converted = _run(["convert", "sun.dat", "sun.fits"], tmp_path)
    assert converted.returncode == 0, converted.stderr
    checked = _run(["check", "sun.dat"], tmp_path)
    assert checked.returncode == 0, checked.stderr
    batch = _run(["predict", "--grid", "marcs", "--teff", 5000, "--logg", 2.0, "-o", "models/"], tmp_path)
    assert batch.returncode == 0, batch.stderr


def test_train_without_torch_names_the_extra(shared, tmp_path):
    result = _run(["train", "--grid", "t", "-o", tmp_path / "w.npz", shared / "grids" / "atlas9-ck04"], tmp_path)
    assert result.returncode == 1
    assert result.stderr == "error: this needs torch, which is not installed: pip install 'innterpol[train]'\n"
    assert not (tmp_path / "w.npz").exists()


@pytest.mark.parametrize("module, extra", [("torch", "train"), ("matplotlib.pyplot", "plots"), ("pysme.sme", "synth"),
                                           ("sklearn.ensemble", "eval")])
def test_missing_extra_message(module, extra):
    from innterpol_cli.cli import missing_extra

    message = missing_extra(ModuleNotFoundError(f"No module named {module!r}", name=module))
    assert message.endswith(f"pip install 'innterpol[{extra}]'")
    assert missing_extra(ModuleNotFoundError("No module named 'yaml'", name="yaml")) is None
