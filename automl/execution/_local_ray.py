"""The Ray instance a run starts itself (no ``address``): on loopback, its token file private.

Joining a cluster (`ray.init(address=...)`, `automl submit`) does not go through here.
"""

from __future__ import annotations

import atexit
import logging
import os
import stat
import sys
from pathlib import Path

from automl._environ import environment_variable
from automl.execution._ray_compat import init_local_ray_on_loopback

__all__ = ["RAY_TOKEN_FILE", "start_local_ray"]

# Where Ray keeps the token of the clusters it starts, and writes a new one (Ray's token-auth docs).
RAY_TOKEN_FILE = Path("~/.ray/auth_token")


def start_local_ray(*, log_to_driver: bool) -> None:
    """Starts a fresh local Ray whose services listen on 127.0.0.1 only.

    A token file Ray creates is made readable by its owner only; one that
    was there before and others can read is named in a warning.
    """
    token = RAY_TOKEN_FILE.expanduser()
    existed = token.exists()
    # Quiet TensorFlow's C++ start-up banner in every worker. Through the environment
    # Ray's processes inherit rather than a runtime_env: the idle workers Ray starts
    # ahead of time never serve an actor of a job that has a runtime_env.
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")
    with environment_variable("TF_CPP_MIN_LOG_LEVEL", level):
        init_local_ray_on_loopback(
            # "local" always starts a fresh instance; a bare ray.init() would join whatever
            # cluster /tmp/ray/ray_current_cluster names, even a dead one.
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=log_to_driver,
        )
    keep_token_private(token, created=not existed)
    if not log_to_driver:
        _shut_down_at_exit()


def _shut_down_at_exit() -> None:
    """Has the process shut Ray down as it exits without Ray's own half-second wait for worker logs.

    Ray's exit handler, registered as Ray is imported, sleeps 0.5 s so that the
    workers' last log lines reach the console; a Ray started with
    ``log_to_driver=False`` sends none. A handler registered later runs first:
    its `ray.shutdown` leaves Ray's nothing to do. Registered once per process.
    """
    global _exit_handler_registered
    if not _exit_handler_registered:
        atexit.register(_shutdown_ray)
        _exit_handler_registered = True


_exit_handler_registered = False


def _shutdown_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


def keep_token_private(token: Path, *, created: bool) -> None:
    """Makes ``token`` 0600 if this run created it; warns, naming it, if others can read it anyway."""
    try:
        mode = stat.S_IMODE(token.stat().st_mode)
    except FileNotFoundError:  # token auth off, or the token comes from RAY_AUTH_TOKEN
        return
    if not mode & 0o077:
        return
    if created:
        token.chmod(0o600)
        return
    print(
        f"[automl] warning: {token} (the token that guards this machine's Ray clusters) can be read by "
        f"other users (mode {mode:o}); `chmod 600 {token}` keeps it yours.",
        file=sys.stderr,
        flush=True,
    )
