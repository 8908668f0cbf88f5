"""The Ray compat module fails loudly, naming the tested range, when a private name it uses is gone."""

from __future__ import annotations

import pytest
from ray.tune.execution.tune_controller import TuneController
from ray.tune.experimental import output
from ray.tune.schedulers import HyperBandScheduler
from ray.tune.search.optuna import OptunaSearch

from automl.execution import _ray_compat
from search_spaces._requires import IncompatibleVersionError
from tests._compat import missing_name


def _message(missing: str) -> str:
    return missing_name("ray", _ray_compat.TESTED, missing)


def test_the_installed_ray_has_every_private_name_used():
    _ray_compat.check_private_names()


@pytest.mark.parametrize(
    ("owner", "name", "missing"),
    [
        (TuneController, "_maybe_cache_trial_actor", "TuneController._maybe_cache_trial_actor(trial)"),
        (TuneController, "_actor_started", "TuneController._actor_started(tracked_actor, log)"),
        (output, "_detect_reporter", "ray.tune.experimental.output._detect_reporter(verbosity)"),
        (HyperBandScheduler, "_create_bracket", "HyperBandScheduler._create_bracket(s)"),
        (
            OptunaSearch,
            "_suggest_from_define_by_run_func",
            "OptunaSearch._suggest_from_define_by_run_func(func, ot_trial)",
        ),
    ],
)
def test_a_ray_without_a_private_name_fails_loudly(monkeypatch, owner, name, missing):
    monkeypatch.delattr(owner, name)  # what an upgrade that drops it looks like
    with pytest.raises(IncompatibleVersionError, match=_message(missing)):
        _ray_compat.check_private_names()


def test_a_ray_whose_private_method_takes_other_arguments_fails_loudly(monkeypatch):
    monkeypatch.setattr(TuneController, "_remove_actor", lambda self, actor: None)
    with pytest.raises(
        IncompatibleVersionError, match=_message("TuneController._remove_actor(tracked_actor)")
    ):
        _ray_compat.check_private_names()


def _listener(host: str):
    import socket

    server = socket.socket()
    server.bind((host, 0))
    server.listen()
    return server


def test_a_port_served_on_loopback_only_is_joined_on_loopback():
    import ipaddress

    import ray

    if ipaddress.ip_address(ray.util.get_node_ip_address()).is_loopback:
        pytest.skip("this machine has no routable address: Ray joins loopback as it is")
    with _listener("127.0.0.1") as loopback, _listener("0.0.0.0") as everywhere:
        port, wide = loopback.getsockname()[1], everywhere.getsockname()[1]
        assert _ray_compat.loopback_only(f"127.0.0.1:{port}")
        assert _ray_compat.loopback_only(f"localhost:{port}")
        # `ray start --head` listens beyond loopback: joined through 127.0.0.1 as Ray would.
        assert not _ray_compat.loopback_only(f"127.0.0.1:{wide}")
    host = ray.util.get_node_ip_address()
    assert not _ray_compat.loopback_only(f"{host}:{port}")  # not a loopback address
    assert not _ray_compat.loopback_only("auto")
    assert not _ray_compat.loopback_only("ray://127.0.0.1:10001")
    assert not _ray_compat.loopback_only("head.example:6379")
