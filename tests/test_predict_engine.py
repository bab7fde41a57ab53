"""The numpy engine of the predict path equals the torch model it mirrors, to 1e-6."""

import numpy as np
import pytest

from innterpol_cli import engine
from innterpol_cli.weightsfile import load as load_weights


@pytest.mark.parametrize("grid", ["atlas9", "marcs"])
def test_engine_matches_torch(grid):
    torch = pytest.importorskip("torch")
    import os

    from innterpol_cli.interpolate import resolve
    from innterpol_cli.nn import AtmosphereNet, NetConfig

    path = os.environ.get(f"INNTERPOL_TEST_{grid.upper()}")
    if not path:
        path = resolve(grid)  # shipped with the package: never a skip
    weights = load_weights(path)
    cfg = weights.meta["config"]
    model = AtmosphereNet(NetConfig(**cfg)).double().eval()
    # The main network (the structure network is checked, layer by layer, in the test below).
    state = {k: torch.from_numpy(v) for k, v in weights.tensors.items() if not k.startswith("structure.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("encoder.") for k in missing)
    params = np.random.default_rng(0).uniform(-1.1, 1.1, (64, cfg["n_params"]))
    with torch.no_grad():
        expected = model(torch.from_numpy(params)).numpy()
    np.testing.assert_allclose(engine.forward(weights.tensors, cfg, params), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("method", ["mlp", "cae", "pca"])
def test_engine_matches_torch_for_every_method(method):
    """Each architecture's numpy twin, on a freshly initialised network (no weights file needed)."""
    torch = pytest.importorskip("torch")
    from innterpol_cli.nn import AtmosphereNet, NetConfig

    torch.manual_seed(0)
    cfg = NetConfig(n_params=4, n_channels=3, n_depth=18, method=method, latent=8, layers=3, width=16, conv_width=4)
    model = AtmosphereNet(cfg).double().eval()
    tensors = {k: v.numpy() for k, v in model.inference_state().items()}
    assert all(not k.startswith(("encoder.", "decoder.")) for k in tensors) == (method == "mlp")
    params = np.random.default_rng(1).uniform(-1.1, 1.1, (32, 4))
    with torch.no_grad():
        expected = model(torch.from_numpy(params)).numpy()
    assert expected.shape == (32, 3, 18)
    np.testing.assert_allclose(engine.forward(tensors, cfg.to_dict(), params), expected, rtol=0, atol=1e-9)
