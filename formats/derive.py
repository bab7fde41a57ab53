"""The depth quantities a writer needs and its source may lack, derived in one place.

:data:`DERIVATIONS` says how each quantity is obtained from others (the inputs, the formula, what
it rests on); :data:`NEEDS` says what each format's writer needs, in the order it is checked, and
how the error names a quantity that neither the source nor physics gives.  :func:`complete` applies
them to one model, :func:`complete_arrays` to a batch of predicted models.

A log tau_Ross is never derived for a writer: integrated from ABROSS over RHOX it is off by up to
1 dex at the top of cool models, so a format that needs it (MARCS) takes it from the source only.
The readers of decks (ATLAS9, MOOG) integrate it for themselves, as the files carry no tau.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import MissingQuantityError
from .model import (
    Atmosphere,
    density_from_pressure,
    depth_from_column_mass,
    electron_density_from_pressure,
    electron_pressure_from_density,
    mean_molecular_weight_from_density,
    opacity_from_log_tau,
    sound_speed_from_pressure,
)


@dataclass(frozen=True)
class Derivation:
    """One way to obtain a quantity: ``formula(*inputs)``, whose inputs are layer quantities or the
    model parameter ``vmic`` (km/s)."""

    inputs: tuple[str, ...]
    formula: Callable[..., np.ndarray]
    #: The formula as ``innterpol convert`` reports it.
    how: str
    #: What it rests on.
    source: str


def _zeros(temperature) -> np.ndarray:
    return np.zeros(np.shape(temperature))


def _constant_microturbulence(vmic, temperature) -> np.ndarray:
    return np.full(np.shape(temperature), vmic * 1e5)


#: Written as 0 where the source lacks it (the CLI records that in its output's header).
_ZERO = Derivation(("temperature",), _zeros, "0", "a diagnostic that synthesis codes do not use")

#: Every derivable quantity and its ways, the first whose inputs are all there is taken.
DERIVATIONS: dict[str, tuple[Derivation, ...]] = {
    "electron_density": (Derivation(("electron_pressure", "temperature"), electron_density_from_pressure,
                                    "Ne = Pe / kT", "ideal gas of electrons"),),
    "electron_pressure": (Derivation(("electron_density", "temperature"), electron_pressure_from_density,
                                     "Pe = Ne kT", "ideal gas of electrons"),),
    "rosseland_opacity": (Derivation(("column_mass", "log_tau_ross"), opacity_from_log_tau, "kappa_Ross = d tau_Ross / d RHOX",
                                     "the definition of optical depth, d tau = kappa d(RHOX), differentiated in log space"),),
    "density": (Derivation(("gas_pressure", "temperature", "mean_molecular_weight"), density_from_pressure,
                           "rho = Pg mu m_u / kT", "ideal gas"),),
    "mean_molecular_weight": (Derivation(("density", "gas_pressure", "temperature"), mean_molecular_weight_from_density,
                                         "mu = rho kT / (Pg m_u)", "ideal gas"),),
    "depth": (Derivation(("column_mass", "density", "log_tau_ross"), depth_from_column_mass, "dz = d RHOX / rho",
                         "the definition of column mass, d(RHOX) = rho dz; zero at tau_Ross = 1 as in MARCS files"),),
    "microturbulence": (Derivation(("vmic", "temperature"), _constant_microturbulence, "VTURB = vmic",
                                   "the model's microturbulence at every depth, as in the CK04 decks"),),
    "sound_speed": (Derivation(("gas_pressure", "density"), sound_speed_from_pressure, "c_s = sqrt(5/3 P / rho)",
                               "adiabatic sound speed of an ideal monatomic gas"), _ZERO),
    "radiative_acceleration": (_ZERO,),
    "convective_flux_fraction": (_ZERO,),
    "convective_velocity": (_ZERO,),
    # Zero in every model of the MARCS 2008 (SDSS) grid.
    "turbulent_pressure": (_ZERO,),
}


@dataclass(frozen=True)
class Need:
    """A quantity a writer needs; ``missing`` is the error when neither the source nor
    :data:`DERIVATIONS` gives it (None where a derivation always applies)."""

    quantity: str
    missing: str | None = None


def _kurucz_structure(code: str) -> tuple[Need, ...]:
    """RHOX, T, P, XNE and ABROSS: the structure columns of a Kurucz deck, which MOOG's KURUCZ layout shares."""
    both = f"{code} needs temperature and gas pressure"
    return (
        Need("column_mass", f"{code} needs the mass column RHOX (column_mass), which the source lacks"),
        Need("temperature", both),
        Need("gas_pressure", both),
        Need("electron_density", f"{code} needs the electron density XNE (or electron pressure), which the source lacks"),
        Need("rosseland_opacity", f"{code} needs ABROSS (rosseland_opacity) or log tau_Ross to derive it"),
    )


def _from_source(code: str, quantity: str, what: str | None = None) -> Need:
    return Need(quantity, f"{code} needs {what or quantity.replace('_', ' ')}, which the source lacks")


#: What each format's writer needs, in the order checked (the first missing one is the error).
#: Formats not listed (the FITS table) write whatever the model has.
NEEDS: dict[str, tuple[Need, ...]] = {
    "atlas9": _kurucz_structure("ATLAS9") + tuple(Need(q) for q in (
        "radiative_acceleration", "microturbulence", "convective_flux_fraction", "convective_velocity", "sound_speed")),
    "moog": _kurucz_structure("MOOG"),
    "marcs": (
        _from_source("MARCS", "temperature"),
        _from_source("MARCS", "gas_pressure"),
        Need("log_tau_5000", "MARCS needs lgTau5 (log tau at 5000 A), which the source lacks and which only an opacity "
                             "code can compute"),
        _from_source("MARCS", "electron_pressure", "the electron pressure Pe (or electron density)"),
        _from_source("MARCS", "log_tau_ross", "lgTauR (log tau_Ross)"),
        _from_source("MARCS", "density", "the density (or the mean molecular weight)"),
        Need("mean_molecular_weight"),
        _from_source("MARCS", "column_mass", "the mass column RHOX"),
        Need("rosseland_opacity"),
        Need("depth"),
        _from_source("MARCS", "radiation_pressure", "the radiation pressure Prad"),
        Need("turbulent_pressure"),
        Need("convective_velocity"),
        Need("convective_flux_fraction"),
    ),
    "phoenix": (
        Need("tau_std", "PHOENIX needs tau, its standard optical depth (continuum at 1.2 um), which the source lacks "
                        "and which only an opacity code can compute"),
        _from_source("PHOENIX", "temperature"),
        _from_source("PHOENIX", "gas_pressure"),
        _from_source("PHOENIX", "density", "the density rho (or the mean molecular weight)"),
        _from_source("PHOENIX", "electron_pressure", "the electron pressure pe (or electron density)"),
    ),
}


def complete(model: Atmosphere | dict, format: str, vmic: float | None = None) -> dict[str, np.ndarray]:
    """The layers of ``model`` (an Atmosphere, or its layers with ``vmic`` in km/s) with every
    quantity that ``format``'s writer needs, derived where the source lacks it; MissingQuantityError,
    naming the quantity, where it cannot be derived.  The model is not changed."""
    if isinstance(model, Atmosphere):
        layers, vmic = dict(model.layers), model.vmic
    else:
        layers = dict(model)
    return _complete(layers, {} if vmic is None else {"vmic": vmic}, format, strict=True)


def complete_arrays(family: str, arrays: dict[str, np.ndarray], log_tau, depth_layer: str = "log_tau_ross") -> dict[str, np.ndarray]:
    """Predicted channels (N, D) of a batch of ``family`` models plus their depth scale
    (``log_tau`` (D,), as ``depth_layer``) and what :func:`complete` derives from them for the
    family's own format (ATLAS9's ABROSS, MARCS's zero turbulent pressure); what needs a model's
    parameters (VTURB) is left to the writer."""
    out = dict(arrays)
    n = len(next(iter(arrays.values())))
    out[depth_layer] = np.broadcast_to(log_tau, (n, len(log_tau))).copy()
    return _complete(out, {}, family, strict=False)


def _complete(layers: dict, parameters: dict, format: str, strict: bool) -> dict[str, np.ndarray]:
    for need in NEEDS.get(format, ()):
        if need.quantity in layers:
            continue
        for way in DERIVATIONS.get(need.quantity, ()):
            if all(name in layers or name in parameters for name in way.inputs):
                layers[need.quantity] = way.formula(*(layers[n] if n in layers else parameters[n] for n in way.inputs))
                break
        else:
            if strict:
                raise MissingQuantityError(need.missing or f"{format} needs {need.quantity}, which the source lacks")
    return layers


def derived(atm: Atmosphere, format: str) -> dict[str, np.ndarray]:
    """The quantities (name: values) that writing ``atm`` as ``format`` derives or fills, absent from
    the source; MissingQuantityError, naming the quantity, when one cannot be derived."""
    return {name: values for name, values in complete(atm, format).items() if name not in atm.layers}


def how(quantity: str) -> str:
    """How ``quantity`` is derived, in words (``Ne = Pe / kT``)."""
    ways = DERIVATIONS.get(quantity)
    return ways[0].how if ways else "see docs/formats.md"
