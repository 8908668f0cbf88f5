"""Every private name of Ray that automl uses, checked against the installed Ray when this module loads.

Ray Tune has no public hook for what these do; each use says what it is for.
`check_private_names` runs at import (before any run starts a trial) and
raises `IncompatibleVersionError` naming the missing name, the installed Ray
and `TESTED`, the range pyproject.toml allows.

- `controller_replaced`: a subclass of Ray's
  `TuneController` that keeps reused worker processes while the run needs
  them and replaces one that ran too many trials or grew too much
  (automl/execution/_workers.py decides which).
- `ray_console_replaced`: Ray Tune's console output replaced by a silent one.
- `plain_trial_actors`: trial actors start without Tune's runtime_env.
- `run_config_callbacks`: the callbacks a restored `Tuner` runs.
- `QuietSpaceOptunaSearch`: Ray's `OptunaSearch` without its slow-space warning.
- `FillingHyperBand`, `bracket_sizes_of`: HyperBand brackets that fill.
- `use_local_auth_token`: the Jobs client sends this machine's auth token.
- `init_local_ray_on_loopback`: a local Ray's services listen on 127.0.0.1 only.
- `checkpoints_named_in_state`: the checkpoints Ray's experiment state names.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import ipaddress
import logging
import re
import socket
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import ray
import ray.tune.tune as ray_tune_module
from ray import tune
from ray.air.execution._internal import RayActorManager, TrackedActor
from ray.air.execution._internal.event_manager import RayEventManager
from ray.tune.execution import class_cache as ray_class_cache
from ray.tune.execution.tune_controller import TuneController
from ray.tune.experiment.trial import _TemporaryTrialState
from ray.tune.experimental import output as ray_output
from ray.tune.experimental.output import AirVerbosity
from ray.tune.experimental.output import ProgressReporter as RayConsole
from ray.tune.impl.tuner_internal import TunerInternal
from ray.tune.schedulers import HyperBandScheduler, TrialScheduler
from ray.tune.schedulers.hyperband import _Bracket
from ray.tune.search.optuna import OptunaSearch
from ray.tune.utils import serialization
from ray.tune.utils.object_cache import _ObjectCache

from search_spaces._requires import require, sets_attribute, takes

__all__ = [
    "LOOPBACK_SWITCH",
    "TESTED",
    "FillingHyperBand",
    "QuietSpaceOptunaSearch",
    "bracket_sizes_of",
    "check_private_names",
    "checkpoints_named_in_state",
    "controller_replaced",
    "init_local_ray_on_loopback",
    "join_ray",
    "loopback_only",
    "plain_trial_actors",
    "ray_console_replaced",
    "replaced_in_ray",
    "run_config_callbacks",
    "use_local_auth_token",
    "WorkerKeeper",
]

# The Ray versions the suite ran on; pyproject.toml's bound on ray is the same (tests/test_versions.py).
TESTED = ">=2.54,<2.61"

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def replaced_in_ray(module: Any, name: str, value: Any, *, still: Callable[[Any], bool]) -> Iterator[bool]:
    """Sets a Ray internal, ``module.name``, to ``value`` within, and back after.

    Only if ``still(current value)`` says Ray still has it as expected;
    otherwise nothing is replaced, and Ray works as it would. Yields whether
    the value was replaced.
    """
    original = getattr(module, name, None)
    if not still(original):
        yield False
        return
    setattr(module, name, value)
    try:
        yield True
    finally:
        setattr(module, name, original)


# Reused workers -------------------------------------------------------------
#
# Ray Tune 2.x has no limit on how long a reused actor lives and no public hook
# for one: a trainable that declines ``reset_config`` fails its next trial
# instead of getting a fresh actor. The decision is made where Ray decides
# whether to cache a finished trial's actor, in a subclass of its private
# controller (`tune.run` builds ``ray.tune.tune.TuneController``), installed
# only while our run's ``Tuner.fit`` runs.

_PENDING_SAVES_TIMEOUT_S = 30.0  # a stopped run waits this long for reported checkpoints


class WorkerKeeper(Protocol):
    """What the controller asks about a finished trial's worker (automl/execution/_workers.py answers)."""

    active: bool  # False: Ray caches actors as it would

    def finished(self, worker: Any, last_result: Mapping[str, Any] | None) -> str | None:
        """``worker`` (a Ray actor) ran a trial that reported ``last_result`` last: why it must go, or None."""

    def forget(self, worker: Any) -> None:
        """``worker`` is gone."""


class _WorkerController(TuneController):  # type: ignore[misc]  # Ray's class is untyped
    """Ray's controller, keeping the worker processes it starts while the run needs them.

    - A finished trial's actor is cached for the next trial only while
      ``keeper`` allows.
    - An actor Ray starts for a trial that then takes a freed one is kept,
      as a spare for the next trial, instead of being removed before its
      process is up. Ray stages the next trial as soon as the concurrency
      limit allows, and asks for a new actor if none is free at that moment;
      when trials are shorter than a process start (trivial trainables,
      trials pruned at the first rung), a running trial's actor is always
      freed first, and Ray then removed the new one. Each trial cost a
      process start that never ran a trial, and the run never got its
      second worker. A staged trial that such a spare covers waits for it,
      or for an actor freed before it is up, rather than asking for another.
    - A trial stopped while it has no actor (HyperBand stops paused trials)
      is saved with its new state. Ray refreshes a trial's saved state only
      when it stopped an actor, so such a trial stayed PAUSED in the
      experiment state and a resumed run trained it again.
    - A stopped run (Ctrl-C) registers the checkpoints its trials reported
      but whose save had not come back, before it saves its state for the
      last time (`_finish_pending_saves`).
    """

    new_keeper: Callable[[], WorkerKeeper]  # set on the subclass `controller_replaced` makes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keeper = self.new_keeper()
        self._spares: dict[Any, Any] = {}  # actors not yet up -> their resource request

    def __getstate__(self) -> dict[str, Any]:  # Ray saves this as JSON with the experiment state
        state: dict[str, Any] = super().__getstate__()
        for live in ("_keeper", "_spares"):  # live processes: nothing to restore
            state.pop(live, None)
        return state

    def stop_trial(self, trial: Any) -> None:
        super().stop_trial(trial)
        self._mark_trial_to_checkpoint(trial)

    def checkpoint(self, force: bool = False, wait: bool = False) -> None:
        if force and wait:  # tune.run's last save of the experiment state, after a stop too
            self._finish_pending_saves(timeout=_PENDING_SAVES_TIMEOUT_S)
        super().checkpoint(force=force, wait=wait)

    def _finish_pending_saves(self, timeout: float) -> None:
        """Registers the checkpoints trials reported whose ``save`` has not come back yet.

        Ray registers a reported checkpoint only when a separate ``save`` task on the
        trial's actor returns, a step after the result itself. A stop (Ctrl-C) that
        lands in between ended the run with the save pending; the experiment state
        then named the checkpoint before, and the resumed trial redid an epoch.
        """
        events = self._actor_manager._actor_task_events
        tracked = events.get_futures()
        pending = []
        for trial in self._trials:
            saving = trial.temporary_state.saving_to
            if saving is None or saving.future not in tracked:
                continue
            pending.append(saving.future)
            if self._cached_trial_decisions.get(trial.trial_id) == TrialScheduler.CONTINUE:
                del self._cached_trial_decisions[trial.trial_id]  # the run is over: no more training
        if not pending:
            return
        ready, late = ray.wait(pending, num_returns=len(pending), timeout=timeout)
        for future in ready:  # through Ray's own handler: the checkpoint is registered
            events.resolve_future(future)
        if late:
            logger.warning(
                "%d trial checkpoints were still being saved after %.0f s; those trials resume "
                "from the checkpoint before.",
                len(late),
                timeout,
            )

    def _maybe_cache_trial_actor(self, trial: Any) -> bool:
        actor = self._trial_to_actor.get(trial)
        if actor is None or not self._keeper.active:
            return bool(super()._maybe_cache_trial_actor(trial))
        reason = self._keeper.finished(actor, trial.last_result)
        if reason is not None:
            logger.info("Replacing the worker of trial %s with a fresh process: %s.", trial, reason)
            self._keeper.forget(actor)
            return False  # Ray then stops the actor; the next trial gets a new one
        cached = bool(super()._maybe_cache_trial_actor(trial))
        if not cached:
            self._keeper.forget(actor)
        return cached

    # Spares ------------------------------------------------------------

    def _maybe_reuse_cached_actor(self, trial: Any) -> bool:
        starting = self._trial_to_actor.get(trial)
        if (
            starting is not None
            and trial not in self._resetting_trials
            and starting not in self._started_actors  # its process is not up yet
            and self._actor_cache.has_cached_object(trial.placement_group_factory)
            and not self._search_alg.is_finished()  # else no next trial would take it
        ):
            # Ray would remove the actor it is starting for this trial; it becomes a spare.
            del self._trial_to_actor[trial]
            del self._actor_to_trial[starting]
            self._spares[starting] = trial.placement_group_factory
            logger.debug(
                "Trial %s takes a freed worker; %s, started for it, is kept as a spare.", trial, starting
            )
        return bool(super()._maybe_reuse_cached_actor(trial))

    def _schedule_trial_actor(self, trial: Any) -> None:
        request = trial.placement_group_factory
        if not self._actor_cache.has_cached_object(request) and self._uncovered_spares(request, trial) > 0:
            trial.init_local_path()  # what Ray's method does before it looks for an actor
            self._mark_trial_to_checkpoint(trial)
            return  # staged: it takes the spare when it is up, or an actor freed before that
        super()._schedule_trial_actor(trial)

    def _actor_started(self, tracked_actor: Any, log: str = "STARTED") -> None:
        request = self._spares.pop(tracked_actor, None)
        if request is None:
            super()._actor_started(tracked_actor, log=log)
            return
        self._started_actors.add(tracked_actor)
        if not self._actor_cache.cache_object(request, tracked_actor):
            logger.debug("Spare %s is up but no trial needs it: removed.", tracked_actor)
            self._remove_actor(tracked_actor=tracked_actor)
            self._cover_waiting_trials(request)
            return
        logger.debug("Spare %s is up and waits for the next trial.", tracked_actor)

    def _actor_failed(self, tracked_actor: Any, exception: Exception) -> None:
        request = self._spares.pop(tracked_actor, None)
        if request is None:
            super()._actor_failed(tracked_actor, exception)
            return
        logger.debug("A spare worker failed to start: %s", exception)
        self._actor_manager.clear_actor_task_futures(tracked_actor)
        tracked_actor.set_on_stop(None)
        tracked_actor.set_on_error(None)
        self._actor_manager.remove_actor(tracked_actor, kill=False)
        self._actor_stopped(tracked_actor)
        self._cover_waiting_trials(request)

    def _cleanup_cached_actors(self, force_all: bool = False) -> None:
        super()._cleanup_cached_actors(force_all=force_all)
        if self._spares and (force_all or (self._search_alg.is_finished() and not self._staged_trials)):
            for spare in list(self._spares):
                logger.debug("Spare %s is not up and the run needs no more workers: removed.", spare)
                del self._spares[spare]
                spare.set_on_stop(None)
                spare.set_on_error(None)
                self._remove_actor(tracked_actor=spare)

    def _waiting_trials(self, request: Any, but: Any = None) -> list[Any]:
        """Staged trials with ``request``'s resources that have no actor yet."""
        return [
            trial
            for trial in self._staged_trials
            if trial is not but
            and trial not in self._trial_to_actor
            and trial.placement_group_factory == request
        ]

    def _spares_for(self, request: Any) -> int:
        return sum(1 for each in self._spares.values() if each == request)

    def _uncovered_spares(self, request: Any, trial: Any) -> int:
        return self._spares_for(request) - len(self._waiting_trials(request, but=trial))

    def _cover_waiting_trials(self, request: Any) -> None:
        """A spare is gone: the trials it covered ask Ray for actors of their own."""
        for trial in self._waiting_trials(request)[self._spares_for(request) :]:
            if trial.status == "PENDING":
                super()._schedule_trial_actor(trial)


@contextlib.contextmanager
def controller_replaced(new_keeper: Callable[[], WorkerKeeper]) -> Iterator[None]:
    """Makes the `Tuner.fit` calls inside keep and replace reused workers as ``new_keeper()`` says."""
    # What tune.run builds; if something else replaced it meanwhile, workers are reused as Ray does.
    # A subclass per run: the keeper is the run's, and Ray builds the controller itself.
    controller = type("WorkerController", (_WorkerController,), {"new_keeper": staticmethod(new_keeper)})
    with replaced_in_ray(
        ray_tune_module, "TuneController", controller, still=lambda v: v is TuneController
    ) as replaced:
        if not replaced:
            logger.warning(
                "ray.tune.tune.TuneController is not Ray's own; workers are reused without limits."
            )
        yield


# Console --------------------------------------------------------------------


class _NoRayConsole(RayConsole):  # type: ignore[misc]  # Ray's class is untyped
    """Stands in for Ray Tune's console output: its experiment box, TensorBoard hint and tables.

    Ray prints the box and the hint even at ``verbose=0``; automl prints its
    own lines (`MlflowTracker`), and its record is MLflow, not TensorBoard.
    Every hook of Ray's reporter is silenced: some (``on_trial_error``) print
    whatever the verbosity. Installed by `ray_console_replaced`.
    """

    def __init__(self) -> None:
        super().__init__(AirVerbosity.SILENT)

    def _silent(self, *args: Any, **kwargs: Any) -> None:
        pass

    experiment_started = print_heartbeat = on_experiment_end = _silent
    on_trial_start = on_trial_result = on_trial_complete = on_trial_error = _silent
    on_trial_recover = on_checkpoint = _silent


_CONSOLE_HOOKS = (
    "experiment_started",
    "print_heartbeat",
    "on_experiment_end",
    "on_trial_start",
    "on_trial_result",
    "on_trial_complete",
    "on_trial_error",
    "on_trial_recover",
    "on_checkpoint",
)


@contextlib.contextmanager
def ray_console_replaced() -> Iterator[None]:
    """Makes `_NoRayConsole` the console reporter of the `Tuner.fit` calls inside.

    Ray builds its reporter in each ``fit`` (private ``_detect_reporter``, looked
    up at each call) and always adds it to the callbacks; one passed among them
    would run beside it, and Ray would set up only one of the two (the other
    then fails on a trial's error). No setting turns it off.
    """
    with replaced_in_ray(ray_output, "_detect_reporter", lambda *a, **k: _NoRayConsole(), still=callable):
        yield


@contextlib.contextmanager
def plain_trial_actors() -> Iterator[None]:
    """Trial actors of the `Tuner.fit` calls inside start with no `runtime_env` of Ray Tune's.

    Tune gives each trainable actor ``PL_DISABLE_FORK=1`` (for PyTorch
    Lightning, from its module-level ``DEFAULT_ENV_VARS``), and an actor with a
    `runtime_env` of its own never takes one of the idle workers Ray starts
    ahead at ``ray.init``: it waits for a new process. Without it, a run's
    first trials start in an idle worker. Environment variables Tune copies
    from the driver (AWS keys, Ray Train's) still go to the actors.
    """
    with replaced_in_ray(ray_class_cache, "DEFAULT_ENV_VARS", {}, still=lambda v: isinstance(v, dict)):
        yield


# Tuner ----------------------------------------------------------------------


def run_config_callbacks(tuner: tune.Tuner) -> list[Any]:
    """The callbacks of the tuner's run config: those Ray restored, for a resumed run.

    `Tuner` keeps its run config on its private ``_local_tuner``; `Tuner.restore`
    offers no public way to read what it restored.
    """
    internal = getattr(tuner, "_local_tuner", None)  # None through a ray:// client
    return list((internal.get_run_config().callbacks if internal is not None else None) or [])


_SLOW_SPACE_WARNING = "Define-by-run function passed in the `space` argument took"


class QuietSpaceOptunaSearch(OptunaSearch):
    """Ray's `OptunaSearch` without its warning that the define-by-run function is slow.

    Ray warns when the space function takes over 1 s, and advises moving
    training out of it. automl's function only samples: its time is the
    sampler's (TPE over many trials, a loaded machine), which a user cannot
    move. The warning is raised inside Ray's private
    ``_suggest_from_define_by_run_func``, the one step that calls the function.
    """

    def _suggest_from_define_by_run_func(self, func: Any, ot_trial: Any) -> dict:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_SLOW_SPACE_WARNING, category=UserWarning)
            return super()._suggest_from_define_by_run_func(func, ot_trial)  # type: ignore[no-any-return]


# HyperBand ------------------------------------------------------------------


class _FillingBracket(_Bracket):  # type: ignore[misc]  # Ray's class is untyped
    def filled(self) -> bool:
        # Ray's test alone counts the trials still in the bracket; those that ended count too
        # (ray-project/ray#12536). Ray builds brackets in the private _create_bracket only.
        return bool(super().filled()) or len(self._all_trials) >= self._n0


class FillingHyperBand(HyperBandScheduler):  # type: ignore[misc]  # Ray's class is untyped
    """Ray's `HyperBandScheduler` whose brackets are full once they were given their ``n`` trials."""

    def _create_bracket(self, s: int) -> _FillingBracket:
        return _FillingBracket(
            time_attr=self._time_attr,
            max_trials=self._get_n0(s),
            init_t_attr=self._get_r0(s),
            max_t_attr=self._max_t_attr,
            eta=self._eta,
            s=s,
            stop_last_trials=self._stop_last_trials,
        )


def bracket_sizes_of(scheduler: HyperBandScheduler) -> list[int]:
    """The trials of each bracket of one round, in the order Ray fills them; Ray skips a bracket
    whose first milestone would be under one epoch. Ray computes them in private attributes only."""
    return [scheduler._get_n0(s) for s in range(scheduler._s_max_1) if scheduler._get_r0(s) > 0]


# Jobs -----------------------------------------------------------------------


def use_local_auth_token() -> None:
    """Sends this machine's Ray auth token, as `ray.init` does when it joins a cluster.

    Ray turns token authentication on for clusters it starts, but its Jobs
    client only sends the token when auth is enabled in the calling process;
    this applies the rule `ray.init` uses (RAY_AUTH_MODE unset and a token in
    ~/.ray → token auth), through Ray's private helper: no public API does it.
    """
    from ray._private.authentication import authentication_token_setup

    # Its warning that token auth "is enabled for this Ray cluster" speaks of a cluster
    # this process starts; a client starts none, so it is left out.
    logger = logging.getLogger(authentication_token_setup.__name__)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        authentication_token_setup.maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    finally:
        logger.setLevel(level)


# Loopback ---------------------------------------------------------------------
#
# A local Ray binds every service (GCS, raylet, object manager, core workers,
# dashboard and runtime-env agents, metrics exporters) to its node address, and
# `ray.init` turns 127.0.0.1 into the machine's routable address
# (services.resolve_ip_for_localhost) unless Ray thinks clusters are off, which
# it reads from the private module constant ENABLE_RAY_CLUSTER (set from
# RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER when Ray is imported). Swapped for the
# `ray.init` call only, it works whatever imported Ray first, and a cluster
# joined later in the same process is not affected. No public option binds
# Ray to loopback, and its binding changes have been reverted before
# (ray-project/ray#55298, #55484, #59852), so the result is checked.

# The switch: (module, constant). Ray treats clusters as off while the constant is False.
LOOPBACK_SWITCH = ("ray._private.ray_constants", "ENABLE_RAY_CLUSTER")

LOOPBACK_NOTICE = (
    "[automl] note: this Ray {version} did not keep its services on 127.0.0.1 ({why}); they listen on "
    "all network interfaces, with Ray's token authentication on (tested: ray{tested})."
)


@contextlib.contextmanager
def _clusters_off() -> Iterator[bool]:
    """Ray's loopback switch turned to "clusters off" within; yields whether it could be."""
    module, name = LOOPBACK_SWITCH
    try:
        constants = importlib.import_module(module)
    except ImportError:  # a Ray that moved it: the caller goes on as Ray would
        constants = None
    with replaced_in_ray(constants, name, False, still=lambda v: isinstance(v, bool)) as replaced:
        yield replaced


def init_local_ray_on_loopback(**init_kwargs: Any) -> None:
    """Starts a new local Ray (``ray.init(address="local", ...)``) whose services listen on loopback only.

    When the switch is gone or Ray does not honour it, Ray starts anyway and
    one line on stderr says its services listen on all interfaces.
    """
    module, name = LOOPBACK_SWITCH
    with _clusters_off() as replaced:
        ray.init(address="local", **init_kwargs)
    address = ray.util.get_node_ip_address()
    if not replaced:
        why = f"{module}.{name} is gone or changed"
    elif not ipaddress.ip_address(address).is_loopback:
        why = f"its node address is {address}"
    else:
        return
    print(
        LOOPBACK_NOTICE.format(version=ray.__version__, why=why, tested=TESTED), file=sys.stderr, flush=True
    )


def join_ray(address: str, **init_kwargs: Any) -> None:
    """Joins a running Ray (``ray.init(address=address, ...)``), also one that listens on loopback only.

    Given 127.0.0.1, `ray.init` dials the machine's routable address instead
    and looks for a raylet there; a Ray that listens on loopback only (one
    automl started, in another process) has neither, and the join would
    hang. Such a Ray is joined with clusters off, as it was started, and
    with this machine's token as Ray sends it to a local cluster it finds
    itself; any other (``ray start --head``, which listens beyond loopback)
    as Ray would.
    """
    if loopback_only(address):
        use_local_auth_token()
        with _clusters_off():
            ray.init(address=address, **init_kwargs)
    else:
        ray.init(address=address, **init_kwargs)


def loopback_only(address: str) -> bool:
    """Whether ``address`` (``host:port``) is a loopback one whose port is served on loopback but not on
    the machine's routable address, where `ray.init` would dial it."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    try:
        if not port.isdigit() or not (host == "localhost" or ipaddress.ip_address(host).is_loopback):
            return False
        routable = ray.util.get_node_ip_address()
        if ipaddress.ip_address(routable).is_loopback:  # a machine without a route: Ray stays on loopback
            return False
    except ValueError:  # a host name, a Ray Client URL ("ray://..."), "auto": Ray resolves it
        return False
    return _accepts(host, int(port)) and not _accepts(routable, int(port))


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


# Experiment state -------------------------------------------------------------

_STATE_FILES = TuneController.CKPT_FILE_TMPL.format("*")  # experiment_state-<time>.json
_CHECKPOINT_NAME = re.compile(rb"(trial_[0-9a-f]+)/(checkpoint_\d{6})")
# A trial's checkpoint manager is a hex-encoded cloudpickle inside the JSON (Tune's private
# CLOUDPICKLE_FALLBACK encoding); its quotes may come escaped, trial entries being JSON inside JSON.
_PICKLE_HEX = re.compile(rb'value\\*": \\*"([0-9a-f]{16,})')


def checkpoints_named_in_state(run_dir: Path) -> dict[str, str]:
    """Trial directory name -> the newest checkpoint directory name Ray's newest experiment state names.

    Ray offers no public reader of its experiment state short of restoring the
    run; the names are read as bytes from the pickled checkpoint managers,
    nothing is unpickled.
    """
    states = sorted(run_dir.glob(_STATE_FILES))
    if not states:
        return {}
    newest: dict[bytes, bytes] = {}
    for trial, name in _CHECKPOINT_NAME.findall(_state_bytes(states[-1])):
        newest[trial] = max(name, newest.get(trial, b""))
    return {trial.decode(): name.decode() for trial, name in sorted(newest.items())}


def _state_bytes(path: Path) -> bytes:
    """The state's text with its hex-encoded pickles decoded to bytes (searched, never loaded)."""
    text = path.read_bytes()
    blobs = _PICKLE_HEX.findall(text)
    return text + b"".join(bytes.fromhex(blob.decode()) for blob in blobs if len(blob) % 2 == 0)


# Checks -----------------------------------------------------------------------


# Methods automl overrides or calls: (owner, (name, the parameters automl passes) each).
_METHODS: tuple[tuple[Any, tuple[tuple[str, ...], ...]], ...] = (
    (
        TuneController,
        (
            ("stop_trial", "trial"),
            ("checkpoint", "force", "wait"),
            ("_maybe_cache_trial_actor", "trial"),
            ("_maybe_reuse_cached_actor", "trial"),
            ("_schedule_trial_actor", "trial"),
            ("_actor_started", "tracked_actor", "log"),
            ("_actor_failed", "tracked_actor", "exception"),
            ("_actor_stopped", "tracked_actor"),
            ("_remove_actor", "tracked_actor"),
            ("_cleanup_cached_actors", "force_all"),
            ("_mark_trial_to_checkpoint", "trial"),
        ),
    ),
    (
        RayActorManager,
        (("clear_actor_task_futures", "tracked_actor"), ("remove_actor", "tracked_actor", "kill")),
    ),
    (RayEventManager, (("get_futures",), ("resolve_future", "future"))),
    (_ObjectCache, (("has_cached_object", "key"), ("cache_object", "key", "obj"))),
    (TrackedActor, (("set_on_stop", "on_stop"), ("set_on_error", "on_error"))),
    (ray_output, (("_detect_reporter", "verbosity"),)),
    (TunerInternal, (("get_run_config",),)),
    (OptunaSearch, (("_suggest_from_define_by_run_func", "func", "ot_trial"),)),
    (_Bracket, (("filled",),)),
    (HyperBandScheduler, (("_create_bracket", "s"),)),
)
# Instance attributes automl reads or sets: (owner, the names its own methods set).
_ATTRIBUTES: tuple[tuple[type, tuple[str, ...]], ...] = (
    (
        TuneController,
        (
            *("_actor_manager", "_trials", "_cached_trial_decisions", "_trial_to_actor", "_actor_to_trial"),
            *("_resetting_trials", "_started_actors", "_actor_cache", "_search_alg", "_staged_trials"),
        ),
    ),
    (RayActorManager, ("_actor_task_events",)),
    (_TemporaryTrialState, ("saving_to",)),
    (tune.Tuner, ("_local_tuner",)),
    (_Bracket, ("_all_trials", "_n0")),
    (
        HyperBandScheduler,
        ("_time_attr", "_get_n0", "_get_r0", "_max_t_attr", "_eta", "_stop_last_trials", "_s_max_1"),
    ),
)
_BRACKET_ARGS = ("time_attr", "max_trials", "init_t_attr", "max_t_attr", "eta", "s", "stop_last_trials")


def _has_method(owner: Any, name: str, *params: str) -> bool:
    return takes(getattr(owner, name), *params)


def _checks() -> dict[str, Callable[[], object]]:
    """What each use above needs of Ray -> a check that it is there (looked up only when checked)."""
    return {
        "ray.tune.tune.TuneController": lambda: ray_tune_module.TuneController is TuneController,
        **{
            f"{owner.__name__}.{name}({', '.join(params)})": functools.partial(
                _has_method, owner, name, *params
            )
            for owner, signatures in _METHODS
            for name, *params in signatures
        },
        **{
            f"{owner.__name__}.{name}": functools.partial(sets_attribute, owner, name)
            for owner, names in _ATTRIBUTES
            for name in names
        },
        f"_Bracket({', '.join(_BRACKET_ARGS)})": functools.partial(takes, _Bracket, *_BRACKET_ARGS),
        "ray.tune.execution.class_cache.DEFAULT_ENV_VARS": lambda: isinstance(
            ray_class_cache.DEFAULT_ENV_VARS, dict
        ),
        "ray.tune.utils.serialization CLOUDPICKLE_FALLBACK": lambda: (
            serialization._CLOUDPICKLE_FALLBACK_TYPE == "CLOUDPICKLE_FALLBACK"
        ),
        "TuneController.CKPT_FILE_TMPL": lambda: TuneController.CKPT_FILE_TMPL == "experiment_state-{}.json",
        "ray._private.authentication.authentication_token_setup"
        ".maybe_enable_token_auth_if_token_available(warn_if_disabled)": _has_token_helper,
        **{
            f"ProgressReporter.{hook}": functools.partial(hasattr, RayConsole, hook)
            for hook in _CONSOLE_HOOKS
        },
    }


def _has_token_helper() -> bool:
    from ray._private.authentication import authentication_token_setup

    return takes(authentication_token_setup.maybe_enable_token_auth_if_token_available, "warn_if_disabled")


def check_private_names() -> None:
    """Raises `IncompatibleVersionError` unless the installed Ray has every private name used here."""
    require("ray", TESTED, _checks())


check_private_names()
