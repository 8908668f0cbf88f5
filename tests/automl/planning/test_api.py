"""`automl.tune` takes `Experiment`'s fields, with the same defaults, and hands each one on unchanged."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import automl
from automl.execution._workers import WorkerPolicy
from automl.planning import _api
from automl.planning._experiment import Experiment

FIELDS = dataclasses.fields(Experiment)


def _default(field: dataclasses.Field) -> object:
    return inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default


def test_tune_shows_the_experiment_fields_and_their_defaults_in_its_signature():
    parameters = dict(inspect.signature(automl.tune).parameters)
    assert parameters.pop("verbose").default == 1  # `Experiment.run`'s argument, not a field
    assert list(parameters) == [f.name for f in FIELDS]
    assert {name: p.default for name, p in parameters.items()} == {f.name: _default(f) for f in FIELDS}
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(parameters.values())[1:])


def test_tune_documents_every_argument():
    for name in [f.name for f in FIELDS] + ["verbose"]:
        assert f"\n        {name}: " in automl.tune.__doc__, name


def test_the_worker_policy_defaults_are_the_experiment_defaults():
    defaults = {f.name: f.default for f in FIELDS}
    assert WorkerPolicy() == WorkerPolicy(defaults["max_trials_per_worker"], defaults["max_worker_memory_growth"])


def test_tune_hands_each_argument_to_the_experiment_field_of_its_name(monkeypatch):
    made: dict[str, object] = {}

    class Recorded:
        def __init__(self, **fields: object) -> None:
            made.update(fields)

        def run(self, *, verbose: int) -> str:
            made["verbose"] = verbose
            return "result"

    monkeypatch.setattr(_api, "Experiment", Recorded)
    given = {f.name: object() for f in FIELDS}
    given["verbose"] = 0
    assert automl.tune(**given) == "result"
    assert made == given


@pytest.mark.parametrize("resources", [None, {"cpu": 1}])
def test_one_cpu_per_trial_unless_told(resources):
    from search_spaces import mlp

    run = Experiment(space=mlp(), data="iris", resources_per_trial=resources)._planned
    assert run.resources == {"cpu": 1}
