"""The blend weights' fit (innterpol_cli.hybridfit.fit_alpha) on a synthetic lattice: where the
network knows what the stencil misses it gets the weight, where it is noise it does not, and the
hydrostatic pair RHOX / P_gas shares one weight, chosen jointly, whatever the radiative terms do."""

from __future__ import annotations

import numpy as np

from innterpol_cli import hybridfit

DEPTHS = 4


def lattice():
    """A 12 x 12 lattice of (Teff-like, log g-like) nodes, every third node of the interior held
    out for validation, the rest fitted."""
    a, b = np.meshgrid(np.arange(12.0), np.arange(12.0), indexing="ij")
    nodes = np.column_stack([a.ravel(), b.ravel()])
    interior = (nodes[:, 0] > 1) & (nodes[:, 0] < 10) & (nodes[:, 1] > 1) & (nodes[:, 1] < 10)
    val = np.where(interior & ((nodes[:, 0] + 2 * nodes[:, 1]) % 3 == 0))[0]
    fit = np.setdiff1d(np.arange(len(nodes)), val)
    return nodes, fit, val


def channels(nodes, rng, quality):
    """truth, network (N, C * DEPTHS): each channel a profile with a sharp bump in the parameters
    (which a cubic stencil misses); the network is that truth plus noise of ``quality[c]`` (0: it
    knows the bump exactly; large: it is noise)."""
    truth, network = [], []
    for q in quality:
        bump = np.exp(-((nodes[:, 0] - 5.5) ** 2 + (nodes[:, 1] - 4.5) ** 2) / 1.5)
        depth = np.linspace(0.5, 1.5, DEPTHS)
        t = 0.05 * nodes[:, :1] + bump[:, None] * depth[None]
        truth.append(t)
        network.append(t + q * rng.standard_normal(t.shape))
    return np.concatenate(truth, axis=1), np.concatenate(network, axis=1)


def per_channel(alpha, n):
    """alpha (P, C * DEPTHS) -> (P, C): one weight per channel (constant over its depths)."""
    out = alpha.reshape(alpha.shape[0], n, DEPTHS)
    assert np.all(out == out[:, :, :1]), "a channel's weight must be one number over its depths"
    return out[:, :, 0]


def test_a_network_that_knows_what_the_stencil_misses_gets_the_weight_and_noise_does_not():
    nodes, fit, val = lattice()
    truth, network = channels(nodes, np.random.default_rng(0), [0.0, 1.0])
    alpha, alpha_linear, counts = hybridfit.fit_alpha(nodes, truth, network, fit, val, DEPTHS,
                                                      names=["temperature", "convective_velocity"])
    assert counts[0] > 0 and counts[1] > 0
    weights = per_channel(alpha, 2)
    assert np.all(weights[:, 0] == 1.0), weights
    assert np.all(weights[:, 1] == 0.0), weights


def test_rhox_and_gas_pressure_share_one_weight_and_the_radiative_term_keeps_its_own():
    """A noisy radiative acceleration used to drag the tied RHOX and P_gas to alpha 0 (the
    smallest of the tied weights); now the pair is chosen jointly and the radiative term alone
    is left at 0."""
    nodes, fit, val = lattice()
    names = ["column_mass", "gas_pressure", "radiative_acceleration"]
    truth, network = channels(nodes, np.random.default_rng(1), [0.0, 0.002, 1.0])
    alpha, alpha_linear, _ = hybridfit.fit_alpha(nodes, truth, network, fit, val, DEPTHS, names=names)
    for weights in (per_channel(alpha, 3), per_channel(alpha_linear, 3)):
        assert np.all(weights[:, 0] == weights[:, 1]), weights
        assert np.all(weights[:, 0] == 1.0), weights
        assert np.all(weights[:, 2] == 0.0), weights

