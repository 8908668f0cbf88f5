"""A local run through the command line: Ray on loopback only, a private token, and only automl's lines.

Each run is its own ``automl`` process (which imports Ray before it starts
it) with a HOME of its own, so Ray's token file is the run's.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from automl import TuningResult
from automl.execution._quiet import LOG_FILE

pytestmark = [pytest.mark.slow, pytest.mark.ray]

EXPERIMENT = """
experiment_name: loopback
data: {{sklearn: iris}}
space: {{preset: mlp, batch_size: 32}}
num_trials: {trials}
epochs: {epochs}
scheduler: fifo
seed: 0
resources_per_trial: {{cpu: 1}}
"""

# The trial holds at its first epoch's end until the test says go: Ray is up, a worker is training.
HOLD = """
import time
from pathlib import Path

import keras

GATE = Path({gate!r})


class Hold(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        (GATE / "holding").touch()
        while not (GATE / "go").exists():
            time.sleep(0.05)


def hold():
    return [Hold()]
"""


def _automl(tmp: Path, *args: str) -> subprocess.Popen[str]:
    # A Ray started in this process (another test's) sets RAY_AUTH_MODE in its environment;
    # a user's shell has none, and with it set Ray skips the notice these tests look for.
    env = {**{k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}, "HOME": str(tmp / "home")}
    (tmp / "home").mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "automl.cli", *args],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # SIGINT to its group is Ctrl-C in a terminal
    )


def _tune(tmp: Path, *, trials: int, epochs: int, extra: str = "") -> subprocess.Popen[str]:
    (tmp / "exp.yaml").write_text(EXPERIMENT.format(trials=trials, epochs=epochs) + extra)
    sets = {
        "name": "run",
        "storage_path": str(tmp / "runs"),
        "tracking_uri": f"sqlite:///{tmp / 'mlflow.db'}",
    }
    return _automl(
        tmp, "tune", str(tmp / "exp.yaml"), *[a for k, v in sets.items() for a in ("--set", f"{k}={v}")]
    )


def _wait_for(
    condition: Callable[[], bool], process: subprocess.Popen[str], what: str, timeout_s: float = 300
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            pytest.fail(f"{what} did not happen (exit {process.returncode}):\n{out}\n{err}")
        time.sleep(0.1)


def _process_tree(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:  # gone meanwhile
                continue
            children.setdefault(parent, []).append(int(entry.name))
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += children.get(pid, [])
    return tree


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """/proc/net/tcp{,6}'s local address: little-endian 32-bit words in hex."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _listening(pids: set[int]) -> dict[str, set[int]]:
    """Local address:port of each TCP socket the processes listen on -> the processes."""
    inodes: dict[str, set[int]] = {}
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.setdefault(target[8:-1], set()).add(pid)
    found: dict[str, set[int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                hex_address, hex_port = fields[1].rsplit(":", 1)
                found[f"{_address(hex_address)}:{int(hex_port, 16)}"] = inodes[fields[9]]
    return found


def _ours(lines: list[str]) -> list[str]:
    return [line for line in lines if line and not line.startswith("[automl] ")]


def test_a_local_run_listens_on_loopback_only_keeps_its_token_private_and_prints_only_its_lines(tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    (tmp_path / "hold.py").write_text(HOLD.format(gate=str(gate)))
    run = _tune(tmp_path, trials=1, epochs=1, extra="callbacks: [hold.py:hold]\n")
    try:
        _wait_for((gate / "holding").exists, run, "a trial's first epoch")
        sockets = _listening(_process_tree(run.pid))
    finally:
        (gate / "go").touch()
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    # GCS, raylet, object manager, agents, metrics exporters, the driver's and the trial's workers.
    assert len(sockets) >= 8, sockets
    assert {a for a in sockets if not ipaddress.ip_address(a.rsplit(":", 1)[0]).is_loopback} == set()

    token = tmp_path / "home" / ".ray" / "auth_token"
    assert token.stat().st_mode & 0o777 == 0o600

    assert err == ""
    head, _, summary = out.partition("\n\n")
    assert _ours(head.splitlines()) == []
    assert summary.strip() == TuningResult.load(tmp_path / "runs" / "run").summary().strip()
    assert "Token authentication is enabled" in (tmp_path / "runs" / "run" / LOG_FILE).read_text()

    exported = _automl(
        tmp_path, "export", str(tmp_path / "runs" / "run"), "--format", "savedmodel", "--out", "m"
    )
    out, err = exported.communicate(timeout=300)
    assert exported.returncode == 0, err
    assert (err, out.startswith("Exported the best model")) == ("", True)
    assert "oneDNN" in (tmp_path / "runs" / "run" / LOG_FILE).read_text()  # TensorFlow's start-up, kept


def test_ctrl_c_prints_only_automl_s_lines_and_a_shared_token_is_named(tmp_path):
    token = tmp_path / "home" / ".ray" / "auth_token"
    token.parent.mkdir(parents=True)
    token.write_text("0" * 64)
    token.chmod(0o644)
    run = _tune(tmp_path, trials=4, epochs=3)
    lines = []
    with run:
        assert run.stdout is not None and run.stderr is not None
        for line in run.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("[automl] trial "):  # a first trial ended: the run is under way
                os.killpg(run.pid, signal.SIGINT)
                break
        lines += run.stdout.read().splitlines()
        err = run.stderr.read()
    assert run.wait(timeout=120) == 130, err
    assert _ours(lines) == [] and _ours(err.splitlines()) == [], err
    assert f"[automl] warning: {token} (the token" in err
    assert "`automl resume " in err
    log = (tmp_path / "runs" / "run" / LOG_FILE).read_text()
    assert "Tuner.restore(" in log


def test_a_ray_that_ignores_the_loopback_switch_still_starts_and_says_so_in_one_line(tmp_path):
    # What a Ray release that changed the switch looks like: Ray is imported before automl.
    driver = textwrap.dedent(
        """
        import importlib
        from automl.execution._ray_compat import LOOPBACK_SWITCH
        module, name = LOOPBACK_SWITCH
        setattr(importlib.import_module(module), name, 1)
        import ray
        from automl.execution._local_ray import start_local_ray
        start_local_ray(log_to_driver=False)
        print(ray.util.get_node_ip_address())
        ray.shutdown()
        """
    )
    (tmp_path / "home").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", driver],
        env={**os.environ, "HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert not ipaddress.ip_address(done.stdout.strip()).is_loopback
    notices = [line for line in done.stderr.splitlines() if line.startswith("[automl] ")]
    assert len(notices) == 1 and "listen on all network interfaces" in notices[0], done.stderr


HEAD = textwrap.dedent(
    """
    import sys
    import ray
    from automl.execution._local_ray import start_local_ray
    start_local_ray(log_to_driver=False)
    print(ray.get_runtime_context().gcs_address, flush=True)
    sys.stdin.read()  # until the test closes it
    """
)

JOIN = textwrap.dedent(
    """
    import sys
    import automl
    from search_spaces import Dense, LayerStack, Space
    space = Space(layers=LayerStack(Dense(units=8), max_layers=1), learning_rate=1e-2, batch_size=32)
    result = automl.tune(space, data="iris", num_trials=1, epochs=1, scheduler="fifo", address=sys.argv[1],
                         storage_path=sys.argv[2], tracking_uri=sys.argv[3], name="joined", verbose=0)
    print(list(result.trials["state"]))
    """
)


def test_a_second_driver_joins_a_loopback_ray_through_127_0_0_1(tmp_path):
    # The Ray automl starts for one driver, joined by another (a second study, a benchmark's drivers).
    env = {**{k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}, "HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    with subprocess.Popen(
        [sys.executable, "-c", HEAD], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as head:
        assert head.stdout is not None and head.stdin is not None
        address = head.stdout.readline().strip()
        assert address.startswith("127.0.0.1:"), address
        try:
            joined = subprocess.run(
                [sys.executable, "-c", JOIN, address, str(tmp_path / "runs"), f"sqlite:///{tmp_path / 'mlflow.db'}"],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,  # it hung here, waiting for a raylet at the machine's routable address
            )
        finally:
            head.stdin.close()  # the head shuts its Ray down and exits
            head.wait(timeout=120)
    assert joined.returncode == 0, joined.stderr[-3000:]
    assert joined.stdout.strip().splitlines()[-1] == "['COMPLETE']"
