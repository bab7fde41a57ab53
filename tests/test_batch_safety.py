"""Directory batches are all or nothing under crashes (kill -9 at any moment) and concurrent runs.

The crashes are injected with $INNTERPOL_CRASH_AT (formats.commit.crash_point): the program kills
itself with SIGKILL at a named moment, so that every phase of a batch is hit without timing luck.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli

NAMES = ("a", "b", "c", "d", "e")
OLD = {"a.dat": "old a\n", "b.dat": "old b\n", "keep.txt": "not ours\n"}
CSV = "teff,logg,mh,name\n" + "".join(f"{5000 + 250 * i},4.5,0,{n}\n" for i, n in enumerate(NAMES))
#: Every moment of a batch that $INNTERPOL_CRASH_AT can name (see formats.write_directory), with
#: how often it is reached for NAMES when a.dat and b.dat exist.
MOMENTS = [f"stage:{i}" for i in range(1, 6)] + ["journal-write", "journal"] + ["backup:1", "backup:2"] + \
          [f"commit:{i}" for i in range(1, 6)] + ["cleanup"] + \
          ["commit:2:error,rollback:1", "commit:4:error,rollback:2", "backup:2:error,rollback:1"]
#: The same for a commit by exchange (the default where the file system swaps folders): the
#: directory is then never a mix for its readers, not even before the next run recovers it.
EXCHANGE_MOMENTS = [f"stage:{i}" for i in range(1, 6)] + ["journal-write", "exchange", "swapped", "cleanup"]


#: The CLI in a subprocess that can be killed.
CLI = [sys.executable, "-c", "from innterpol_cli.cli import main; main()"]


def _predict(args, env_extra=None, **kwargs):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([*CLI, "predict", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=120, **kwargs)


def _state(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.iterdir())}


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(".")]


def _is_new_state(state: dict[str, str]) -> bool:
    expected = {f"{n}.dat" for n in NAMES} | {"keep.txt"}
    return (set(state) == expected and state["keep.txt"] == OLD["keep.txt"]
            and all(state[f"{n}.dat"].startswith("TEFF") for n in NAMES))


def _visible(directory: Path) -> dict[str, str]:
    """What a reader of the directory sees: its files that are not dotfiles."""
    return {p.name: p.read_text() for p in sorted(directory.iterdir()) if not p.name.startswith(".")}


@pytest.mark.parametrize("commit", ["moves", "exchange"])
def test_kill_at_random_moments_leaves_old_or_complete_new_state(commit, tmp_path, capsys, monkeypatch):
    rng = random.Random(11)
    all_moments = MOMENTS if commit == "moves" else EXCHANGE_MOMENTS
    moments = all_moments + rng.choices(all_moments, k=max(0, 20 - len(all_moments)))
    (tmp_path / "stars.csv").write_text(CSV)
    seen = {"old": 0, "new": 0}
    for run, moment in enumerate(moments):
        out = tmp_path / f"run{run}"
        out.mkdir()
        for name, text in OLD.items():
            (out / name).write_text(text)
        result = _predict(["-p", tmp_path / "stars.csv", "-o", f"{out}/", "--force"],
                          {"INNTERPOL_CRASH_AT": moment, "INNTERPOL_COMMIT": commit})
        if ":error" in moment and "rollback" not in moment.split(",")[-1]:
            assert result.returncode == 1
        elif "error" not in moment:
            assert result.returncode == -signal.SIGKILL, (moment, result.stderr)
        if commit == "exchange":  # before any recovery, a reader sees the old files or all the new ones
            visible = _visible(out)
            assert visible == OLD or _is_new_state(visible), (moment, {k: v[:20] for k, v in visible.items()})
        # The next run on the directory finishes or rolls back the killed one, and names what it found.
        code, _, err = run_cli(["predict", "--teff", 5777, "--logg", 4.44, "-o", f"{out}/"], capsys, monkeypatch)
        assert code == 0, err
        if result.returncode == -signal.SIGKILL and moment not in ("cleanup",):
            assert "killed" in err, (moment, err)
        extra = [p for p in out.iterdir() if p.name.startswith("t05777")]
        assert len(extra) == 1
        extra[0].unlink()
        assert _leftovers(out) == [], (moment, _leftovers(out))
        state = _state(out)
        if state == OLD:
            seen["old"] += 1
        else:
            assert _is_new_state(state), (moment, {k: v[:20] for k, v in state.items()})
            seen["new"] += 1
    assert seen["old"] and seen["new"], seen  # both outcomes were exercised


def test_failure_after_staging_restores_what_force_replaced(tmp_path, capsys, monkeypatch):
    """The issue's case: --force where the 2nd target is a directory must not replace a.dat."""
    (tmp_path / "a.dat").write_text("old a\n")
    (tmp_path / "b.dat").mkdir()
    csv = tmp_path / "stars.csv"
    csv.write_text("teff,logg,name\n5750,4.5,a\n6000,4.5,b\n")
    code, _, err = run_cli(["predict", "-p", csv, "-o", f"{tmp_path}/", "--force"], capsys, monkeypatch)
    assert code == 1 and "b.dat is a directory" in err and err.count("\n") == 1
    assert (tmp_path / "a.dat").read_text() == "old a\n"
    assert _leftovers(tmp_path) == []


def test_injected_error_while_moving_rolls_back(tmp_path, capsys, monkeypatch):
    for name, text in OLD.items():
        (tmp_path / name).write_text(text)
    csv = tmp_path.parent / f"{tmp_path.name}.csv"
    csv.write_text(CSV)
    monkeypatch.setenv("INNTERPOL_CRASH_AT", "commit:3:error")
    monkeypatch.setenv("INNTERPOL_COMMIT", "moves")
    code, _, err = run_cli(["predict", "-p", csv, "-o", f"{tmp_path}/", "--force"], capsys, monkeypatch)
    assert code == 1 and "nothing was changed" in err, err
    assert _state(tmp_path) == OLD and _leftovers(tmp_path) == []


def test_kill_during_a_real_large_batch(tmp_path):
    """kill -9 (not a hook) once the batch is committing, as in the issue: before any recovery a
    reader sees none or all of the 1,500 files, and the next run leaves exactly that."""
    rows = "".join(f"{4000 + (i % 40) * 50},{3.0 + (i // 40) % 4 * 0.5},0,m{i}\n" for i in range(1500))
    (tmp_path / "big.csv").write_text("teff,logg,mh,name\n" + rows)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([*CLI, "predict", "-p", tmp_path / "big.csv", "-o", f"{out}/"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    killed = False
    while proc.poll() is None and time.monotonic() < deadline:
        # Committing: the new version is being built beside the directory (or, where the file
        # system cannot swap folders, the staging journal says commit).
        staging = next(out.glob(".innterpol-*/journal.json"), None)
        try:
            moving = staging is not None and '"commit"' in staging.read_text()
        except OSError:  # replaced or removed as we read it
            moving = False
        if moving or next(tmp_path.glob(".out.innterpol-*.journal"), None) is not None:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.001)
    proc.wait(timeout=60)
    assert killed, "the batch finished before it could be killed"
    seen = len(list(out.glob("m*.dat")))
    assert seen in (0, 1500), seen
    second = _predict(["--teff", 5777, "--logg", 4.44, "-o", f"{out}/"])
    assert second.returncode == 0, second.stderr
    assert "killed" in second.stderr
    assert _leftovers(out) == [] and not list(tmp_path.glob(".out.*"))
    assert len(list(out.glob("m*.dat"))) == seen


def test_leftover_part_file_of_a_killed_single_file_run_is_named_and_removed(tmp_path):
    target = tmp_path / "sun.dat"
    killed = _predict(["--teff", 5777, "--logg", 4.44, "-o", target], {"INNTERPOL_CRASH_AT": "rename"})
    assert killed.returncode == -signal.SIGKILL
    assert not target.exists()
    parts = list(tmp_path.glob(".sun.dat.*.part"))
    assert len(parts) == 1
    again = _predict(["--teff", 5777, "--logg", 4.44, "-o", target])
    assert again.returncode == 0, again.stderr
    assert "partial file of a killed run" in again.stderr and parts[0].name in again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sun.dat"]


# ----------------------------------------------------------------------------------- concurrency
def test_second_run_on_a_locked_directory_fails_with_one_line(tmp_path, capsys, monkeypatch):
    from formats.transaction import output_lock

    out = tmp_path / "models"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom formats.transaction import output_lock\n"
         f"with output_lock({str(out)!r}, directory=True):\n    print('locked', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, out_text, err = run_cli(["predict", "--teff", 5777, "--logg", 4.44, "-o", f"{out}/"], capsys, monkeypatch)
        assert code == 1 and out_text == ""
        assert "another innterpol run is writing it" in err and f"process {holder.pid}" in err and err.count("\n") == 1
        assert [p.name for p in out.iterdir()] == [".innterpol.lock"]
    finally:
        holder.kill()
        holder.wait()
    with output_lock(out, directory=True):  # the killed holder's lock is free again
        pass
    assert list(out.iterdir()) == []  # and its lock file is gone
    fresh = tmp_path / "fresh" / "models"
    with output_lock(fresh, directory=True):
        assert fresh.is_dir()
    assert not (tmp_path / "fresh").exists()  # created for the run, left empty: removed


def test_two_concurrent_batches_on_one_directory_never_clobber(tmp_path):
    out = tmp_path / "models"
    out.mkdir()
    for tag, teff in (("one", 5000), ("two", 6000)):
        (tmp_path / f"{tag}.csv").write_text("teff,logg,name\n" + "".join(f"{teff + i},4.5,m{i}\n" for i in range(300)))
    procs = [subprocess.Popen([*CLI, "predict", "-p", tmp_path / f"{tag}.csv", "-o", f"{out}/"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for tag in ("one", "two")]
    results = [(p.wait(timeout=180), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    loser = next(err for code, err in results if code == 1)
    assert "another innterpol run is writing it" in loser or "exists" in loser, loser
    winner = next(tag for (code, _), tag in zip(results, ("one", "two")) if code == 0)
    teffs = {float((out / f"m{i}.dat").read_text().split()[1]) for i in (0, 299)}
    assert teffs == ({5000.0, 5299.0} if winner == "one" else {6000.0, 6299.0})
    assert len(list(out.glob("m*.dat"))) == 300 and _leftovers(out) == []


def test_two_concurrent_runs_on_one_file_never_clobber(tmp_path):
    target = tmp_path / "cat.dat"
    for tag, teff in (("one", 5000), ("two", 6000)):
        (tmp_path / f"{tag}.csv").write_text("teff,logg\n" + "".join(f"{teff + i},4.5\n" for i in range(200)))
    procs = [subprocess.Popen([*CLI, "predict", "-p", tmp_path / f"{tag}.csv", "-o", target],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for tag in ("one", "two")]
    results = [(p.wait(timeout=180), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) == [0, 1], results
    loser = next(err for code, err in results if code == 1)
    assert "another innterpol run is writing it" in loser or "exists: pass --force" in loser, loser
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.dat", "one.csv", "two.csv"]
