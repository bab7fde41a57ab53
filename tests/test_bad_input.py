"""Every bad input of issue 11 gets one line on stderr naming the file, row or field, exit 1, and nothing written."""

import json
import os
import signal
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli

CLI = [sys.executable, "-c", "from innterpol_cli.cli import main; main()"]
SUN = ["--teff", "5777", "--logg", "4.44"]


def _one_line_error(code, out, err):
    assert code == 1, err
    assert out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


# ------------------------------------------------------------------------------------ weights
def _shipped_arrays() -> dict:
    path = Path(str(files("innterpol_cli.weights").joinpath("atlas9-ck04.npz")))
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _meta(arrays) -> dict:
    return json.loads(arrays["meta.json"].tobytes())


def _with_meta(arrays, meta):
    arrays["meta.json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    return arrays


def _drop_channels(a):
    meta = _meta(a)
    del meta["channels"]
    return _with_meta(a, meta)


def _list_fixed(a):
    meta = _meta(a)
    meta["fixed"] = [1, 2]
    return _with_meta(a, meta)


def _meta_is_list(a):
    a["meta.json"] = np.frombuffer(b"[1, 2]", dtype=np.uint8)
    return a


def _bad_json(a):
    a["meta.json"] = np.frombuffer(b'{"format_version": 2, ', dtype=np.uint8)
    return a


def _not_utf8(a):
    a["meta.json"] = np.frombuffer(b'{"grid": "\xff\xfe"}', dtype=np.uint8)
    return a


def _short_mean(a):
    a["norm/mean"] = a["norm/mean"].ravel()[:576 - 8].reshape(8, 71)
    return a


def _nan_tensor(a):
    a["tensor/net.out.weight"] = a["tensor/net.out.weight"].copy()
    a["tensor/net.out.weight"][3, 4] = np.nan
    return a


def _q_as_float(a):
    a["residual/q"] = a["residual/q"].astype(np.float32)
    return a


def _log_tau_strings(a):
    meta = _meta(a)
    meta["log_tau"] = ["x"] * len(meta["log_tau"])
    return _with_meta(a, meta)


def _missing_tensor(a):
    del a["tensor/net.out.bias"]
    return a


WEIGHTS_CASES = {
    "missing key": (_drop_channels, "meta.json 'channels': missing"),
    "wrong type": (_list_fixed, "meta.json 'fixed': is a list, not a dict"),
    "meta not an object": (_meta_is_list, "meta.json is a JSON list, not an object"),
    "invalid JSON": (_bad_json, "meta.json is not valid JSON"),
    "not UTF-8": (_not_utf8, "meta.json is not UTF-8 text"),
    "wrong shape": (_short_mean, "array 'norm/mean': has shape (8, 71), expected (8, 72)"),
    "non-finite tensor": (_nan_tensor, "array 'tensor/net.out.weight': has 1 non-finite values"),
    "wrong dtype": (_q_as_float, "array 'residual/q': has type float32, expected integers"),
    "non-numeric list": (_log_tau_strings, "meta.json 'log_tau': is not a list of numbers"),
    "missing tensor": (_missing_tensor, "array 'tensor/net.out.bias': missing"),
}


@pytest.mark.parametrize("case", WEIGHTS_CASES)
def test_malformed_weights_name_the_file_and_field(case, tmp_path, capsys, monkeypatch):
    mutate, expected = WEIGHTS_CASES[case]
    weights = tmp_path / "broken.npz"
    np.savez(weights, **mutate(_shipped_arrays()))
    out = tmp_path / "sun.dat"
    err = _one_line_error(*run_cli(["predict", "--grid", weights, *SUN, "-o", out], capsys, monkeypatch))
    assert str(weights) in err and expected in err, err
    assert not out.exists()


# ------------------------------------------------------------------------------------ model files
def test_huge_read_deck6_count_is_a_format_error(ck04_deck, tmp_path, capsys, monkeypatch):
    import formats

    good = tmp_path / "good.dat"
    formats.write([ck04_deck], good, "atlas9")
    text = good.read_text()
    line = next(i for i, row in enumerate(text.splitlines()) if row.startswith("READ DECK6"))
    bad = tmp_path / "bad.dat"
    original = text.splitlines()[line]
    bad.write_text(text.replace(original, "READ DECK6 99999999999 " + original.split(None, 3)[3]))
    err = _one_line_error(*run_cli(["convert", bad, tmp_path / "out.mod", "--to", "marcs"], capsys, monkeypatch))
    assert f"{bad}, line " in err and "READ DECK6 promises 99999999999 depths but the deck has only" in err
    assert not (tmp_path / "out.mod").exists()


# ------------------------------------------------------------------------------------ full disk
def test_full_disk_on_stdout_is_one_line():
    with open("/dev/full", "w") as full:
        result = subprocess.run([*CLI, "predict", *SUN, "-o", "-"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr == "error: stdout: cannot write: No space left on device (disk full); nothing was written\n"


def test_full_disk_in_a_directory_batch_writes_nothing(tmp_path, capsys, monkeypatch):
    (tmp_path / "a.dat").write_text("old\n")
    csv = tmp_path.parent / f"{tmp_path.name}.csv"
    csv.write_text("teff,logg,name\n5750,4.5,a\n6000,4.5,b\n6250,4.5,c\n")
    monkeypatch.setenv("INNTERPOL_CRASH_AT", "stage:2:enospc")  # the 2nd file meets a full disk
    err = _one_line_error(*run_cli(["predict", "-p", csv, "-o", f"{tmp_path}/", "--force"], capsys, monkeypatch))
    assert "No space left on device (disk full); nothing was written" in err and str(tmp_path) in err
    assert [p.name for p in tmp_path.iterdir()] == ["a.dat"] and (tmp_path / "a.dat").read_text() == "old\n"


def test_full_disk_for_one_file_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("INNTERPOL_CRASH_AT", "rename:1:enospc")
    target = tmp_path / "sun.dat"
    err = _one_line_error(*run_cli(["predict", *SUN, "-o", target], capsys, monkeypatch))
    assert f"{target}: cannot write: No space left on device (disk full)" in err
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------ CSV names
@pytest.mark.parametrize("name, expected", [
    ('"a\nb"', "control character '\\n'"),
    ("a\x1bb", "control character '\\x1b'"),
    ("a\x00b", "control character '\\x00'"),
    ("x" * 300, "is 300 bytes long; file names take at most 255"),
    ("é" * 130, "is 260 bytes long"),
])
def test_bad_names_name_their_row_and_write_nothing(name, expected, tmp_path, capsys, monkeypatch):
    csv = tmp_path / "stars.csv"
    csv.write_text(f"teff,logg,name\n5750,4.5,fine\n6000,4.5,{name}\n", encoding="utf-8")
    out = tmp_path / "models"
    err = _one_line_error(*run_cli(["predict", "-p", csv, "-o", f"{out}/"], capsys, monkeypatch))
    assert f"{csv}, row 2, column name" in err and expected in err, err
    assert not out.exists()


def test_name_too_long_with_its_suffix(tmp_path, capsys, monkeypatch):
    csv = tmp_path / "stars.csv"
    csv.write_text("teff,logg,name\n5750,4.5," + "x" * 253 + "\n")
    err = _one_line_error(*run_cli(["predict", "-p", csv, "-o", f"{tmp_path}/models/"], capsys, monkeypatch))
    assert f"{csv}, row 1: name" in err and "with its suffix is longer than 255 bytes" in err
    assert not (tmp_path / "models").exists()


# ------------------------------------------------------------------------------------ BOM
def test_bom_is_the_same_for_stdin_and_files(tmp_path):
    data = "\ufeffteff,logg\n5750,4.5\n".encode()
    (tmp_path / "bom.csv").write_bytes(data)
    from_file = subprocess.run([*CLI, "predict", "-p", tmp_path / "bom.csv", "-o", "-"], capture_output=True, timeout=120)
    from_stdin = subprocess.run([*CLI, "predict", "-p", "-", "-o", "-"], input=data, capture_output=True, timeout=120)
    assert from_file.returncode == from_stdin.returncode == 0, (from_file.stderr, from_stdin.stderr)
    assert from_file.stdout == from_stdin.stdout and from_file.stdout.startswith(b"TEFF")
    assert from_file.stderr == from_stdin.stderr  # no "ignoring column \ufeffteff" on either


def test_bom_on_a_text_stdin(capsys, monkeypatch):
    code, out, err = run_cli(["predict", "-p", "-", "-o", "-"], capsys, monkeypatch, stdin="\ufeffteff,logg\n5750,4.5\n")
    assert code == 0 and out.startswith("TEFF") and "ignoring" not in err


# ------------------------------------------------------------------------------------ outputs
@pytest.mark.parametrize("command", [["predict", *SUN, "-o", ""], ["convert", "IN", ""]])
def test_empty_output_is_refused(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = _one_line_error(*run_cli(command, capsys, monkeypatch))
    assert "empty" in err
    assert list(tmp_path.iterdir()) == []


def test_broken_pipe_is_an_error(tmp_path):
    """`predict ... -o - | head -c 10`: more output than the pipe holds, and a reader that leaves."""
    (tmp_path / "many.csv").write_text("teff,logg\n" + "".join(f"{5000 + 10 * i},4.5\n" for i in range(40)))
    proc = subprocess.Popen([*CLI, "predict", "-p", tmp_path / "many.csv", "-o", "-"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout.read(10) == b"TEFF   500"
    proc.stdout.close()
    code = proc.wait(timeout=120)
    err = proc.stderr.read().decode()
    assert code == 1
    assert err == "error: stdout: the reader closed the pipe before all output was written\n"


def test_absurd_teff_is_refused_before_arithmetic(tmp_path, capsys, monkeypatch):
    err = _one_line_error(*run_cli(["predict", "--teff", "1e300", "--logg", "4.4", "-o", tmp_path / "x.dat"], capsys, monkeypatch))
    assert err == "error: --teff: Teff = 1e+300 K is beyond any atmosphere (at most 1e+06 K)\n"
    csv = tmp_path / "s.csv"
    csv.write_text("teff,logg\n5750,4.5\n1e300,4.5\n")
    err = _one_line_error(*run_cli(["predict", "-p", csv, "-o", tmp_path / "x.dat"], capsys, monkeypatch))
    assert f"{csv}, row 2, column teff: Teff = 1e+300 K" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]


# ------------------------------------------------------------------------------------ Ctrl-C in train
def test_sigint_while_train_reads_stops_within_2s_and_keeps_the_weights(shared, tmp_path):
    pytest.importorskip("torch")
    weights = tmp_path / "w.npz"
    weights.write_bytes(b"previous weights")
    proc = subprocess.Popen([*CLI, "train", "--grid", "t", "-o", weights, "--force", shared / "grids" / "atlas9-ck04"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()  # torch is imported before this line: the wait is not a fixed sleep
        assert line.startswith("reading grid files"), line
        proc.send_signal(signal.SIGINT)  # while the grid is being read, as the line says
        start = time.monotonic()
        code = proc.wait(timeout=30)
        assert time.monotonic() - start < 2.0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130
    assert "interrupted" in proc.stderr.read()
    assert weights.read_bytes() == b"previous weights"
    assert sorted(os.listdir(tmp_path)) == ["w.npz"]
