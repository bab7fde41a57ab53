"""Inference in numpy from a weights file: no torch on the predict path.

Mirrors :class:`innterpol_cli.nn.AtmosphereNet` layer by layer.
"""

from __future__ import annotations

import numpy as np


def _elu(x: np.ndarray) -> np.ndarray:
    out = np.expm1(np.minimum(x, 0.0))
    out += np.maximum(x, 0.0)
    return out


def _silu(x: np.ndarray) -> np.ndarray:
    """x * sigmoid(x), written with tanh so that no exp overflows."""
    return x * (0.5 + 0.5 * np.tanh(0.5 * x))


def _linear(x, t, name):
    return x @ t[f"{name}.weight"].T + t[f"{name}.bias"]


def _conv_transpose1d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """torch.nn.functional.conv_transpose1d, channels last: x (B, L, Cin), weight (Cin, Cout, K) -> (B, L', Cout).

    Input position i through kernel tap k lands at output position i*stride + k: one matrix
    product gives every (i, k) contribution, and each tap is then added with a strided slice.
    """
    batch, length, cin = x.shape
    _, cout, kernel = weight.shape
    full = (length - 1) * stride + kernel
    contrib = (x.reshape(-1, cin) @ weight.transpose(0, 2, 1).reshape(cin, kernel * cout)).reshape(batch, length, kernel, cout)
    out = np.zeros((batch, full, cout), dtype=np.result_type(x, weight))
    for k in range(kernel):
        out[:, k: k + stride * (length - 1) + 1: stride] += contrib[:, :, k]
    out = out[:, padding: full - padding]
    out += bias
    return out


def _mlp(t: dict[str, np.ndarray], prefix: str, layers: int, x: np.ndarray) -> np.ndarray:
    """:class:`innterpol_cli.nn.ProfileNet`: SiLU layers, a linear output."""
    h = _silu(_linear(x, t, f"{prefix}.inp"))
    for i in range(layers - 1):
        h = _silu(_linear(h, t, f"{prefix}.hidden.{i}"))
    return _linear(h, t, f"{prefix}.out")


def structure_prefix(member: int) -> str:
    """The tensor names' prefix of structure network ``member`` of the ensemble: ``structure``,
    ``structure1``, ``structure2``, ..."""
    return "structure" if member == 0 else f"structure{member}"


def structure_profiles(tensors: dict[str, np.ndarray], structure: dict, arrays: dict, params: np.ndarray) -> np.ndarray:
    """Normalised parameters (B, P) -> the structure channels ``structure["channels"]`` in their
    standard representation (B, C', D): the mean of the ensemble's members in standardised units,
    then unstandardised with ``structure/mean`` and ``structure/scale``."""
    from .encoding import ProfileScaling

    members = structure.get("members", 1)
    standard = sum(_mlp(tensors, structure_prefix(k), structure["layers"], params) for k in range(members)) / members
    standard = standard.reshape(len(params), len(structure["channels"]), -1)
    return ProfileScaling(arrays["structure/mean"], arrays["structure/scale"]).denormalise(standard)


def profiles(tensors: dict[str, np.ndarray], meta: dict, arrays: dict | None, mean: np.ndarray, scale: np.ndarray,
             params: np.ndarray) -> np.ndarray:
    """Normalised parameters (B, P) -> the network's normalised profiles (B, C, D): the main
    network, with the structure channels (``meta["structure"]``: RHOX, T, P, Ne / Pe) taken from
    the structure network where the weights have one (the mean of the ensemble's members, in
    standardised units, where ``meta["structure"]["members"]`` > 1).  Training and inference both call this."""
    out = forward(tensors, meta["config"], params)
    structure = meta.get("structure")
    if not structure or not arrays or "structure/mean" not in arrays:
        return out
    from .encoding import Channel, ProfileScaling

    channels = structure["channels"]
    standard = structure_profiles(tensors, structure, arrays, params)
    main = ProfileScaling(mean, scale)
    out = np.array(out)
    for i, c in enumerate(channels):
        ch = Channel.from_dict(meta["channels"][c])
        values = standard[:, i]
        if ch.transform == "steps":  # monotone first, then the top value and log increments
            values = ch.increasing(values)
        learned = ch.forward(ch.from_standard(values)) if ch.transform == "steps" else values
        out[:, c] = main.normalise(learned, channel=c)
    return out


def forward(tensors: dict[str, np.ndarray], cfg: dict, params: np.ndarray) -> np.ndarray:
    """Normalised parameters (B, P) -> normalised profiles (B, C, D) of the main network."""
    t = tensors
    n_channels, n_depth = cfg["n_channels"], cfg["n_depth"]
    if cfg["method"] == "mlp":
        return _mlp(t, "net", cfg["layers"], params).reshape(-1, n_channels, n_depth)
    h = _elu(_linear(params, t, "net.inp"))
    for i in range(cfg["layers"] - 1):
        h = h + _elu(_linear(h, t, f"net.hidden.{i}"))
    z = _linear(h, t, "net.out")
    lin = _linear(z, t, "decoder.linear").reshape(-1, n_channels, n_depth)
    if cfg["method"] == "pca":
        return lin
    c2 = 2 * cfg["conv_width"]
    reduced = (-(-n_depth // 4) * 4) // 4
    # torch's view is (B, C, L); the convolutions run channels last, (B, L, C), so that each is one matrix product.
    h = _elu(_linear(z, t, "decoder.dense")).reshape(-1, c2, reduced).transpose(0, 2, 1)
    h = _elu(_conv_transpose1d(h, t["decoder.deconv1.weight"], t["decoder.deconv1.bias"], 2, 1))
    h = _conv_transpose1d(h, t["decoder.deconv2.weight"], t["decoder.deconv2.bias"], 2, 1)[:, :n_depth]
    return h.transpose(0, 2, 1) + lin
