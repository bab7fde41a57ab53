"""What a latent bottleneck costs: the auto-encoders' own reconstruction error on the test nodes,
beside the shipped network that has none (not a test).

    python benchmarks/ceilings.py atlas9 [--cae-epochs 150] [--latent 64]

The ``cae`` and ``pca`` methods (the paper's pipeline and its linear variant) map the parameters to
a latent vector that a decoder turns into the profiles: whatever the network does, a prediction
cannot be better than the decoder's reconstruction of the true profile from its own latent
vector.  On the shipped weights' split (seed 0; the test nodes are never trained on), this prints,
for T, P / Pg, Ne / Pe and RHOX at every depth of every test node, median / RMS / p95 / max of the
relative error and the worst depth (the median over models of each model's largest error), in %:

- ``pca-K``: the profiles projected on the K leading principal components of the training nodes'
  normalised profiles (how ``--method pca`` starts its decoder), for K = 16, 32 and ``--latent``;
- ``cae``: the convolutional auto-encoder of ``--method cae``, trained as training's first stage does
  (``wmse`` on every channel, Adam on a cosine schedule from lr 2e-3, ``--cae-epochs`` epochs, the
  epoch of lowest validation loss kept), encoding and decoding each test node's true profile;
- ``mlp (shipped)``: the shipped weights' bare network at the test nodes (a prediction from the
  parameters alone, no bottleneck: the number the ceilings are compared with).

One thread, float32 as in training.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from structure_variants import GRID_DIRS, score  # the same grids and statistics, printed the same way

SCORED = ("temperature", "gas_pressure", "electron_density", "electron_pressure", "column_mass")


def arguments(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("grid", choices=sorted(GRID_DIRS))
    p.add_argument("--shared", default=os.environ.get("INNTERPOL_SHARED",
                                                      str(Path(__file__).resolve().parents[2] / "shared")))
    p.add_argument("--cae-epochs", type=int, default=150, help="training's default for --method cae")
    p.add_argument("--latent", type=int, default=64, help="training's default latent size")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = arguments(argv)
    import torch

    from innterpol_cli import engine
    from innterpol_cli.encoding import learned_to_standard
    from innterpol_cli.grid import build_grid, family_for_format, read_grid_files
    from innterpol_cli.interpolate import load
    from innterpol_cli.nn import AtmosphereNet
    from innterpol_cli.train import BestEpoch, channel_weights, get_lr, net_config, normalise, train_epoch, wmse
    from innterpol_cli.trainconfig import TrainConfig

    torch.set_num_threads(1)
    models, fmt, report = read_grid_files([Path(a.shared) / "grids" / GRID_DIRS[a.grid]])
    grid = build_grid(models, family_for_format(fmt), report)
    family = grid.family
    cfg = TrainConfig(seed=a.seed, method="cae", latent=a.latent, cae_epochs=a.cae_epochs)
    data = normalise(grid, cfg)
    shipped = load(a.grid)
    if a.seed == 0:
        assert shipped.meta["provenance"]["test_nodes"] == grid.params[data.test_idx].tolist(), "not the weights' split"
    channels = np.array([c for c, ch in enumerate(family.channels) if ch.name in SCORED])
    names = [family.channels[c].name for c in channels]
    test = data.test_idx
    n_depth = data.y.shape[2]

    def standard(normalised: np.ndarray) -> np.ndarray:
        """Normalised learned profiles (M, C, D) -> the scored channels in log10 (M, C', D)."""
        learned = data.profiles.denormalise(normalised)
        return learned_to_standard(list(family.channels), learned, channels).reshape(len(normalised), len(channels), n_depth)

    true = np.log10(grid.values[test][:, channels])
    print(f"{a.grid}: {len(data.train_idx)} training, {len(test)} test nodes (split seed {a.seed})", flush=True)

    # The shipped network at the test nodes: no bottleneck.
    x = shipped.scaling(grid.params[test])
    w = shipped.weights
    net = engine.profiles(w.tensors, w.meta, w.arrays, w.mean, w.scale, x)
    score("mlp (shipped)", names, standard(net), true)

    # PCA: the leading components of the training nodes' normalised profiles.
    flat = data.y.reshape(len(data.y), -1)
    mean = flat[data.train_idx].mean(axis=0)
    _, _, vt = np.linalg.svd(flat[data.train_idx] - mean, full_matrices=False)
    for k in sorted({16, 32, a.latent}):
        comps = vt[:k]
        rebuilt = ((flat[test] - mean) @ comps.T) @ comps + mean
        score(f"pca-{k}", names, standard(rebuilt.reshape(len(test), *data.y.shape[1:])), true)

    # The convolutional auto-encoder, trained as training's first stage trains it.
    torch.manual_seed(a.seed)
    model = AtmosphereNet(net_config(grid, cfg))
    Y = torch.tensor(data.y, dtype=torch.float32)
    weight = channel_weights(family, cfg.pp_weight, 1.0, Y.device)
    params = list(model.encoder.parameters()) + list(model.decoder.parameters())
    optimizer = torch.optim.Adam(params, lr=cfg.lr)
    rows, vrows = torch.tensor(data.train_idx), torch.tensor(data.val_idx)
    best = BestEpoch()
    start = time.time()

    def loss(b):
        return wmse(model.autoencode(model.padded(Y[b])), Y[b], weight)

    for epoch in range(a.cae_epochs):
        for group in optimizer.param_groups:
            group["lr"] = get_lr(epoch, a.cae_epochs, cfg.lr, 0.0)
        model.train()
        train_epoch(model, optimizer, rows, cfg.batch_size, loss)
        model.eval()
        with torch.no_grad():
            best.update(float(loss(vrows)), model)
    model.load_state_dict(best.state)
    model.eval()
    with torch.no_grad():
        rebuilt = model.autoencode(model.padded(Y[torch.tensor(test)])).numpy().astype(float)
    score(f"cae ({a.cae_epochs} ep)", names, standard(rebuilt), true)
    print(f"  (auto-encoder: {a.cae_epochs} epochs in {time.time() - start:.0f} s, latent {a.latent}, "
          f"best validation loss {best.loss:.3e})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
