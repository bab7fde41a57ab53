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
        try:
            path = resolve(grid)
        except Exception as exc:
            pytest.skip(f"shipped {grid} weights absent: {exc}")
    weights = load_weights(path)
    cfg = weights.meta["config"]
    model = AtmosphereNet(NetConfig(**cfg)).double().eval()
    state = {k: torch.from_numpy(v) for k, v in weights.tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("encoder.") for k in missing)
    params = np.random.default_rng(0).uniform(-1.1, 1.1, (64, cfg["n_params"]))
    with torch.no_grad():
        expected = model(torch.from_numpy(params)).numpy()
    np.testing.assert_allclose(engine.forward(weights.tensors, cfg, params), expected, rtol=0, atol=1e-6)
