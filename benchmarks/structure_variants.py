"""Structure-network variants side by side (not a test).

Trains one variant of the structure network on the shipped weights' own split (seed 0: the same
training, validation and test nodes) and prints the bare network's error on the test nodes for
T, P / Pg, Ne / Pe and RHOX: median, RMS, p95, max and worst depth (the median over models of
each model's largest error), in %.

    python benchmarks/structure_variants.py atlas9 --baseline        # the shipped structure network
    python benchmarks/structure_variants.py atlas9 --epochs 600 --loss l1mse --width 512 --layers 4

One thread, float32, training's own pieces (``ProfileNet``, ``train_epoch``, ``get_lr`` to a floor
of 0, ``BestEpoch``): AdamW on a cosine schedule, the epoch of lowest validation MSE kept (checked
every 5 epochs), targets standardised at every depth as in training.  The figures of the
README's method comparison come from these runs.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

GRID_DIRS = {"atlas9": "atlas9-ck04", "marcs": "marcs-sdss"}
STRUCTURE = ("column_mass", "temperature", "gas_pressure", "electron_density", "electron_pressure")


def arguments(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("grid", choices=sorted(GRID_DIRS))
    p.add_argument("--shared", default=os.environ.get("INNTERPOL_SHARED",
                                                      str(Path(__file__).resolve().parents[2] / "shared")))
    p.add_argument("--baseline", action="store_true", help="score the shipped weights' structure network")
    p.add_argument("--tag", default="variant")
    p.add_argument("--epochs", type=int, default=600)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--wd", type=float, default=1e-5)
    p.add_argument("--loss", default="mse", choices=("mse", "l1mse", "l1", "huber"))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--members", type=int, default=1, help="an ensemble: the mean of this many networks")
    return p.parse_args(argv)


def score(label, names, predicted, true):
    """Print the statistics of |10**(pred - true) - 1| per channel (standard units: log10)."""
    out = {}
    for k, name in enumerate(names):
        e = np.abs(10 ** (predicted[:, k] - true[:, k]) - 1) * 100
        out[name] = [round(float(v), 4) for v in (np.median(e), np.sqrt(np.mean(e**2)), np.percentile(e, 95),
                                                  e.max(), np.median(e.max(axis=1)))]
    print(label, "median / RMS / p95 / max / worst depth (%):", json.dumps(out), flush=True)


def main(argv=None) -> int:
    a = arguments(argv)
    import torch

    from innterpol_cli.encoding import ParamScaling, ProfileScaling
    from innterpol_cli.grid import build_grid, family_for_format, read_grid_files
    from innterpol_cli.nn import NetConfig, ProfileNet
    from innterpol_cli.train import BestEpoch, get_lr, structure_loss, train_epoch
    from innterpol_cli.trainconfig import TrainConfig, split_nodes

    torch.set_num_threads(1)
    models, fmt, report = read_grid_files([Path(a.shared) / "grids" / GRID_DIRS[a.grid]])
    grid = build_grid(models, family_for_format(fmt), report)
    params, family = grid.params, grid.family
    names = [c.name for c in family.channels]
    chans = [i for i, n in enumerate(names) if n in STRUCTURE]
    std = np.log10(grid.values[:, chans])
    train, val, test = split_nodes(params, TrainConfig(seed=0))
    labels = [names[c] for c in chans]

    if a.baseline:
        from innterpol_cli import engine
        from innterpol_cli.interpolate import load

        w = load(a.grid).weights
        assert w.meta["provenance"]["test_nodes"] == params[test].tolist(), "not the weights' split"
        x = ParamScaling.from_dict(w.meta["param_norm"], family.axes)(params[test])
        out = engine.structure_profiles(w.tensors, w.meta["structure"], w.arrays, x)
        score("shipped", labels, out, std[test])
        return 0

    scaling = ProfileScaling.fit_per_depth(std[train])
    Y = torch.tensor(scaling.normalise(std), dtype=torch.float32)
    X = torch.tensor(ParamScaling.fit(params, family.axes)(params), dtype=torch.float32)
    C, D = len(chans), std.shape[2]
    rows, vrows, trows = torch.tensor(train), torch.tensor(val), torch.tensor(test)

    def loss(d):
        if a.loss in ("mse", "l1mse"):
            return structure_loss(d, a.loss)
        if a.loss == "l1":
            return d.abs().mean()
        return torch.nn.functional.smooth_l1_loss(d, torch.zeros_like(d), beta=0.05)

    predictions = []
    start = time.time()
    for member in range(a.members):
        torch.manual_seed(a.seed + 100 * member)
        net = ProfileNet(NetConfig(n_params=X.shape[1], n_channels=C, n_depth=D, method="mlp", layers=a.layers,
                                   width=a.width))
        opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=a.wd)
        best = BestEpoch()
        for epoch in range(a.epochs):
            for group in opt.param_groups:
                group["lr"] = get_lr(epoch, a.epochs, a.lr, 0.0)
            train_epoch(net, opt, rows, a.batch, lambda b, net=net: loss(net(X[b]).view(-1, C, D) - Y[b]))
            if epoch % 5 == 4 or epoch == a.epochs - 1:
                net.eval()
                with torch.no_grad():
                    best.update(float(((net(X[vrows]).view(-1, C, D) - Y[vrows]) ** 2).mean()), net)
        net.load_state_dict(best.state)
        net.eval()
        with torch.no_grad():
            pred = scaling.denormalise(net(X[trows]).view(-1, C, D).numpy().astype(float))
        predictions.append(pred)
        score(f"{a.tag} member {member + 1} ({time.time() - start:.0f} s)", labels, pred, std[test])
    if a.members > 1:
        score(f"{a.tag} mean of {a.members} ({time.time() - start:.0f} s)", labels, np.mean(predictions, axis=0),
              std[test])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
