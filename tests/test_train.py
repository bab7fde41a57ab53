"""Training: a tiny seeded run on a slice of the real ATLAS9 grid, config handling, bad grids."""

import json
import subprocess
import sys

import numpy as np
import pytest

from innterpol_cli.grid import FAMILIES, GridError, build_grid, read_grid_files
from innterpol_cli.train import get_lr, train
from innterpol_cli.trainconfig import TrainConfig, TrainError, split_nodes
from innterpol_cli.weightsfile import load

CLI = [sys.executable, "-c", "from innterpol_cli.cli import main; main()"]


@pytest.fixture(scope="module")
def small_grid(shared):
    models, fmt, report = read_grid_files([shared / "grids/atlas9-ck04/ap00k2odfnew.dat"])
    return build_grid(models, FAMILIES[fmt], report)


def tiny_config(**kw):
    base = dict(latent=8, layers=3, width=32, conv_width=8, cae_epochs=15, net_epochs=15, finetune_epochs=25,
                epochs=40, structure_epochs=20, batch_size=32, threads=1, seed=1)
    base.update(kw)
    return TrainConfig.resolve(**base)


@pytest.mark.parametrize("method, stages", [
    ("mlp", ["network -> profiles", "structure network"]),
    ("cae", ["auto-encoder", "network -> latent", "end-to-end fine-tuning"]),
])
def test_tiny_training_error_falls_and_weights_are_complete(small_grid, tmp_path, method, stages):
    from innterpol_cli.evaluation.scoring import along_axes
    from innterpol_cli.interpolate import Interpolator

    out = tmp_path / "tiny.npz"
    train(small_grid, tiny_config(method=method), str(out), grid_name="tiny", show_progress=False,
          score=lambda w, grid, test: along_axes(Interpolator(w), grid.params, grid.values, test))
    weights = load(out)
    history = weights.meta["provenance"]["history"]
    assert [h["stage"] for h in history] == stages
    assert weights.meta["config"]["method"] == method
    for stage in history:
        assert stage["best_val_loss"] < stage["first_val_loss"], stage
    meta = weights.meta
    assert meta["axes"] == ["teff", "logg", "mh", "am"]
    assert len(meta["log_tau"]) == 72 and meta["log_tau"][0] == pytest.approx(-6.875)
    assert {c["name"] for c in meta["channels"]} >= {"temperature", "gas_pressure", "electron_density", "column_mass"}
    assert meta["provenance"]["data_hash"] == small_grid.data_hash
    assert meta["provenance"]["split_seed"] == 1
    assert weights.nodes.shape == small_grid.params.shape
    metrics = meta["provenance"]["test_metrics"]
    assert metrics["axes"]["teff"]["n"] > 0 and "worst" in metrics["axes"]["teff"]["channels"]["temperature"]["linear"]
    # Every node stores its residual, test nodes included: the grid comes back, however weak the
    # tiny network (it is tens of percent off).
    interp = Interpolator(weights)
    assert len(weights.arrays["residual/nodes"]) == len(small_grid.params)
    back = interp.predict_physical(small_grid.params)
    for c, name in enumerate(("column_mass", "temperature", "gas_pressure", "electron_density")):
        assert np.max(np.abs(back[:, c] / small_grid.values[:, c] - 1)) < 1e-3, name


def test_same_command_and_seed_give_identical_weights(small_grid, tmp_path):
    """The shipped weights' recipe (an epoch budget, a seed, one thread) is reproducible: two runs
    write the same arrays, bit for bit, network and hybrid alike."""
    paths = [tmp_path / "a.npz", tmp_path / "b.npz"]
    for path in paths:
        train(small_grid, tiny_config(epochs=15), str(path), grid_name="tiny", show_progress=False)
    a, b = (np.load(p, allow_pickle=False) for p in paths)
    assert sorted(a.files) == sorted(b.files)
    for key in a.files:
        if key != "meta.json":  # the meta records the run's time and paths
            assert np.array_equal(a[key], b[key]), key
    other = tmp_path / "c.npz"
    train(small_grid, tiny_config(epochs=15, seed=2), str(other), grid_name="tiny", show_progress=False)
    assert not np.array_equal(np.load(other)["tensor/net.inp.weight"], a["tensor/net.inp.weight"])


def test_a_run_resumed_at_the_structure_stage_gives_the_same_weights(small_grid, tmp_path):
    """How the shipped weights were made: the main network trained, then the structure network
    and the hybrid from ``--resume`` at that stage boundary.  That gives the same arrays as one
    run that never stopped (the structure stage is seeded at its start)."""
    torch = pytest.importorskip("torch")
    cfg = tiny_config(epochs=15, structure_epochs=10)
    ckpt = tmp_path / "ckpt"
    train(small_grid, cfg, str(tmp_path / "a.npz"), grid_name="tiny", checkpoint_dir=str(ckpt), show_progress=False)
    saved = torch.load(ckpt / "checkpoint.pt", weights_only=True)
    # The main network is untouched by the structure stage: this is the checkpoint at its start.
    saved.update(stage=1, epoch=0, structure=None, optimizer=None, best=None)
    torch.save(saved, ckpt / "checkpoint.pt")
    train(small_grid, cfg, str(tmp_path / "b.npz"), grid_name="tiny", checkpoint_dir=str(ckpt), resume=True,
          show_progress=False)
    a, b = (np.load(tmp_path / name, allow_pickle=False) for name in ("a.npz", "b.npz"))
    assert any(k.startswith("tensor/structure.") for k in a.files)
    for key in a.files:
        if key != "meta.json":
            assert np.array_equal(a[key], b[key]), key


@pytest.mark.parametrize("floor", [0.0, 0.03])
def test_learning_rate_decays_from_the_rate_to_its_floor(floor):
    rates = [get_lr(epoch, 40, 2e-3, floor) for epoch in range(41)]
    assert rates[0] == 2e-3
    assert rates[20] == pytest.approx(2e-3 * (floor + (1 - floor) / 2))
    assert rates[40] == pytest.approx(2e-3 * floor, abs=1e-18)
    assert all(a > b for a, b in zip(rates, rates[1:]))
    # past the epochs, or with the stage's wall-clock budget spent, the rate stays at its floor
    assert get_lr(60, 40, 2e-3, floor) == rates[40]
    assert get_lr(0, 40, 2e-3, floor, time_done=1.0) == rates[40]
    # the budget's fraction counts when it runs ahead of the epochs, not when it lags behind
    assert get_lr(10, 40, 2e-3, floor, time_done=0.5) == rates[20]
    assert get_lr(10, 40, 2e-3, floor, time_done=0.1) == rates[10]


def test_same_seed_same_split(small_grid):
    a = split_nodes(small_grid.params, tiny_config(seed=3))
    b = split_nodes(small_grid.params, tiny_config(seed=3))
    c = split_nodes(small_grid.params, tiny_config(seed=4))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[2], c[2])
    train_idx, val_idx, test_idx = a
    assert not set(test_idx) & set(train_idx) and not set(test_idx) & set(val_idx)
    # every test node has both neighbours along some axis, and its neighbours are never test nodes
    params = small_grid.params
    where = {tuple(p): i for i, p in enumerate(params)}
    tests = set(test_idx.tolist())
    for i in test_idx:
        interior = False
        for j in range(params.shape[1]):
            values = np.unique(params[:, j])
            k = np.searchsorted(values, params[i, j])
            around = []
            for step in (-1, 1):
                if 0 <= k + step < len(values):
                    q = params[i].copy()
                    q[j] = values[k + step]
                    around.append(where.get(tuple(q)))
            assert not tests & {n for n in around if n is not None}
            interior |= len(around) == 2 and None not in around
        assert interior


def test_config_file_and_flags(tmp_path):
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps({"latent": 16, "width": 64}))
    cfg = TrainConfig.resolve(str(cfg_file), width=128)
    assert (cfg.latent, cfg.width) == (16, 128)
    cfg_file.write_text(json.dumps({"latnet": 16}))
    with pytest.raises(TrainError, match="unknown config key 'latnet'"):
        TrainConfig.resolve(str(cfg_file))
    cfg_file.write_text(json.dumps({"latent": "big"}))
    with pytest.raises(TrainError, match="must be int"):
        TrainConfig.resolve(str(cfg_file))


def test_duplicates_and_off_scale_models_are_reported(shared):
    models, fmt, report = read_grid_files(
        [shared / "grids/atlas9-ck04/ap05k2odfnew.dat", shared / "grids/atlas9-ck04/ap05t5250g00k2odfnew.dat"]
    )
    grid = build_grid(models, FAMILIES[fmt], report)
    assert any("duplicate node" in line and "ap05t5250g00k2odfnew.dat" in line for line in grid.report)
    # the hot models whose depths are the standard scale shifted are resampled onto it, not lost
    assert any("depth scale shifted by +0.125 dex: resampled onto the standard scale" in line for line in grid.report)
    assert not any("skipped" in line for line in grid.report)
    duplicates = sum(1 for line in grid.report if "duplicate" in line)
    assert len(grid.params) + duplicates == len(models)


def test_empty_directory_is_an_error(tmp_path):
    with pytest.raises(GridError, match="no model files"):
        read_grid_files([tmp_path])


def test_mixed_grids_are_an_error(shared, tmp_path):
    with pytest.raises(GridError, match="mixed grids"):
        read_grid_files([shared / "samples/atlas9/ksun.mod", shared / "samples/marcs/sun.mod"])


def test_non_finite_model_is_skipped_with_a_warning(shared, tmp_path):
    text = (shared / "samples/atlas9/t03500g0.0am05ak2odfnew.dat").read_text()
    lines = text.splitlines()
    k = next(i for i, line in enumerate(lines) if line.startswith("READ DECK6")) + 5
    temperature = lines[k].split()[1]
    lines[k] = lines[k].replace(temperature, "NaN".rjust(len(temperature)), 1)
    (tmp_path / "a.mod").write_text(text)
    (tmp_path / "b.mod").write_text("\n".join(lines).replace("3500.", "3750.", 1) + "\n")
    models, fmt, report = read_grid_files([tmp_path])
    warnings = []
    grid = build_grid(models, FAMILIES[fmt], report, warn=warnings.append)
    assert len(grid.params) == 1
    assert any("b.mod" in w and "non-finite" in w for w in warnings)


def test_cli_refuses_existing_output_and_keeps_it(shared, tmp_path):
    out = tmp_path / "w.npz"
    out.write_bytes(b"previous weights")
    result = subprocess.run(CLI + ["train", "--grid", "x", str(shared / "samples/atlas9/ksun.mod"), "-o", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "exists" in result.stderr and "Traceback" not in result.stderr
    assert out.read_bytes() == b"previous weights"


def test_cli_train_empty_directory(tmp_path):
    result = subprocess.run(CLI + ["train", "--grid", "x", str(tmp_path), "-o", str(tmp_path / "w.npz")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "no model files" in last and "Traceback" not in result.stderr
    assert not (tmp_path / "w.npz").exists()


def test_phoenix_directory_trains_and_predicts(shared, tmp_path):
    models, fmt, report = read_grid_files([shared / "samples/phoenix"])
    assert fmt == "phoenix" and len(models) == 3
    grid = build_grid(models, FAMILIES[fmt], report)
    assert grid.values.shape == (3, 4, 64)
    out = tmp_path / "phoenix.npz"
    train(grid, tiny_config(cae_epochs=2, net_epochs=2, finetune_epochs=2), str(out), grid_name="phoenix",
          show_progress=False)
    from innterpol_cli.interpolate import Interpolator

    interp = Interpolator(load(out))
    atmosphere = interp.atmospheres(np.array([[5500.0, 4.5, 0.0, 0.0]]), extrapolate=True)[0]
    assert np.array_equal(atmosphere.layers["tau_std"], models[0].layers["tau_std"])
    assert atmosphere.layers["temperature"].shape == (64,)


def test_resume_continues_from_the_checkpoint(small_grid, tmp_path):
    ckpt = tmp_path / "ckpt"
    out = tmp_path / "w.npz"
    cfg = tiny_config(method="cae", cae_epochs=3, net_epochs=3, finetune_epochs=30)
    train(small_grid, cfg, str(out), grid_name="tiny", checkpoint_dir=str(ckpt), show_progress=False, command="first")
    assert (ckpt / "checkpoint.pt").exists()
    before = load(out).meta["provenance"]
    messages = []
    train(small_grid, cfg, str(out), grid_name="tiny", checkpoint_dir=str(ckpt), resume=True, show_progress=False,
          log=messages.append, command="again")
    assert any(m.startswith("resuming from") for m in messages)
    # a finished training resumed (to refit the hybrid) keeps its record: stages, time, first command
    after = load(out).meta["provenance"]
    assert after["history"] == before["history"] and len(after["history"]) == 3
    assert after["command"] == "first" and after["resumed_with"] == ["again"]
    assert after["trained_seconds"] >= before["trained_seconds"]
    with pytest.raises(TrainError, match="no checkpoint"):
        train(small_grid, cfg, str(out), grid_name="tiny", checkpoint_dir=str(tmp_path / "none"), resume=True,
              show_progress=False)


def test_interrupted_training_leaves_previous_weights(shared, tmp_path):
    import signal
    import time

    out = tmp_path / "w.npz"
    out.write_bytes(b"previous weights")
    process = subprocess.Popen(
        CLI + ["train", "--grid", "x", str(shared / "grids/atlas9-ck04/ap00k2odfnew.dat"), "-o", str(out), "--force",
               "--epochs", "100000", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # Interrupt once training has started, as the command reports it ("N models: A train, ..."),
    # not after a fixed time, which a busy machine could spend still importing torch.
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if " train, " in line:
            break
    assert seen and " train, " in seen[-1], "".join(seen)
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)
    stderr = "".join(seen) + rest
    assert process.returncode != 0
    assert out.read_bytes() == b"previous weights"
    assert not list(tmp_path.glob("*.part"))
    assert "Traceback" not in stderr


def test_cuda_unavailable_is_a_clear_error(small_grid, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(TrainError, match="no CUDA device"):
        train(small_grid, tiny_config(device="cuda"), str(tmp_path / "w.npz"), grid_name="x", show_progress=False)


def test_structure_ensemble_members_are_seeded_apart_averaged_and_resumable(small_grid, tmp_path):
    """``structure_members=2``: two structure networks, one stage each, seeded apart; inference
    uses their mean in standardised units; a run resumed at the boundary between the members
    gives the same arrays as one that never stopped."""
    torch = pytest.importorskip("torch")
    from innterpol_cli import engine
    from innterpol_cli.encoding import ParamScaling, ProfileScaling

    cfg = tiny_config(epochs=10, structure_epochs=8, structure_members=2)
    ckpt = tmp_path / "ckpt"
    train(small_grid, cfg, str(tmp_path / "a.npz"), grid_name="tiny", checkpoint_dir=str(ckpt), show_progress=False)
    weights = load(tmp_path / "a.npz")
    assert [h["stage"] for h in weights.meta["provenance"]["history"]] == [
        "network -> profiles", "structure network 1 of 2", "structure network 2 of 2"]
    assert weights.meta["structure"]["members"] == 2
    t = weights.tensors
    assert not np.array_equal(t["structure.inp.weight"], t["structure1.inp.weight"])
    # The mean of the members, member by member
    meta, arrays = weights.meta, weights.arrays
    x = ParamScaling.from_dict(meta["param_norm"], meta["axes"])(small_grid.params[:5])
    layers, channels = meta["structure"]["layers"], meta["structure"]["channels"]
    each = [engine._mlp(t, engine.structure_prefix(k), layers, x) for k in range(2)]
    mean = ProfileScaling(arrays["structure/mean"], arrays["structure/scale"]).denormalise(
        ((each[0] + each[1]) / 2).reshape(5, len(channels), -1))
    one = ProfileScaling(arrays["structure/mean"], arrays["structure/scale"]).denormalise(
        each[0].reshape(5, len(channels), -1))
    got = engine.profiles(t, meta, arrays, weights.mean, weights.scale, x)
    from innterpol_cli.encoding import Channel
    temperature = channels.index(next(c for c in channels if meta["channels"][c]["name"] == "temperature"))
    c = channels[temperature]
    learned = ProfileScaling(weights.mean, weights.scale).denormalise(got)[:, c]
    ch = Channel.from_dict(meta["channels"][c])
    assert np.allclose(ch.standard(ch.inverse(learned)), mean[:, temperature], atol=1e-9)
    assert not np.allclose(mean[:, temperature], one[:, temperature], atol=1e-6)
    # Resume at the start of the second member
    saved = torch.load(ckpt / "checkpoint.pt", weights_only=True)
    saved.update(stage=2, epoch=0, structure=saved["structure"][:1], optimizer=None, best=None)
    torch.save(saved, ckpt / "checkpoint.pt")
    train(small_grid, cfg, str(tmp_path / "b.npz"), grid_name="tiny", checkpoint_dir=str(ckpt), resume=True,
          show_progress=False)
    a, b = (np.load(tmp_path / name, allow_pickle=False) for name in ("a.npz", "b.npz"))
    for key in a.files:
        if key != "meta.json":
            assert np.array_equal(a[key], b[key]), key


def test_structure_loss_and_shape_are_accepted_and_recorded_and_unknown_losses_are_refused(small_grid, tmp_path):
    from innterpol_cli.train import structure_loss

    torch = pytest.importorskip("torch")
    d = torch.tensor([0.5, -2.0])
    assert float(structure_loss(d, "mse")) == pytest.approx((0.25 + 4.0) / 2)
    assert float(structure_loss(d, "l1mse")) == pytest.approx((0.5 + 2.0) / 2 + (0.25 + 4.0) / 2)
    train(small_grid, tiny_config(epochs=5, structure_epochs=5, structure_loss="l1mse", structure_layers=2,
                                  structure_width=24), str(tmp_path / "w.npz"), grid_name="tiny", show_progress=False)
    weights = load(tmp_path / "w.npz")
    assert weights.meta["train_config"]["structure_loss"] == "l1mse"
    # The structure network has its own shape (the main one: 3 x 32), and the file loads and predicts
    assert weights.meta["structure"]["layers"] == 2 and weights.meta["structure"]["width"] == 24
    assert weights.tensors["structure.inp.weight"].shape == (24, 4) and "structure.hidden.1.weight" not in weights.tensors
    from innterpol_cli.interpolate import Interpolator

    assert np.all(np.isfinite(Interpolator(weights).predict_physical(small_grid.params[:3])))
    with pytest.raises(TrainError, match="structure_loss"):
        TrainConfig.resolve(structure_loss="huber")
