"""The networks: a 1D convolutional auto-encoder (CAE) and a deep residual network from
parameters to its latent vector (after Paper Sect. 3.3), the PCA variant (Sect. 3.1), and the
direct regression of the profiles (``mlp``, the default: the measured winner).

No I/O here.  Every layer used by inference has a numpy twin in :mod:`innterpol_cli.engine`;
a test checks that both agree to 1e-6.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class NetConfig:
    n_params: int
    n_channels: int
    n_depth: int
    method: str = "mlp"  # "mlp" (profiles directly), "cae" or "pca" (a latent vector, decoded)
    latent: int = 32
    layers: int = 6  # hidden layers of the parameter network
    width: int = 256
    conv_width: int = 64  # channels of the first convolution; the second has twice as many

    @property
    def padded_depth(self) -> int:
        """Depth points padded up to a multiple of 4, for two stride-2 convolutions."""
        return -(-self.n_depth // 4) * 4

    def to_dict(self) -> dict:
        return asdict(self)


class Encoder(nn.Module):
    def __init__(self, cfg: NetConfig):
        super().__init__()
        c1, c2 = cfg.conv_width, 2 * cfg.conv_width
        self.conv1 = nn.Conv1d(cfg.n_channels, c1, 5, stride=2, padding=2)
        self.conv2 = nn.Conv1d(c1, c2, 5, stride=2, padding=2)
        self.to_latent = nn.Linear(c2 * (cfg.padded_depth // 4), cfg.latent)
        self.act = nn.ELU()

    def forward(self, x):
        h = self.act(self.conv1(x))
        h = self.act(self.conv2(h))
        return self.to_latent(h.flatten(1))


class ConvDecoder(nn.Module):
    """latent -> dense -> two stride-2 transposed convolutions, plus a linear path from the
    latent straight to the output, which carries the smooth large-scale part of the profile."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        c1, c2 = cfg.conv_width, 2 * cfg.conv_width
        self.cfg = cfg
        self.dense = nn.Linear(cfg.latent, c2 * (cfg.padded_depth // 4))
        self.deconv1 = nn.ConvTranspose1d(c2, c1, 4, stride=2, padding=1)
        self.deconv2 = nn.ConvTranspose1d(c1, cfg.n_channels, 4, stride=2, padding=1)
        self.linear = nn.Linear(cfg.latent, cfg.n_channels * cfg.n_depth)
        self.act = nn.ELU()

    def forward(self, z):
        cfg = self.cfg
        h = self.act(self.dense(z)).view(-1, 2 * cfg.conv_width, cfg.padded_depth // 4)
        h = self.act(self.deconv1(h))
        h = self.deconv2(h)[:, :, : cfg.n_depth]
        return h + self.linear(z).view(-1, cfg.n_channels, cfg.n_depth)


class PCADecoder(nn.Module):
    """Linear decoder initialised with the principal components (Paper Sect. 3.1)."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        self.linear = nn.Linear(cfg.latent, cfg.n_channels * cfg.n_depth)

    def forward(self, z):
        return self.linear(z).view(-1, self.cfg.n_channels, self.cfg.n_depth)


class ParamNet(nn.Module):
    """Parameters -> latent: ELU layers with a skip connection around every layer after the first."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.inp = nn.Linear(cfg.n_params, cfg.width)
        self.hidden = nn.ModuleList(nn.Linear(cfg.width, cfg.width) for _ in range(cfg.layers - 1))
        self.out = nn.Linear(cfg.width, cfg.latent)
        self.act = nn.ELU()

    def forward(self, p):
        h = self.act(self.inp(p))
        for layer in self.hidden:
            h = h + self.act(layer(h))
        return self.out(h)


class ProfileNet(nn.Module):
    """Parameters -> every normalised profile at once: plain SiLU layers, no latent vector.

    Trained with AdamW on the profiles themselves, this generalises between grid nodes better
    than the latent route (the README's method comparison)."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.inp = nn.Linear(cfg.n_params, cfg.width)
        self.hidden = nn.ModuleList(nn.Linear(cfg.width, cfg.width) for _ in range(cfg.layers - 1))
        self.out = nn.Linear(cfg.width, cfg.n_channels * cfg.n_depth)
        self.act = nn.SiLU()

    def forward(self, p):
        h = self.act(self.inp(p))
        for layer in self.hidden:
            h = self.act(layer(h))
        return self.out(h)


class AtmosphereNet(nn.Module):
    """parameters -> normalised profiles (channels x depths): directly (``mlp``), or through a
    latent vector and its decoder (``cae``, ``pca``)."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.method == "mlp":
            self.net = ProfileNet(cfg)
            self.decoder = self.encoder = None
            return
        self.net = ParamNet(cfg)
        self.decoder = ConvDecoder(cfg) if cfg.method == "cae" else PCADecoder(cfg)
        self.encoder = Encoder(cfg) if cfg.method == "cae" else None

    def forward(self, p):
        if self.decoder is None:
            return self.net(p).view(-1, self.cfg.n_channels, self.cfg.n_depth)
        return self.decoder(self.net(p))

    def autoencode(self, x):
        return self.decoder(self.encoder(x))

    def padded(self, x):
        """Pad the depth axis (edge values) to a multiple of 4 for the encoder."""
        extra = self.cfg.padded_depth - self.cfg.n_depth
        if extra:
            x = torch.cat([x, x[:, :, -1:].expand(-1, -1, extra)], dim=2)
        return x

    def inference_state(self) -> dict[str, torch.Tensor]:
        """The tensors inference needs (the encoder is for training only)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}
