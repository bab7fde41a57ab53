"""``innterpol convert`` end to end, through a subprocess: exit code, stdout and stderr apart.

main() turns library errors into one ``error:`` line, so error paths are run as the user
runs them, not through CliRunner.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import formats

from conftest import deck_count

REPO = Path(__file__).resolve().parent.parent
ENTRY = "from innterpol_cli.cli import main; main()"


def innterpol(*args, cwd, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *map(str, args)], cwd=cwd, input=stdin, capture_output=True, env=env, timeout=120
    )


def stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.decode().splitlines() if line.strip()]


def assert_same_layers(a, b, rtol=0.0):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.parameters == y.parameters
        assert x.layers.keys() <= y.layers.keys() or y.layers.keys() <= x.layers.keys()
        for key in x.layers.keys() & y.layers.keys():
            np.testing.assert_allclose(y.layers[key], x.layers[key], rtol=rtol, atol=0, err_msg=key)


def test_atlas9_grid_file_to_fits_and_back(shared, tmp_path):
    source = shared / "grids" / "atlas9-ck04" / "ap05k2odfnew.dat"
    first = innterpol("convert", source, "grid.fits", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == b""
    assert f"wrote {deck_count(source)} models as fits" in first.stderr.decode()
    second = innterpol("convert", "grid.fits", "grid.dat", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert_same_layers(formats.read(source), formats.read(tmp_path / "grid.dat"))
    assert formats.identify(tmp_path / "grid.dat") == "atlas9"


def test_marcs_to_fits(shared, tmp_path):
    source = shared / "samples" / "marcs" / "marcs_test.mod.gz"
    result = innterpol("convert", source, "m.fits", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (original,), (back,) = formats.read(source), formats.read(tmp_path / "m.fits")
    assert_same_layers([original], [back])
    assert back.partial_pressures.keys() == original.partial_pressures.keys()
    from formats.fitstable import read_provenance

    provenance = read_provenance(tmp_path / "m.fits")
    assert provenance["gridname"] == "marcs_test" and provenance["command"] == "innterpol convert"


def test_atlas9_to_marcs_fails_naming_lgtau5(shared, tmp_path):
    result = innterpol("convert", shared / "samples" / "atlas9" / "ksun.mod", "sun.mod", "--to", "marcs", cwd=tmp_path)
    assert result.returncode == 1
    lines = stderr_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error:") and "lgTau5" in lines[0]
    assert "Traceback" not in result.stderr.decode()
    assert list(tmp_path.iterdir()) == []


def test_marcs_to_atlas9_derives_xne(shared, tmp_path):
    source = shared / "samples" / "marcs" / "sun.mod"
    result = innterpol("convert", source, "sun.dat", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "derived electron_density (Ne = Pe / kT)" in result.stderr.decode()
    (deck,), (original,) = formats.read(tmp_path / "sun.dat"), formats.read(source)
    ne = original.layers["electron_pressure"] / (1.380649e-16 * original.layers["temperature"])
    np.testing.assert_allclose(deck.layers["electron_density"], ne, rtol=5e-4)
    np.testing.assert_array_equal(deck.layers["temperature"], original.layers["temperature"])
    # Does it overwrite? Not without --force.
    again = innterpol("convert", source, "sun.dat", cwd=tmp_path)
    assert again.returncode == 1 and "--force" in again.stderr.decode()
    assert innterpol("convert", source, "sun.dat", "--force", cwd=tmp_path).returncode == 0


def test_stdin_to_stdout(shared, tmp_path):
    source = shared / "samples" / "marcs" / "sun.mod"
    to_fits = innterpol("convert", "-", "-", "--to", "fits", cwd=tmp_path, stdin=source.read_bytes())
    assert to_fits.returncode == 0, to_fits.stderr
    assert to_fits.stdout.startswith(b"SIMPLE  =")
    to_marcs = innterpol("convert", "-", "-", "--to", "marcs", cwd=tmp_path, stdin=to_fits.stdout)
    assert to_marcs.returncode == 0, to_marcs.stderr
    original = source.read_text().splitlines()
    assert [line.rstrip() for line in to_marcs.stdout.decode().splitlines()] == [line.rstrip() for line in original]
    assert list(tmp_path.iterdir()) == []


def test_directory_output_one_file_per_model(shared, tmp_path):
    models = formats.read(shared / "grids" / "atlas9-ck04" / "am40ak2odfnew.dat")[:3]
    formats.write(models, tmp_path / "three.dat", "atlas9")
    result = innterpol("convert", "three.dat", "decks/", "--to", "atlas9", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "decks").iterdir())
    assert names == sorted(formats.model_filenames(models, "atlas9"))
    assert names[0].startswith("t03500_g+0.00_z-4.00_a+0.40") and names[0].endswith(".dat")
    for name in names:
        assert len(formats.read(tmp_path / "decks" / name)) == 1
    # An existing directory also means one file per model; the format comes from --to.
    fits_dir = tmp_path / "tables"
    fits_dir.mkdir()
    assert innterpol("convert", "three.dat", fits_dir, "--to", "fits", cwd=tmp_path).returncode == 0
    assert len(list(fits_dir.glob("*.fits"))) == 3


def test_many_models_into_a_single_model_format_fails(shared, tmp_path):
    formats.write(formats.read(shared / "samples" / "marcs" / "sun.mod") * 2, tmp_path / "two.fits", "fits")
    result = innterpol("convert", "two.fits", "x.mod.gz", cwd=tmp_path)
    assert result.returncode == 1
    assert "directory" in stderr_lines(result)[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.fits"]


def test_directory_output_is_all_or_nothing(shared, tmp_path):
    """One model that cannot become MARCS (no lgTau5) stops the whole conversion before any file."""
    mixed = formats.read(shared / "samples" / "marcs" / "sun.mod") + formats.read(shared / "samples" / "atlas9" / "ksun.mod")
    formats.write(mixed, tmp_path / "mixed.fits", "fits")
    result = innterpol("convert", "mixed.fits", "out/", "--to", "marcs", cwd=tmp_path)
    assert result.returncode == 1 and "lgTau5" in result.stderr.decode()
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_output_format_must_be_known(shared, tmp_path):
    source = shared / "samples" / "marcs" / "sun.mod"
    ambiguous = innterpol("convert", source, "out.mod", cwd=tmp_path)
    assert ambiguous.returncode == 1 and "--to" in ambiguous.stderr.decode()
    unknown = innterpol("convert", source, "out.x", "--to", "kurucz", cwd=tmp_path)
    assert unknown.returncode == 1
    assert "atlas9, marcs, phoenix, fits" in unknown.stderr.decode()
    assert list(tmp_path.iterdir()) == []


# --- bad input: one 'error:' line naming the file (and the line), exit != 0, nothing written ---


def _atlas9_text(shared) -> str:
    return (shared / "samples" / "atlas9" / "t03500g5.0am05ak2odfnew.dat").read_text()


def _marcs_text(shared) -> str:
    return (shared / "samples" / "marcs" / "sun.mod").read_text()


def _truncate_deck(text):
    return "\n".join(text.splitlines()[:40]) + "\n"


def _wrong_deck_count(text):
    return text.replace("READ DECK6 72", "READ DECK6 73")


def _non_numeric_deck(text):
    lines = text.splitlines()
    lines[30] = lines[30].replace("E+0", "X+0", 1)
    return "\n".join(lines) + "\n"


def _truncate_marcs(text):
    return "\n".join(text.splitlines()[:100]) + "\n"


def _wrong_marcs_count(text):
    return text.replace("  56 Number of depth points", "  57 Number of depth points")


def _non_numeric_marcs(text):
    lines = text.splitlines()
    lines[40] = lines[40].replace("5", "x", 3)
    return "\n".join(lines) + "\n"


BAD_INPUTS = {
    # name: (source text, corruption, expected line number or None)
    "atlas9-truncated": ("atlas9", _truncate_deck, 40),
    "atlas9-wrong-depth-count": ("atlas9", _wrong_deck_count, 96),
    "atlas9-non-numeric": ("atlas9", _non_numeric_deck, 31),
    "marcs-truncated": ("marcs", _truncate_marcs, 100),
    "marcs-wrong-depth-count": ("marcs", _wrong_marcs_count, 82),
    "marcs-non-numeric": ("marcs", _non_numeric_marcs, 41),
    "empty": (None, lambda text: "", None),
    "unknown-format": (None, lambda text: "this is\nnot a model\n", 1),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_one_error_line(shared, tmp_path, case):
    kind, corrupt, line = BAD_INPUTS[case]
    text = {"atlas9": _atlas9_text, "marcs": _marcs_text, None: lambda s: ""}[kind](shared)
    bad = tmp_path / f"{case}.mod"
    bad.write_text(corrupt(text))
    result = innterpol("convert", bad.name, "out.fits", cwd=tmp_path)
    assert result.returncode != 0
    assert result.stdout == b""
    lines = stderr_lines(result)
    assert len(lines) == 1, result.stderr.decode()
    message = lines[0]
    assert message.startswith("error: ") and bad.name in message
    if line is not None:
        assert f"line {line}:" in message
    assert "Traceback" not in result.stderr.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == [bad.name], "output or temporary file left behind"


def test_debug_shows_the_traceback(tmp_path):
    (tmp_path / "empty.dat").write_text("")
    result = innterpol("--debug", "convert", "empty.dat", "out.fits", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr.decode() and "FormatError" in result.stderr.decode()


def test_missing_input_file(tmp_path):
    result = innterpol("convert", "nowhere.mod", "out.fits", cwd=tmp_path)
    assert result.returncode == 1
    assert stderr_lines(result) == ["error: nowhere.mod: no such file"]
