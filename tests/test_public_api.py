"""The public API is what each package's __init__ exports; pin it."""

from __future__ import annotations

import automl
import search_spaces
import trainers


def test_automl_all():
    assert sorted(automl.__all__) == [
        "AutoMLError",
        "ConfigError",
        "DataSpec",
        "Experiment",
        "RunInterrupted",
        "TrialFailedError",
        "TrialState",
        "TrialSummary",
        "TuningResult",
        "resume",
        "tune",
    ]


def test_search_spaces_all():
    assert sorted(search_spaces.__all__) == sorted(
        [
            "AutoMLError",
            "Backbone",
            "Boolean",
            "Categorical",
            "ConfigError",
            "BatchNormalization",
            "Conv1D",
            "Conv2D",
            "Dense",
            "Dropout",
            "Embedding",
            "Fixed",
            "Float",
            "HyperParameters",
            "GRU",
            "Int",
            "LSTM",
            "LayerNormalization",
            "LayerStack",
            "LayerTemplate",
            "Normalization",
            "Parameter",
            "RandomContrast",
            "RandomFlip",
            "RandomRotation",
            "RandomTranslation",
            "RandomZoom",
            "Repeat",
            "Rescaling",
            "Resizing",
            "Space",
            "cnn",
            "load_space",
            "mlp",
            "rnn",
        ]
    )


def test_trainers_all_resolves():
    for name in trainers.__all__:
        assert getattr(trainers, name) is not None


def test_config_error_is_a_value_error_and_an_automl_error():
    assert issubclass(automl.ConfigError, ValueError)
    assert issubclass(automl.ConfigError, automl.AutoMLError)


def test_trial_workers_do_not_import_the_driver_side():
    # A trial worker imports automl.execution._trainable; MLflow and the runner are the driver's.
    import subprocess
    import sys

    code = (
        "import sys, automl.execution._trainable; "
        "print(sorted(m for m in ('mlflow', 'optuna', 'automl.execution._runner', 'automl.planning._api') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_automl_names_load_on_first_use():
    assert automl.tune is automl.planning._api.tune
    assert "tune" in dir(automl) and "Experiment" in dir(automl)
    try:
        automl.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("automl.no_such_name did not raise")
