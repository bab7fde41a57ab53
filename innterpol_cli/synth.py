"""Synthetic spectra of a model-atmosphere file with PySME (``pysme-astro``), for checking written files.

PySME is imported only inside :func:`synthesize`; the CLI never needs it.  Use
:func:`synthesize_in_subprocess` from tests and tools: PySME's C library can hang or
abort on a bad model, and a subprocess with a timeout keeps that from taking the
caller down.

The synthesis is LTE (no NLTE departure coefficients, no 3D-NLTE hydrogen profiles),
uses the atmosphere embedded in the file (no grid, so no data download) and the
model's own abundances and microturbulence, with no rotation or instrumental
broadening.  ATLAS9 decks are read by PySME's ``KrzFile``, MARCS files by its
``MarcsAtmosphere``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from formats.errors import InnterpolError

#: PySME's atmosphere readers, by innterpol format name.
SUPPORTED_FORMATS = ("atlas9", "marcs")


class SynthesisError(InnterpolError):
    """PySME failed, hung or was not installed."""


def read_linelist(path):
    """A PySME LineList from a CSV of species, wlcent [A], excit [eV], gflog, gamrad, gamqst, gamvw.

    The damping columns follow VALD's "short" convention: gamrad and gamqst are
    log10 of the radiative and Stark widths, gamvw is log10 of the van der Waals
    width per perturber (negative) or an ABO sigma.alpha (positive).
    """
    import pandas as pd
    from pysme.linelist.linelist import LineList

    table = pd.read_csv(path)
    needed = ["species", "wlcent", "excit", "gflog", "gamrad", "gamqst", "gamvw"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise SynthesisError(f"{path}: line list lacks column(s) {', '.join(missing)}")
    table = table[needed].copy()
    table["species"] = table["species"].astype(str).str.strip()
    return LineList(table, lineformat="short", medium="air")


def load_atmosphere(model_path, format: str | None = None):
    """PySME's own reader of ``model_path``: the check is that PySME accepts the file as written."""
    import formats

    fmt = format or formats.identify(model_path)
    if fmt == "marcs":
        from pysme.atmosphere.marcsfile import MarcsAtmosphere

        path = _plain_text_copy(model_path)
        return MarcsAtmosphere(path)
    if fmt == "atlas9":
        from pysme.atmosphere.krzfile import KrzFile

        return KrzFile(_plain_text_copy(model_path))
    raise SynthesisError(f"PySME reads {' and '.join(SUPPORTED_FORMATS)} files, not {fmt}")


def _plain_text_copy(path) -> str:
    """PySME opens files as plain text: gunzip ``.gz`` models to a temporary file first."""
    path = str(path)
    with open(path, "rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    if not gzipped:
        return path
    from formats.textio import read_bytes

    fd, tmp = tempfile.mkstemp(suffix=".mod")
    with os.fdopen(fd, "wb") as out:
        out.write(read_bytes(path))
    return tmp


#: Wavelength step [A] of the fixed synthesis grid.
WAVE_STEP = 0.002


def synthesize(model_path, linelist_path, wave_range=(5000.0, 5100.0), format: str | None = None):
    """Normalised LTE synthetic spectrum of ``model_path`` over ``wave_range`` [A]: (wave, flux)."""
    import logging

    logging.getLogger("pysme").setLevel(logging.WARNING)
    from pysme.sme import SME_Structure
    from pysme.synthesize import synthesize_spectrum

    atmo = load_atmosphere(model_path, format)
    sme = SME_Structure()
    sme.teff = atmo.teff
    sme.logg = atmo.logg
    sme.monh = getattr(atmo, "monh", 0.0) or 0.0
    sme.vmic = atmo.vturb
    sme.vmac = 0.0
    sme.vsini = 0.0
    sme.abund = atmo.abund
    sme.atmo = atmo
    sme.linelist = read_linelist(linelist_path)
    sme.wran = [list(map(float, wave_range))]
    sme.normalize_by_continuum = True
    sme.specific_intensities_only = False
    sme.iptype = "gauss"
    sme.ipres = 0
    sme.nlte.elements = []
    # A fixed wavelength grid (2 mA steps): PySME's adaptive grid depends on the model, and
    # comparing spectra of two models on two grids adds interpolation error at line cores
    # (1e-2 in normalised flux for a 0.1% change of RHOX).
    sme.wint = [np.arange(float(wave_range[0]), float(wave_range[1]) + 1e-9, WAVE_STEP)]
    sme = synthesize_spectrum(sme)
    return np.asarray(sme.wave[0], dtype=float), np.asarray(sme.synth[0], dtype=float)


def synthesize_in_subprocess(model_path, linelist_path, wave_range=(5000.0, 5100.0), timeout=300.0, format=None):
    """:func:`synthesize` in a fresh Python process, killed after ``timeout`` seconds.

    Returns (wave, flux) or raises SynthesisError with PySME's last words.
    """
    with tempfile.TemporaryDirectory(prefix="innterpol-synth-") as tmp:
        out = Path(tmp) / "spectrum.npz"
        request = json.dumps({
            "model": str(model_path), "linelist": str(linelist_path),
            "wave_range": list(wave_range), "format": format, "out": str(out),
        })
        try:
            result = subprocess.run(
                [sys.executable, "-m", "innterpol_cli.synth", request],
                capture_output=True, text=True, timeout=timeout,
                cwd=str(Path(__file__).resolve().parent.parent),
            )
        except subprocess.TimeoutExpired:
            raise SynthesisError(f"PySME did not finish within {timeout:g} s on {model_path}") from None
        if result.returncode != 0 or not out.exists():
            tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise SynthesisError(f"PySME failed on {model_path} (exit {result.returncode}): " + " | ".join(tail))
        with np.load(out) as data:
            return data["wave"], data["flux"]


def _worker(request: str) -> None:
    args = json.loads(request)
    wave, flux = synthesize(args["model"], args["linelist"], tuple(args["wave_range"]), args.get("format"))
    np.savez(args["out"], wave=wave, flux=flux)


if __name__ == "__main__":
    _worker(sys.argv[1])
