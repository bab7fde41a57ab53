"""The one in-memory model of a stellar atmosphere, shared by every format.

Readers convert into :class:`Atmosphere`; writers convert out of it.  All
depth-dependent quantities live in ``Atmosphere.layers`` under the full,
physical names below, in CGS units:

==========================  ==========  =========================================
name                        unit        meaning (native column)
==========================  ==========  =========================================
log_tau_ross                (log10)     Rosseland optical depth (MARCS lgTauR)
log_tau_5000                (log10)     optical depth at 5000 A (MARCS lgTau5)
column_mass                 g / cm2     mass column RHOX (ATLAS9 RHOX)
temperature                 K           T
gas_pressure                dyn / cm2   P (ATLAS9), Pg (MARCS), pgas (PHOENIX)
electron_density            1 / cm3     XNE (ATLAS9)
electron_pressure           dyn / cm2   Pe (MARCS), pe (PHOENIX)
rosseland_opacity           cm2 / g     ABROSS (ATLAS9), KappaRoss (MARCS)
radiative_acceleration      cm / s2     ACCRAD (ATLAS9)
microturbulence             cm / s      VTURB (ATLAS9)
convective_flux_fraction    1           FLXCNV (ATLAS9), Fconv/F (MARCS)
convective_velocity         cm / s      VCONV (ATLAS9), Vconv (MARCS)
sound_speed                 cm / s      VELSND (ATLAS9)
depth                       cm          geometric depth, 0 at tau_Ross = 1 (MARCS)
radiation_pressure          dyn / cm2   Prad (MARCS)
turbulent_pressure          dyn / cm2   Pturb (MARCS)
density                     g / cm3     Density (MARCS), rho (PHOENIX)
mean_molecular_weight       1           Mu (MARCS)
tau_std                     1           PHOENIX's standard optical depth (tau), linear
==========================  ==========  =========================================

MARCS' "Assorted logarithmic partial pressures" are kept, by their native
column names (``lgPgas``, ``H I``, ``H-`` ...), in ``partial_pressures`` as
log10 of the pressure in dyn / cm2.

``tau_std`` is the optical depth of PHOENIX structure files, kept linear because
their first layer is tau = 0.  It is PHOENIX's standard (reference-wavelength
continuum) scale, not Rosseland: see ``formats/phoenix.py``.

Abundances are ``log10(N_X / N_H) + 12`` for Z = 1, 2, ... (``-99`` or below
-8 means absent), the convention of MARCS files.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

#: Unit of every layer quantity, as an astropy-parsable string ("" is dimensionless).
LAYER_UNITS: dict[str, str] = {
    "log_tau_ross": "",
    "log_tau_5000": "",
    "column_mass": "g / cm2",
    "temperature": "K",
    "gas_pressure": "dyn / cm2",
    "electron_density": "1 / cm3",
    "electron_pressure": "dyn / cm2",
    "rosseland_opacity": "cm2 / g",
    "radiative_acceleration": "cm / s2",
    "microturbulence": "cm / s",
    "convective_flux_fraction": "",
    "convective_velocity": "cm / s",
    "sound_speed": "cm / s",
    "depth": "cm",
    "radiation_pressure": "dyn / cm2",
    "turbulent_pressure": "dyn / cm2",
    "density": "g / cm3",
    "mean_molecular_weight": "",
    "tau_std": "",
}

PLANE_PARALLEL = "plane-parallel"
SPHERICAL = "spherical"

#: The parameters that define a model, in the order used for grid axes.
PARAMETER_NAMES = ("teff", "logg", "mh", "am", "cm")


@dataclass
class Atmosphere:
    """A 1D model atmosphere.

    Parameters are Teff [K], log g [cgs], [M/H], [alpha/M], [C/M] [dex],
    microturbulence ``vmic`` [km/s], ``geometry`` (plane-parallel or
    spherical), and for spherical models ``mass`` [Msun] and ``radius`` [cm]
    (at tau_Ross = 1).  ``extra`` holds format-specific scalars and text
    (titles, flux, luminosity ...) so that a round trip through FITS loses
    nothing; it must stay JSON-serialisable.  ``uncertainty`` holds the 1-sigma
    uncertainty of layer quantities (same names and units as ``layers``), for
    models that carry one (innterpol's predictions).
    """

    teff: float
    logg: float
    mh: float = 0.0
    am: float = 0.0
    cm: float = 0.0
    vmic: float = 2.0
    geometry: str = PLANE_PARALLEL
    mass: float | None = None
    radius: float | None = None
    abundances: np.ndarray = field(default_factory=lambda: np.zeros(0))
    layers: dict[str, np.ndarray] = field(default_factory=dict)
    partial_pressures: dict[str, np.ndarray] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    uncertainty: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.abundances = np.asarray(self.abundances, dtype=float)
        for table in (self.layers, self.uncertainty):
            for name, values in table.items():
                if name not in LAYER_UNITS:
                    raise ValueError(f"unknown layer quantity {name!r}; known: {', '.join(LAYER_UNITS)}")
                table[name] = np.asarray(values, dtype=float)
        for name, values in self.partial_pressures.items():
            self.partial_pressures[name] = np.asarray(values, dtype=float)
        if self.geometry not in (PLANE_PARALLEL, SPHERICAL):
            raise ValueError(f"geometry must be {PLANE_PARALLEL!r} or {SPHERICAL!r}, not {self.geometry!r}")

    @property
    def ndepth(self) -> int:
        return len(next(iter(self.layers.values()))) if self.layers else 0

    @property
    def parameters(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in PARAMETER_NAMES}

    def has(self, *names: str) -> bool:
        return all(name in self.layers for name in names)

    def quantity(self, name: str):
        """The layer ``name`` as an astropy Quantity (imports astropy)."""
        import astropy.units as u

        return self.layers[name] * u.Unit(LAYER_UNITS[name] or "")

    def copy(self) -> Atmosphere:
        return replace(
            self,
            abundances=self.abundances.copy(),
            layers={k: v.copy() for k, v in self.layers.items()},
            partial_pressures={k: v.copy() for k, v in self.partial_pressures.items()},
            extra=dict(self.extra),
            uncertainty={k: v.copy() for k, v in self.uncertainty.items()},
        )

    def describe(self) -> str:
        text = f"Teff={self.teff:g} logg={self.logg:g} [M/H]={self.mh:+g}"
        if self.am:
            text += f" [a/M]={self.am:+g}"
        if self.cm:
            text += f" [C/M]={self.cm:+g}"
        return text


def solar_abundances() -> np.ndarray:
    """Solar log eps (H = 12) for Z = 1..92: Grevesse, Asplund & Sauval (2007), as in MARCS 2008 files."""
    return np.array(_GAS07, dtype=float)


def scaled_abundances(mh: float, am: float = 0.0, cm: float = 0.0) -> np.ndarray:
    """Solar abundances scaled by [M/H], with alpha elements (O, Ne, Mg, Si, S, Ar, Ca, Ti) by [alpha/M] and C by [C/M]."""
    eps = solar_abundances()
    eps[2:] += mh
    for z in ALPHA_ELEMENTS:
        eps[z - 1] += am
    eps[5] += cm
    eps[eps < -20] = -99.0
    return eps


ALPHA_ELEMENTS = (8, 10, 12, 14, 16, 18, 20, 22)

# Grevesse, Asplund & Sauval (2007, Space Sci. Rev. 130, 105) as printed in MARCS files; -99 = absent.
_GAS07 = [
    12.00, 10.93, 1.05, 1.38, 2.70, 8.39, 7.78, 8.66, 4.56, 7.84,
    6.17, 7.53, 6.37, 7.51, 5.36, 7.14, 5.50, 6.18, 5.08, 6.31,
    3.17, 4.90, 4.00, 5.64, 5.39, 7.45, 4.92, 6.23, 4.21, 4.60,
    2.88, 3.58, 2.29, 3.33, 2.56, 3.25, 2.60, 2.92, 2.21, 2.58,
    1.42, 1.92, -99.00, 1.84, 1.12, 1.66, 0.94, 1.77, 1.60, 2.00,
    1.00, 2.19, 1.51, 2.24, 1.07, 2.17, 1.13, 1.70, 0.58, 1.45,
    -99.00, 1.00, 0.52, 1.11, 0.28, 1.14, 0.51, 0.93, 0.00, 1.08,
    0.06, 0.88, -0.17, 1.11, 0.23, 1.25, 1.38, 1.64, 1.01, 1.13,
    0.90, 2.00, 0.65, -99.00, -99.00, -99.00, -99.00, -99.00, -99.00, 0.06,
    -99.00, -0.52,
]

#: Atomic masses [u] of Z = 1..92, for mass fractions (X, Y, Z).  Standard atomic weights, with
#: H = 1.0079 as in MARCS: with it, the X, Y, Z that MARCS prints come back to the last digit.
ATOMIC_MASSES = (
    1.0079, 4.0026, 6.94, 9.0122, 10.81, 12.011, 14.007, 15.999, 18.998, 20.180,
    22.990, 24.305, 26.982, 28.085, 30.974, 32.06, 35.45, 39.948, 39.098, 40.078,
    44.956, 47.867, 50.942, 51.996, 54.938, 55.845, 58.933, 58.693, 63.546, 65.38,
    69.723, 72.630, 74.922, 78.971, 79.904, 83.798, 85.468, 87.62, 88.906, 91.224,
    92.906, 95.95, 97.0, 101.07, 102.91, 106.42, 107.87, 112.41, 114.82, 118.71,
    121.76, 127.60, 126.90, 131.29, 132.91, 137.33, 138.91, 140.12, 140.91, 144.24,
    145.0, 150.36, 151.96, 157.25, 158.93, 162.50, 164.93, 167.26, 168.93, 173.05,
    174.97, 178.49, 180.95, 183.84, 186.21, 190.23, 192.22, 195.08, 196.97, 200.59,
    204.38, 207.2, 208.98, 209.0, 210.0, 222.0, 223.0, 226.0, 227.0, 232.04,
    231.04, 238.03,
)

# Physical constants (CGS, CODATA 2018) used by the derivations below.
BOLTZMANN = 1.380649e-16  # erg / K
ATOMIC_MASS_UNIT = 1.66053906660e-24  # g


def log_tau_from_opacity(column_mass: np.ndarray, opacity: np.ndarray) -> np.ndarray:
    """log10 tau_Ross from tau = integral of kappa d(RHOX) (trapezoid).

    The first point gets tau_1 = kappa_1 * RHOX_1 (an isothermal, constant-opacity
    top), the usual ATLAS convention for the outermost layer.
    """
    tau = np.empty_like(column_mass)
    tau[0] = opacity[0] * column_mass[0]
    tau[1:] = tau[0] + np.cumsum(0.5 * (opacity[1:] + opacity[:-1]) * np.diff(column_mass))
    # A broken model (RHOX decreasing, a negative opacity) gives tau <= 0: NaN here, which the
    # check then reports by name, without numpy's RuntimeWarning on the way.
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log10(tau)


def opacity_from_log_tau(column_mass: np.ndarray, log_tau: np.ndarray) -> np.ndarray:
    """kappa_Ross = d tau / d RHOX, differentiated in log space for accuracy on a log grid:
    d tau / d RHOX = (tau / RHOX) * d ln tau / d ln RHOX."""
    column_mass = np.asarray(column_mass, dtype=float)
    ln_tau = np.log(10.0) * np.broadcast_to(np.asarray(log_tau, dtype=float), column_mass.shape)
    slope = gradient(ln_tau, np.log(column_mass))
    return np.exp(ln_tau) / column_mass * slope


def gradient(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dy/dx along the last axis, as numpy.gradient (second order inside, first order at the
    ends) but for a different x in every row."""
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    out = np.empty(np.broadcast_shapes(y.shape, x.shape))
    h = np.diff(x, axis=-1)
    hl, hr = h[..., :-1], h[..., 1:]
    out[..., 1:-1] = (hl**2 * y[..., 2:] - hr**2 * y[..., :-2] + (hr**2 - hl**2) * y[..., 1:-1]) / (hl * hr * (hl + hr))
    out[..., 0] = (y[..., 1] - y[..., 0]) / h[..., 0]
    out[..., -1] = (y[..., -1] - y[..., -2]) / h[..., -1]
    return out


def electron_pressure_from_density(electron_density, temperature):
    """Pe = Ne k T (ideal gas)."""
    return np.asarray(electron_density) * BOLTZMANN * np.asarray(temperature)


def electron_density_from_pressure(electron_pressure, temperature):
    """Ne = Pe / (k T) (ideal gas)."""
    return np.asarray(electron_pressure) / (BOLTZMANN * np.asarray(temperature))


def density_from_pressure(gas_pressure, temperature, mean_molecular_weight):
    """rho = Pg mu m_u / (k T) (ideal gas)."""
    return np.asarray(gas_pressure) * np.asarray(mean_molecular_weight) * ATOMIC_MASS_UNIT / (
        BOLTZMANN * np.asarray(temperature)
    )


def mean_molecular_weight_from_density(density, gas_pressure, temperature):
    """mu = rho k T / (Pg m_u) (ideal gas)."""
    return np.asarray(density) * BOLTZMANN * np.asarray(temperature) / (
        np.asarray(gas_pressure) * ATOMIC_MASS_UNIT
    )


def sound_speed_from_pressure(gas_pressure, density):
    """c_s = sqrt(Gamma_1 P / rho) with Gamma_1 = 5/3: the adiabatic sound speed of an ideal monatomic gas."""
    return np.sqrt(5.0 / 3.0 * np.asarray(gas_pressure) / np.asarray(density))


def depth_from_column_mass(column_mass, density, log_tau_ross):
    """Geometric depth z with dz = d(RHOX) / rho, zero where log tau_Ross = 0 (the MARCS convention)."""
    column_mass = np.asarray(column_mass, dtype=float)
    density = np.asarray(density, dtype=float)
    # Integrate in ln RHOX: dz = RHOX / rho d ln RHOX, smoother on a log depth grid.
    integrand = column_mass / density
    ln_m = np.log(column_mass)
    z = np.concatenate([[0.0], np.cumsum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(ln_m))])
    return z - np.interp(0.0, np.asarray(log_tau_ross), z)
