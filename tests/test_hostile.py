"""Hostile and careless use (issue 20): each case failed before its fix.

Devices and FIFOs are ones the test makes itself in ``tmp_path``, never the real ``/dev`` entries.
"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, shipped_grid

CLI = [sys.executable, "-c", "from innterpol_cli.cli import main; main()"]
SUN = ["--teff", "5777", "--logg", "4.44"]


def _cli(*args, cwd=None, **kwargs):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd, **kwargs)


def _one_line(result):
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# ------------------------------------------------------------------ streams are written into
def test_force_writes_into_a_fifo_and_never_replaces_it(tmp_path):
    shipped_grid("atlas9")
    fifo = tmp_path / "ff"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    result = _cli("predict", "--grid", "atlas9", *SUN, "-o", fifo, "--force")
    data = reader.communicate(timeout=60)[0]
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert data.startswith(b"TEFF   5777.")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ff"]  # no lock or partial file beside it


@pytest.mark.parametrize("command", ["predict", "convert"])
def test_force_writes_into_a_character_device_and_never_replaces_it(command, tmp_path, shared):
    device = tmp_path / "mynull"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # the null device's numbers
    except PermissionError:
        pytest.skip("making a device node needs root here")
    if command == "predict":
        shipped_grid("atlas9")
        args = ["predict", "--grid", "atlas9", *SUN, "-o", device, "--force"]
    else:
        args = ["convert", shared / "samples/atlas9/ksun.mod", device, "--to", "atlas9", "--force"]
    result = _cli(*args)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR(os.stat(device).st_mode)


# ------------------------------------------------------- a batch and a single file exclude each other
def test_single_file_refused_while_a_batch_writes_its_directory(tmp_path):
    from formats.transaction import output_lock

    shipped_grid("atlas9")
    target = tmp_path / "e"
    with output_lock(target, directory=True):  # as a batch holds it
        result = _cli("predict", "--grid", "atlas9", *SUN, "-o", target / "r0005.dat")
    assert "writing a batch into" in _one_line(result)
    assert not (target / "r0005.dat").exists()


def test_batch_refused_while_a_single_file_of_it_is_written(tmp_path):
    from formats.transaction import output_lock

    shipped_grid("atlas9")
    target = tmp_path / "e"
    target.mkdir()
    (tmp_path / "b.csv").write_text("teff,logg,name\n5000,4.5,r0004\n5250,4.5,r0005\n")
    with output_lock(target / "r0005.dat"):  # as a single-file run holds it
        result = _cli("predict", "--grid", "atlas9", "-p", tmp_path / "b.csv", "-o", f"{target}/")
    assert "another innterpol run is writing r0005.dat" in _one_line(result)
    assert sorted(p.name for p in target.iterdir()) == []


# ---------------------------------------------------------- recovery removes only what it journaled
def test_recovery_leaves_files_that_merely_look_like_leftovers(tmp_path):
    shipped_grid("atlas9")
    user = tmp_path / "ud"
    (user / ".innterpol-mynotes").mkdir(parents=True)
    mine = {
        ".innterpol-mynotes/thesis.txt": "chapter 1\n",
        ".draft.abcdefgh.part": "a draft\n",
        ".empty.lock": "",
        ".pidfile.lock": "12345",
        ".draft.lock": "12345\n",
    }
    for name, text in mine.items():
        (user / name).write_text(text)
    (tmp_path / "b.csv").write_text("teff,logg\n5000,4.5\n")
    for args in (["-p", tmp_path / "b.csv", "-o", f"{user}/"], [*SUN, "-o", user / "draft"]):
        result = _cli("predict", "--grid", "atlas9", *args)
        assert result.returncode == 0, result.stderr
        assert "removed" not in result.stderr and "killed" not in result.stderr, result.stderr
    for name, text in mine.items():
        assert (user / name).read_text() == text, name


# --------------------------------------------------------- the check judges what is written
def test_check_before_writing_judges_the_written_digits(shared, tmp_path):
    """A model whose log P curvature lies just under the smoothness limit before rounding and just
    over it at the printed digits is refused before writing (it used to be written, and then
    failed ``innterpol check``)."""
    import dataclasses

    import formats
    from formats import atlas9
    from innterpol_cli.check import check

    model = formats.read(shared / "samples/atlas9/t03500g5.0am05ak2odfnew.dat")[0]
    y = np.log10(model.layers["gas_pressure"])
    d = 32

    def kinked(curvature):
        """The model with log P at depth d moved so that its second difference there is ``curvature``."""
        layers = {**model.layers, "gas_pressure": model.layers["gas_pressure"].copy()}
        layers["gas_pressure"][d] = 10.0 ** ((y[d - 1] + y[d + 1] + curvature) / 2.0)
        return dataclasses.replace(model, layers=layers)

    # The curvature at which the unrounded model starts to fail the smoothness test ...
    low, high = abs(y[d - 1] - 2 * y[d] + y[d + 1]), 1.0
    assert check([kinked(low)])[0].ok and not check([kinked(high)])[0].ok
    for _ in range(40):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if check([kinked(mid)])[0].ok else (low, mid)
    # ... and, just below it, one whose printed digits cross the limit.
    found = None
    for margin in np.linspace(1e-7, 4e-4, 400):
        candidate = kinked(low - margin)
        if check([candidate])[0].ok and not check([atlas9.parse(atlas9.format_model(candidate), "x")[0]])[0].ok:
            found = candidate
            break
    assert found is not None, "no model found whose rounding crosses the limit"
    assert not check([found], "atlas9")[0].ok  # judged as written
    out = tmp_path / "m.dat"
    from innterpol_cli.check import CheckError, require_valid

    with pytest.raises(CheckError, match="smooth"):
        require_valid([found], "atlas9", ["m"])
    formats.write([found], out, "atlas9")  # written anyway, the file fails the check the same way
    assert not check(formats.read(out))[0].ok


# ---------------------------------------------------------------------------- readers
def test_a_deck_of_100_or_more_depths_reads_back(ck04_deck, tmp_path):
    import dataclasses

    import formats

    n = ck04_deck.ndepth
    x = np.linspace(0, n - 1, 110)
    layers = {k: np.exp(np.interp(x, np.arange(n), np.log(v))) if np.all(v > 0) else np.interp(x, np.arange(n), v)
              for k, v in ck04_deck.layers.items()}
    out = tmp_path / "deep.dat"
    formats.write([dataclasses.replace(ck04_deck, layers=layers)], out, "atlas9")
    assert "READ DECK6110 RHOX,T,P,XNE" in out.read_text()
    back = formats.read(out)[0]
    assert back.ndepth == 110
    np.testing.assert_allclose(back.layers["temperature"], layers["temperature"], rtol=1e-4)


def _fits_with(tmp_path, ck04_deck, change):
    from astropy.io import fits

    import formats

    good = tmp_path / "good.fits"
    formats.write([ck04_deck], good, "fits")
    with fits.open(good) as hdul:
        hdul = fits.HDUList([h.copy() for h in hdul])
    change(hdul)
    bad = tmp_path / "bad.fits"
    hdul.writeto(bad)
    return bad


def _ndepth(value):
    def change(hdul):
        hdul[1].data["NDEPTH"][0] = value
    return change


def _drop_temperature(hdul):
    from astropy.io import fits

    table = hdul[1]
    columns = [c for c in table.columns if c.name != "TEMPERATURE"]
    hdul[1] = fits.BinTableHDU.from_columns(columns, header=table.header, name=table.name)


@pytest.mark.parametrize("change, expected", [
    (_ndepth(-3), "NDEPTH = -3"), (_ndepth(0), "NDEPTH = 0"), (_ndepth(500), "NDEPTH = 500"),
    (_drop_temperature, "lacks the TEMPERATURE column"),
])
@pytest.mark.parametrize("command", ["convert", "check"])
def test_bad_fits_tables_are_refused(change, expected, command, ck04_deck, tmp_path):
    bad = _fits_with(tmp_path, ck04_deck, change)
    args = ["convert", bad, tmp_path / "o.dat"] if command == "convert" else ["check", bad]
    line = _one_line(_cli(*args))
    assert str(bad) in line and expected in line
    assert not (tmp_path / "o.dat").exists()


def test_huge_marcs_depth_count_is_one_line_and_quick(marcs_sun, tmp_path):
    import formats

    good = tmp_path / "good.mod"
    formats.write([marcs_sun], good, "marcs")
    for count in ("99999999999", "1000000000"):
        text = good.read_text().splitlines()
        i = next(k for k, row in enumerate(text) if "Number of depth points" in row)
        text[i] = f"{count:>8} Number of depth points"
        bad = tmp_path / f"bad{count}.mod"
        bad.write_text("\n".join(text) + "\n")
        line = _one_line(_cli("check", bad))
        assert f"{bad}, line {i + 1}" in line and "depth points announced" in line


def test_endless_or_huge_inputs_are_refused_not_read_until_memory_runs_out(tmp_path):
    import gzip

    from formats.textio import MAX_INPUT_BYTES

    sparse = tmp_path / "huge.dat"
    with open(sparse, "wb") as handle:
        handle.truncate(MAX_INPUT_BYTES + 10)
    assert "not a model file" in _one_line(_cli("check", sparse))
    bomb = tmp_path / "bomb.dat.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as handle:
        block = b"0" * 2**20
        for _ in range(MAX_INPUT_BYTES // len(block) + 2):
            handle.write(block)
    assert "once unzipped" in _one_line(_cli("check", bomb))


# ---------------------------------------------------------------------------- messages
def test_control_characters_from_a_weights_file_are_escaped(tmp_path):
    from importlib.resources import files

    shipped_grid("atlas9")
    path = Path(str(files("innterpol_cli.weights").joinpath("atlas9-ck04.npz")))
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(arrays["meta.json"].tobytes())
    meta["grid"] = "evil\x1b[2J\x1b[31m\r\nfake line"
    arrays["meta.json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    weights = tmp_path / "evil.npz"
    np.savez(weights, **arrays)
    result = _cli("predict", "--grid", weights, "--teff", "4000", "--logg", "0.1", "--mh", "5", "-o", tmp_path / "x.dat")
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    line = _one_line(result)
    assert "evil\\x1b[2J" in line


def test_closed_stdout_is_one_line(tmp_path):
    shipped_grid("atlas9")
    result = subprocess.run(f"{sys.executable} -c 'from innterpol_cli.cli import main; main()' predict "
                            f"--teff 5777 --logg 4.44 -o - >&-", shell=True, capture_output=True, text=True, timeout=120)
    assert "stdout is closed" in _one_line(result)


def test_a_broken_model_gives_no_numpy_warning(ck04_deck, tmp_path):
    import formats

    good = tmp_path / "good.dat"
    formats.write([ck04_deck], good, "atlas9")
    lines = good.read_text().splitlines()
    k = next(i for i, row in enumerate(lines) if row.startswith("READ DECK6")) + 1
    fields = lines[k].split()
    lines[k] = lines[k].replace(fields[4], "-" + fields[4].lstrip("-"), 1)  # a negative ABROSS at the top
    bad = tmp_path / "bad.dat"
    bad.write_text("\n".join(lines) + "\n")
    result = _cli("check", bad)
    assert result.returncode == 1
    assert "RuntimeWarning" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("extra, nearest", [
    (["--mh", "5"], "[M/H]=0.5"), (["--teff", "1"], "Teff=3500"), (["--mh", "1e200"], "[M/H]=0.5"),
])
def test_nearest_populated_node_of_far_off_values(extra, nearest, tmp_path):
    shipped_grid("atlas9")
    args = ["--teff", "5777", "--logg", "4.44"]
    if extra[0] == "--teff":
        args = ["--logg", "4.44"]
    line = _one_line(_cli("predict", "--grid", "atlas9", *args, *extra, "-o", tmp_path / "x.dat"))
    assert "nearest populated node" in line
    shown = line.split("nearest populated node: ")[1]
    assert nearest in shown and "log g=4.5" in shown, shown


def test_not_a_weights_file_says_so_without_numpys_advice(tmp_path):
    fake = tmp_path / "passwd"
    fake.write_text("root:x:0:0:root:/root:/bin/bash\n")
    line = _one_line(_cli("predict", "--grid", fake, *SUN, "-o", tmp_path / "x.dat"))
    assert "not an innterpol weights file" in line and "allow_pickle" not in line


def test_a_pickled_checkpoint_is_refused_in_one_line(shared, tmp_path):
    import pickle

    ckpt = tmp_path / "w.npz.ckpt"
    ckpt.mkdir()
    (ckpt / "checkpoint.pt").write_bytes(pickle.dumps({"stage": 0, "payload": object}))
    result = _cli("train", "--grid", "x", shared / "grids/atlas9-ck04/ap00k2odfnew.dat", "-o", tmp_path / "w.npz",
                  "--resume", "--epochs", "1")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "not an innterpol checkpoint" in last
    assert "weights_only" not in result.stderr and "Traceback" not in result.stderr


def test_unexpected_errors_do_not_show_internal_exception_names(capsys, monkeypatch):
    from innterpol_cli import cli

    def broken(**kwargs):
        raise AttributeError("'NoneType' object has no attribute 'write'")

    monkeypatch.setattr(cli, "register", lambda: None)
    monkeypatch.setattr("innterpol_cli.app.app", broken)  # cli imports it when a command needs Typer
    code, out, err = run_cli(["check", "x"], capsys, monkeypatch)
    assert code == 1 and out == ""
    assert err.startswith("error: unexpected internal error: 'NoneType' object has no attribute 'write'")
    assert "AttributeError" not in err and "Traceback" not in err


def test_debug_works_after_the_subcommand(tmp_path):
    shipped_grid("atlas9")
    result = _cli("predict", "--grid", "atlas9", *SUN, "-o", tmp_path / "sun.dat", "--debug")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "sun.dat").exists()


# ---------------------------------------------------------------------------- lenient input
def test_csv_numbers_must_be_plain_and_minus_zero_is_zero(tmp_path):
    shipped_grid("atlas9")
    (tmp_path / "a.csv").write_text("teff,logg\n5_777,4.44\n")
    line = _one_line(_cli("predict", "--grid", "atlas9", "-p", tmp_path / "a.csv", "-o", tmp_path / "a.dat"))
    assert "row 1, column teff" in line and "'5_777' is not a number" in line
    (tmp_path / "b.csv").write_text("teff,logg,mh\n5777,4.44,-0\n")
    result = _cli("predict", "--grid", "atlas9", "-p", tmp_path / "b.csv", "-o", f"{tmp_path / 'd'}/")
    assert result.returncode == 0, result.stderr
    (written,) = (tmp_path / "d").iterdir()
    assert "z+0.00" in written.name and "[-0.0" not in written.read_text()


def test_names_go_into_a_fits_table_and_a_wrong_suffix_is_refused(tmp_path):
    from astropy.io import fits

    shipped_grid("atlas9")
    (tmp_path / "n.csv").write_text("teff,logg,name\n5000,4.5,alpha\n5250,4.5,beta\n")
    result = _cli("predict", "--grid", "atlas9", "-p", tmp_path / "n.csv", "-o", tmp_path / "all.fits")
    assert result.returncode == 0, result.stderr
    with fits.open(tmp_path / "all.fits") as hdul:
        assert [n.strip() for n in hdul[1].data["NAME"]] == ["alpha", "beta"]
    (tmp_path / "x.csv").write_text("teff,logg,name\n5000,4.5,x.fits\n")
    line = _one_line(_cli("predict", "--grid", "atlas9", "-p", tmp_path / "x.csv", "-o", f"{tmp_path / 'd'}/"))
    assert "row 1, column name" in line and "'x.fits' is the name of a fits file" in line
    assert not (tmp_path / "d").exists()


# ---------------------------------------------------------------------------- training
def test_resume_from_a_stage_boundary_checkpoint(shared, tmp_path):
    """An interrupt right at the start of a stage leaves a checkpoint at the stage boundary; resuming
    from it used to fail ("loaded state dict contains a parameter group that doesn't match")."""
    torch = pytest.importorskip("torch")
    from innterpol_cli.grid import FAMILIES, build_grid, read_grid_files
    from innterpol_cli.train import train
    from innterpol_cli.trainconfig import TrainConfig

    models, fmt, report = read_grid_files([shared / "grids/atlas9-ck04/ap00k2odfnew.dat"])
    grid = build_grid(models, FAMILIES[fmt], report)
    cfg = TrainConfig.resolve(method="cae", latent=8, layers=3, width=32, conv_width=8, cae_epochs=3, net_epochs=3,
                              finetune_epochs=3, batch_size=32, threads=1, seed=1)
    ckpt = tmp_path / "ckpt"
    train(grid, cfg, str(tmp_path / "w.npz"), grid_name="t", checkpoint_dir=str(ckpt), show_progress=False)
    saved = torch.load(ckpt / "checkpoint.pt", weights_only=True)
    assert saved["optimizer"] is None  # a boundary keeps no optimizer state
    saved["stage"] = 1  # as if interrupted at the very start of the latent stage
    torch.save(saved, ckpt / "checkpoint.pt")
    train(grid, cfg, str(tmp_path / "w.npz"), grid_name="t", checkpoint_dir=str(ckpt), resume=True, show_progress=False)
