"""Predicted arrays -> complete :class:`formats.Atmosphere` objects.

What a weights file's family derives from the predicted channels (the depth scale, ATLAS9's
ABROSS, MARCS's zero turbulent pressure), and everything a writer needs beside the depth
quantities: geometry, microturbulence, scaled abundances, titles and provenance.
"""

from __future__ import annotations

import math

import numpy as np

from formats import derive
from formats.model import ALPHA_ELEMENTS, PLANE_PARALLEL, SPHERICAL, Atmosphere, scaled_abundances

from . import __version__
from .coverage import OUTSIDE, STATUS_LABELS

G_CGS = 6.67430e-8  # cm3 g-1 s-2 (CODATA 2018)
M_SUN = 1.98841e33  # g (IAU 2015 nominal GM_sun / G)


class Assembler:
    """Turns predicted arrays of a weights file's models into complete atmospheres."""

    def __init__(self, meta: dict, weights_name: str):
        self.meta = meta
        self.family = meta["family"]
        self.axes = list(meta["axes"])
        self.log_tau = np.array(meta["log_tau"])
        self.weights_name = weights_name

    def complete(self, out: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        """Predicted channels (N, D) of ``n`` models plus what the family derives from them:
        the depth scale, ATLAS9's ABROSS, MARCS's zero turbulent pressure."""
        return derive.complete_arrays(self.family, out, self.log_tau, self.meta.get("depth_layer", "log_tau_ross"))

    def atmosphere(self, row: np.ndarray, arrays: dict[str, np.ndarray], status: int) -> Atmosphere:
        """One atmosphere from a parameter row, its completed arrays (D,) and its coverage status."""
        p = dict(zip(self.axes, map(float, row)))
        teff, logg = p["teff"], p["logg"]
        mh, am, cm = p.get("mh", 0.0), p.get("am", 0.0), p.get("cm", 0.0)
        fixed = self.meta.get("fixed", {})
        geometry, mass, radius = PLANE_PARALLEL, None, None
        if "spherical_max_logg" in fixed:
            # Spherical up to the grid's last spherical log g (3.0), plane-parallel from its first
            # plane-parallel one (3.5); in between, the midpoint (3.25) decides.
            cut = 0.5 * (fixed["spherical_max_logg"] + fixed["plane_parallel_min_logg"])
            if logg < cut:
                geometry, mass = SPHERICAL, fixed.get("mass", 1.0)
                radius = math.sqrt(G_CGS * mass * M_SUN / 10.0**logg)
        vmic_table = fixed.get("vmic_by_geometry") or {}
        vmic = vmic_table.get(geometry) or (fixed.get("vmic") or [2.0])[0]
        layers = {k: v for k, v in arrays.items() if not k.startswith("pp:") and not k.endswith("_sigma")}
        partial = {}
        if any(k.startswith("pp:") for k in arrays):
            partial["lgPgas"] = np.log10(arrays["gas_pressure"])
            partial.update({k[3:]: v for k, v in arrays.items() if k.startswith("pp:") and not k.endswith("_sigma")})
        if self.family == "atlas9":
            layers["microturbulence"] = np.full(len(self.log_tau), vmic * 1e5)
        reference = self.meta.get("reference", {})
        abundances = scaled(reference, mh, am)
        label = STATUS_LABELS[int(status)]
        note = f"innterpol {__version__} {label} with {self.weights_name}"
        extra = dict(reference.get("extra", {}))
        # The reference model's H and He number fractions, X, Y, Z, abundance scale and PRADK
        # belong to its own parameters: the writers derive this model's from its abundances and Teff.
        for key in ("kurucz_h_he", "marcs_xyz", "abundance_scale", "pradk", "marcs_name"):
            extra.pop(key, None)
        extra["innterpol"] = note
        sigma = {k[:-6]: v for k, v in arrays.items() if k.endswith("_sigma") and k[:-6] in layers}
        summary = ""
        if "temperature" in sigma:
            relative = 100.0 * sigma["temperature"] / arrays["temperature"]
            k = int(np.argmax(relative))
            extra["sigma_t_max_percent"] = float(relative[k])
            summary = f"max sigma(T) {relative[k]:.2g}% at log tau {self.log_tau[k]:.1f}"
            extra["sigma_summary"] = summary
        extra["atlas9_title"] = self._atlas9_title(mh, am, vmic, status, summary)
        # Line 1 of a MARCS file is the model's MARCS name, which the writer builds (Turbospectrum
        # takes a line 1 not starting with 's' or 'p' for another format); the note goes on line 2.
        extra["marcs_teff_comment"] = f" {note}" + (f"; {summary}" if summary else "")
        extra["status"] = label
        return Atmosphere(teff=teff, logg=logg, mh=mh, am=am, cm=cm, vmic=vmic, geometry=geometry, mass=mass,
                          radius=radius, abundances=abundances, layers=layers, partial_pressures=partial, extra=extra,
                          source=f"innterpol:{self.weights_name}", uncertainty=sigma)

    def _atlas9_title(self, mh: float, am: float, vmic: float, status: int, summary: str) -> str:
        """The deck's TITLE line, at most 80 characters.

        VTURB= and L/H= as in the CK04 titles: PySME's KrzFile takes the microturbulence from this
        line (without it, vturb = 0).  [M/H] to 0.01 dex, so that readers (innterpol's, PySME's)
        get back what was predicted.  The uncertainty summary goes here too: a deck has no other
        free-text line."""
        short = "EXTRAPOLATED" if int(status) == OUTSIDE else ""
        start = f"TITLE  [{mh:+.2f}{'a' if am >= 0.2 else ''}] VTURB={vmic:g}  L/H=1.25 innterpol"
        texts = (summary, summary.replace("max ", "")) if summary else ()
        titles = [" ".join(filter(None, (start, version, short, text))) for version in (__version__, "") for text in texts]
        titles.append(f"{start} {__version__} {short or 'interpolated'} {self.weights_name}"[:80])
        return next(t for t in titles if len(t) <= 80)


def scaled(reference: dict, mh: float, am: float) -> np.ndarray:
    """The reference model's abundances (log eps) scaled to [M/H] and [alpha/M]; the standard
    solar mixture scaled when the weights carry none."""
    if not reference.get("abundances"):
        return scaled_abundances(mh, am)
    eps = np.array(reference["abundances"], dtype=float)
    present = eps > -20
    eps[2:] = np.where(present[2:], eps[2:] + mh, eps[2:])
    for z in ALPHA_ELEMENTS:
        if z - 1 < len(eps) and present[z - 1]:
            eps[z - 1] += am - reference.get("abundances_am", 0.0)
    return eps
