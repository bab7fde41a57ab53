"""Batches are predicted, checked and written in chunks (issue 19): the output does not depend on
the chunk size, a failure in the last chunk writes nothing, and a killed run leaves the old output.

The chunk size (``innterpol_cli.batch.CHUNK``) is set to 7 rows here, so that a batch of 30 rows
spans five chunks, the last one short.
"""

from __future__ import annotations

import gzip
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import formats
from formats import fitstable
from innterpol_cli import batch, paramfile
from innterpol_cli.interpolate import load

from conftest import run_cli, shipped_grid

ROWS = 30
SMALL_CHUNK = 7
CLI = [sys.executable, "-c", "from innterpol_cli.cli import main; main()"]


@pytest.fixture(scope="module")
def atlas9() -> str:
    return shipped_grid("atlas9")


@pytest.fixture(scope="module")
def params(atlas9) -> np.ndarray:
    """ROWS parameter rows strictly inside populated cells of the ATLAS9 grid."""
    interp = load(atlas9)
    rng = np.random.default_rng(19)
    picks = interp.nodes[rng.choice(len(interp.nodes), 40 * ROWS)]
    steps = np.array([np.min(np.diff(v)) if len(v) > 1 else 0.0 for v in interp.axis_values])
    candidates = picks + rng.uniform(0.0, 0.9, picks.shape) * steps
    rows = candidates[interp.cells.stencils(candidates).found][:ROWS]
    assert len(rows) == ROWS
    return rows


def _csv(path: Path, rows, axes, names: bool = False) -> Path:
    header = (["name"] if names else []) + list(axes)
    lines = [",".join(header)]
    lines += [",".join(([f"star{i:02d}"] if names else []) + [f"{v:.6g}" for v in row]) for i, row in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _output(kind: str, tmp_path: Path) -> str:
    return {"directory": f"{tmp_path / 'models'}/", "named": f"{tmp_path / 'models'}/", "fits": str(tmp_path / "all.fits"),
            "fits.gz": str(tmp_path / "all.fits.gz"), "file": str(tmp_path / "all.dat"), "stdout": "-"}[kind]


def _written(kind: str, target: str, stdout: str):
    """What a run wrote: the files of a directory (name: bytes), one file's bytes, or stdout."""
    if kind == "stdout":
        return stdout
    path = Path(target.rstrip("/"))
    if path.is_dir():
        return {p.name: p.read_bytes() for p in sorted(path.iterdir())}
    return path.read_bytes()


KINDS = ["directory", "named", "fits", "fits.gz", "file", "stdout"]


def _one_row_at_a_time(monkeypatch, interp) -> None:
    """Predict each row on its own: the calibrated sigma of a model changes with the rows predicted
    with it (by about 1e-12, in the last digits of a FITS table's float64), and these tests compare
    how chunks are written, not that."""
    real = type(interp).atmospheres

    def atmospheres(self, params, *, status=None, warn=None, **options):
        return [m for i in range(len(params))
                for m in real(self, params[i: i + 1], status=None if status is None else status[i: i + 1], **options)]

    monkeypatch.setattr(type(interp), "atmospheres", atmospheres)


@pytest.mark.parametrize("kind", KINDS)
def test_chunked_output_equals_unchunked(kind, atlas9, params, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fitstable, "_date", lambda: "2024-01-01T00:00:00")  # the one card that changes by itself
    interp = load(atlas9)
    _one_row_at_a_time(monkeypatch, interp)
    csv = _csv(tmp_path / "stars.csv", params, interp.axes, names=kind in ("named", "fits"))
    results, messages = [], []
    for chunk in (SMALL_CHUNK, ROWS + 1):
        monkeypatch.setattr(batch, "CHUNK", chunk)
        run_dir = tmp_path / f"chunk{chunk}"
        run_dir.mkdir()
        target = _output(kind, run_dir)
        code, out, err = run_cli(["predict", "--grid", atlas9, "-p", csv, "-o", target], capsys, monkeypatch)
        assert code == 0, err
        results.append(_written(kind, target, out))
        messages.append(err.replace(str(run_dir), "RUN"))
        assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == []  # no part, lock or staging left
    assert results[0] == results[1]
    assert messages[0] == messages[1] and f"wrote {ROWS} models" in messages[0] and "uncertainty:" in messages[0]
    if kind in ("directory", "named"):
        assert len(results[0]) == ROWS
        if kind == "named":
            assert sorted(results[0]) == [f"star{i:02d}.dat" for i in range(ROWS)]
        else:  # named from the parameters, over the whole batch
            assert sorted(results[0]) == sorted(formats.model_filenames(interp.atmospheres(params), "atlas9"))
    elif kind.startswith("fits"):
        path = tmp_path / f"chunk{SMALL_CHUNK}" / ("all." + kind)
        models = formats.read(path)
        assert len(models) == ROWS
        np.testing.assert_allclose([m.teff for m in models], params[:, 0], rtol=1e-5)  # the CSV has 6 digits
        from astropy.io import fits

        with fits.open(path) as hdul:
            assert hdul[1].header["NMODELS"] == ROWS and len(hdul[1].data) == ROWS
            if kind == "fits":
                assert [n.strip() for n in hdul[1].data["NAME"]] == [f"star{i:02d}" for i in range(ROWS)]
    else:
        text = results[0] if kind == "stdout" else results[0].decode("ascii")
        assert text.count("TEFF ") == ROWS


def test_streamed_table_is_the_table_astropy_writes_of_all_models(ck04_deck, marcs_sun, tmp_path, monkeypatch):
    """Chunks of different layouts (depth counts, partial pressures, names in some only) give the
    bytes astropy writes for every model at once, gzipped or not."""
    import copy

    monkeypatch.setattr(fitstable, "_date", lambda: "2024-01-01T00:00:00")
    named = copy.deepcopy(ck04_deck)
    named.extra["name"] = "a name, wider than the others é"
    models = [ck04_deck, marcs_sun, named, marcs_sun, ck04_deck]
    reference = io.BytesIO()
    fitstable.build_hdulist(models, {"gridname": "mixed", "a_long_provenance_key": 1}).writeto(reference)
    for split in (1, 2, 3):
        spool = io.BytesIO()
        writer = fitstable.TableWriter(spool)
        for start in range(0, len(models), split):
            writer.add(models[start: start + split])
        out = io.BytesIO()
        writer.finish(out, {"gridname": "mixed", "a_long_provenance_key": 1})
        assert out.getvalue() == reference.getvalue(), split
    chunks = [models[:2], models[2:]]
    fitstable.write_chunks(chunks, tmp_path / "t.fits.gz", {"gridname": "mixed", "a_long_provenance_key": 1})
    assert (tmp_path / "t.fits.gz").read_bytes() == gzip.compress(reference.getvalue(), mtime=0)
    formats.write_chunks(chunks, tmp_path / "t.dat.gz", "atlas9")
    text = "".join(formats.get_format("atlas9").format_model(m) for m in models)
    assert (tmp_path / "t.dat.gz").read_bytes() == gzip.compress(text.encode("ascii"), mtime=0)


def _fail_row(monkeypatch, row: int) -> None:
    """Make the model of CSV row ``row`` fail the real physical-consistency check (a NaN temperature)."""
    from innterpol_cli import check

    real = check.require_valid

    def require_valid(models, fmt, labels, skip_invalid=False, written=None):
        labels = list(labels)
        for model, label in zip(models, labels):
            if f", row {row} (" in label:
                model.layers["temperature"][5] = np.nan
        return real(models, fmt, labels, skip_invalid, written)

    monkeypatch.setattr(check, "require_valid", require_valid)


OLD_FILES = {"star00.dat": b"old star00\n", "other.txt": b"not ours\n"}


@pytest.mark.parametrize("kind", ["directory", "named", "fits", "file", "stdout"])
def test_failure_in_the_last_chunk_writes_nothing(kind, atlas9, params, tmp_path, capsys, monkeypatch):
    interp = load(atlas9)
    csv = _csv(tmp_path.parent / f"{tmp_path.name}.csv", params, interp.axes, names=kind == "named")
    monkeypatch.setattr(batch, "CHUNK", SMALL_CHUNK)
    _fail_row(monkeypatch, ROWS)
    target = _output(kind, tmp_path)
    if kind in ("directory", "named"):
        (tmp_path / "models").mkdir()
        for name, data in OLD_FILES.items():
            (tmp_path / "models" / name).write_bytes(data)
    elif kind != "stdout":
        Path(target).write_bytes(b"the old file\n")
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    quiet = ["--max-sigma", "100"]  # no uncertainty warnings: the error is the one line on stderr
    code, out, err = run_cli(["predict", "--grid", atlas9, "-p", csv, "-o", target, "--force", *quiet], capsys, monkeypatch)
    assert code == 1 and out == ""
    assert f"row {ROWS} (" in err and "fails the physical-consistency check" in err and "finite" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # not a file more or less: no staging folder, part, spool or lock left

    # With --skip-invalid the other rows are written, and the bad one is named with its reason.
    code, out, err = run_cli(["predict", "--grid", atlas9, "-p", csv, "-o", target, "--force", "--skip-invalid", *quiet],
                             capsys, monkeypatch)
    assert code == 0, err
    assert f"skipped: {csv}, row {ROWS} (" in err and "finite" in err and "1 bad row skipped" in err
    assert f"wrote {ROWS - 1} models" in err
    if kind in ("directory", "named"):
        written = [p for p in (tmp_path / "models").iterdir() if p.suffix == ".dat" and p.read_bytes().startswith(b"TEFF")]
        assert len(written) == ROWS - 1
    elif kind == "fits":
        assert len(formats.read(target)) == ROWS - 1
    else:
        text = out if kind == "stdout" else Path(target).read_text()
        assert text.count("TEFF ") == ROWS - 1


#: Runs the CLI with chunks of 7 rows, each chunk of a FITS table announced on stderr; once two
#: chunks are in, it blocks on its stdin (which the test never writes) until it is killed: the
#: table is half spooled whatever the machine's load, no clock involved.
SLOW_CHUNKS = """
import sys
from innterpol_cli import batch
from formats import fitstable
batch.CHUNK = 7
add = fitstable.TableWriter.add
def slow_add(self, models):
    add(self, models)
    print(f"spooled {self.layout.rows}", file=sys.stderr, flush=True)
    if self.layout.rows >= 14:
        sys.stdin.read()
fitstable.TableWriter.add = slow_add
from innterpol_cli.cli import main
sys.argv = ["innterpol", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("old", [True, False], ids=["old-file", "no-file"])
@pytest.mark.parametrize("moment", ["spooling", "rename"])
def test_killed_fits_batch_leaves_the_old_file_or_none(moment, old, atlas9, params, tmp_path):
    interp = load(atlas9)
    csv = _csv(tmp_path / "stars.csv", params, interp.axes)
    target = tmp_path / "all.fits"
    if old:
        target.write_bytes(b"the old table\n")
    args = ["predict", "--grid", atlas9, "-p", csv, "-o", target, "--force"]
    if moment == "rename":  # every chunk is in and the table is written: killed just before the rename
        killed = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300,
                                env=dict(os.environ, INNTERPOL_CRASH_AT="rename"))
        assert killed.returncode == -signal.SIGKILL, killed.stderr
    else:
        proc = subprocess.Popen([sys.executable, "-c", SLOW_CHUNKS, *map(str, args)], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            for line in proc.stderr:
                if line.startswith("spooled 14"):  # two of five chunks are in
                    assert target.read_bytes() == b"the old table\n" if old else not target.exists()
                    os.kill(proc.pid, signal.SIGKILL)
                    break
        finally:
            proc.kill()
            proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL
    if old:
        assert target.read_bytes() == b"the old table\n"
    else:
        assert not target.exists()
    # The killed run's leftover is named in its lock file: the next run on the table removes it.
    again = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "partial file of a killed run" in again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.fits", "stars.csv"]
    assert len(formats.read(target)) == ROWS


def test_chunks_are_predicted_as_they_are_written(atlas9, params, monkeypatch):
    """Prediction is lazy: the guard runs on every row at once (before any output), each chunk is
    predicted only when the writer asks for it."""
    interp = load(atlas9)
    calls = []
    real = type(interp).atmospheres
    monkeypatch.setattr(type(interp), "atmospheres", lambda self, p, **kw: calls.append(len(p)) or real(self, p, **kw))
    job = paramfile.Batch(params.copy(), list(range(1, ROWS + 1)), None, "test")
    chunks = batch.predict_chunks(interp, job, "atlas9", False, False, chunk=SMALL_CHUNK)
    assert calls == []
    first = next(chunks)
    assert calls == [SMALL_CHUNK] and len(first.models) == SMALL_CHUNK and first.rows == list(range(1, 8))
    rest = list(chunks)
    assert calls == [7, 7, 7, 7, 2] and sum(len(c.models) for c in rest) == ROWS - SMALL_CHUNK


def test_a_row_outside_the_grid_is_named_by_its_place_in_the_whole_batch(atlas9, params, tmp_path, capsys, monkeypatch):
    """The coverage guard runs in chunks too, and says what one call for all the rows said."""
    interp = load(atlas9)
    rows = params.copy()
    rows[23, 0] = interp.nodes[:, 0].max() * 3
    csv = _csv(tmp_path / "stars.csv", rows, interp.axes)
    messages = []
    for chunk in (SMALL_CHUNK, ROWS + 1):
        monkeypatch.setattr(batch, "CHUNK", chunk)
        code, out, err = run_cli(["predict", "--grid", atlas9, "-p", csv, "-o", tmp_path / "x.fits"], capsys, monkeypatch)
        assert code == 1 and not (tmp_path / "x.fits").exists()
        messages.append(err)
    assert messages[0] == messages[1] and "row 24: " in messages[0] and "nearest populated node" in messages[0]
    for chunk in (SMALL_CHUNK, ROWS + 1):
        monkeypatch.setattr(batch, "CHUNK", chunk)
        code, out, err = run_cli(["predict", "--grid", atlas9, "-p", csv, "-o", "-", "--extrapolate", "--skip-invalid"],
                                 capsys, monkeypatch)
        assert code == 0, err
        messages.append(err.count("1 model(s) extrapolated more than one grid step"))
    assert messages[2:] == [1, 1]


def test_uncertainty_warnings_name_rows_of_the_batch(atlas9, params, tmp_path, capsys, monkeypatch):
    """One warning per chunk names its first model above --max-sigma by its row in the CSV, not
    in the chunk; the summary at the end counts every model."""
    interp = load(atlas9)
    csv = _csv(tmp_path / "stars.csv", params, interp.axes)
    monkeypatch.setattr(batch, "CHUNK", SMALL_CHUNK)
    code, out, err = run_cli(["predict", "--grid", atlas9, "-p", csv, "-o", "-", "--max-sigma", "1e-6"], capsys, monkeypatch)
    assert code == 0, err
    rows = [int(line.split()[2].rstrip(":")) for line in err.splitlines() if "sigma(T) up to" in line]
    assert rows == [1, 8, 15, 22, 29]
    assert f"uncertainty: {ROWS} of {ROWS} models may be off" in err


#: The CLI with chunks of 7 rows (the crash points of $INNTERPOL_CRASH_AT kill it).
SMALL_CHUNKS = """
import sys
from innterpol_cli import batch
batch.CHUNK = 7
from innterpol_cli.cli import main
sys.argv = ["innterpol", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("moment", ["stage:3", "stage:12", "stage:30", "exchange", "swapped", "journal"])
def test_killed_directory_batch_named_from_its_parameters(moment, atlas9, params, tmp_path):
    """Files named from the parameters are staged under their numbers chunk by chunk and named at
    the end: a kill at any moment still leaves the old files or all the new ones."""
    interp = load(atlas9)
    csv = _csv(tmp_path / "stars.csv", params, interp.axes)
    out = tmp_path / "models"
    out.mkdir()
    (out / "keep.txt").write_text("not ours\n")
    env = dict(os.environ, INNTERPOL_CRASH_AT=moment, INNTERPOL_COMMIT="moves" if moment == "journal" else "")
    args = ["predict", "--grid", atlas9, "-p", csv, "-o", f"{out}/"]
    killed = subprocess.run([sys.executable, "-c", SMALL_CHUNKS, *map(str, args)], capture_output=True, text=True,
                            timeout=300, env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # The next run on the directory finishes or removes what the killed one left, and says so.
    again = subprocess.run([*CLI, "predict", "--grid", atlas9, "--teff", "5777", "--logg", "4.44", "-o", f"{out}/"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "killed" in again.stderr, again.stderr
    next(out.glob("t05777_*.dat")).unlink()
    visible = sorted(p.name for p in out.iterdir())
    new = sorted(formats.model_filenames(interp.atmospheres(params), "atlas9") + ["keep.txt"])
    committed = moment in ("swapped", "journal")  # killed after the swap, or after the journal of the moves
    assert visible == (new if committed else ["keep.txt"]), visible
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("kind", ["directory", "stdout"])
def test_each_model_is_formatted_once_and_the_checked_text_is_written(kind, atlas9, params, tmp_path, capsys, monkeypatch):
    """The check judges a model's text (formats.AsWritten); the writer writes that same text, so a
    batch formats each model once, not once to check and again to write."""
    import dataclasses

    interp = load(atlas9)
    rows = params[:6]
    real = formats.FORMATS["atlas9"]
    calls = []

    def counting(atm, layers=None):
        calls.append(atm.teff)
        return real.format_model(atm, layers)

    monkeypatch.setitem(formats.FORMATS._formats, "atlas9", dataclasses.replace(real, format_model=counting))
    csv = _csv(tmp_path / "p.csv", rows, interp.axes)
    out = tmp_path / "out/" if kind == "directory" else "-"
    code, stdout, err = run_cli(["predict", "--grid", atlas9, "--params", str(csv), "-o", f"{out}/" if kind == "directory" else out],
                                capsys, monkeypatch)
    assert code == 0, err
    assert len(calls) == len(rows)
    monkeypatch.setitem(formats.FORMATS._formats, "atlas9", real)
    as_read = np.loadtxt(csv, delimiter=",", skiprows=1, ndmin=2)  # the CSV's digits
    decks = "".join(real.format_model(m) for m in interp.atmospheres(as_read))
    written = stdout if kind == "stdout" else "".join((tmp_path / "out" / n).read_text() for n in sorted(os.listdir(tmp_path / "out")))
    assert sorted(written.split("TEFF")) == sorted(decks.split("TEFF"))
