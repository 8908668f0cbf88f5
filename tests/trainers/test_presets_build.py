"""Every config sampled from each preset builds a Keras model for a matching input."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits

from search_spaces import cnn, mlp, rnn
from trainers import check_config, from_arrays
from trainers._model import build_model, compile_model


def _digits(shape: tuple[int, ...]):
    bunch = load_digits()
    return from_arrays(bunch.data[:300].reshape(-1, *shape), bunch.target[:300], seed=0)


def _sequences():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 10, 3)).astype("float32")
    return from_arrays(x, (x[:, :, 0].sum(axis=1) > 0).astype(int), seed=0)


PRESETS = {
    "mlp": (mlp, lambda: _digits((64,))),
    "cnn": (lambda: cnn(max_blocks=3), lambda: _digits((8, 8, 1))),
    "rnn": (lambda: rnn(max_layers=3), _sequences),
}
DATA = {}


@pytest.mark.parametrize("name", sorted(PRESETS))
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 2**16))
def test_every_sampled_config_builds_and_predicts(name, seed):
    make_space, make_data = PRESETS[name]
    data = DATA.setdefault(name, make_data())
    space = make_space()
    space.check_input_shape(data.input_shape)
    config = space.sample(optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed)).ask())
    full = check_config(config)
    model = build_model(full, data)
    compile_model(model, full, data)
    predictions = model.predict(data.x_val[:3], verbose=0)
    width = data.num_classes if data.task == "multiclass" else 1
    assert predictions.shape == (3, width)
    assert np.isfinite(predictions).all()
