"""Test hosts on this machine: network namespaces on one bridge, each with its own address.

`Network` makes a bridge in the root namespace with one address on it (where the test
and `automl submit` run, "outside the cluster hosts"), and `Network.add_host` a namespace
joined to it by a veth pair. The addresses are a private /24 in 10.0.0.0/8 picked per
session and checked against the machine's own: they exist only on the bridge and in the
namespaces, so nothing a test sends leaves the machine. `Network.close` kills every
process in the namespaces and removes them with their links, whatever the test did;
`sweep_stale` removes what an earlier session that died left behind.

`RayCluster` runs Ray on those hosts: `ray start --head` on one, `ray start --address` on
the others, token authentication on with the cluster's own token file.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IP = shutil.which("ip") or "/usr/sbin/ip"
PREFIX = "amt"  # every namespace and link of these tests: amt<pid>x<n>...
RAY = str(Path(sys.executable).parent / "ray")


def unavailable() -> str | None:
    """Why network namespaces cannot be made here (a sandbox, no root, no `ip`), or None."""
    if not Path(IP).exists():
        return f"no `ip` command ({IP}): network namespaces cannot be made"
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN)"
    name = f"{PREFIX}{os.getpid()}probe"
    made = subprocess.run([IP, "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` is not permitted here: {made.stderr.strip()}"
    try:
        link = subprocess.run(
            [IP, "link", "add", f"{name[:11]}v", "type", "veth", "peer", "name", f"{name[:11]}p"],
            capture_output=True,
            text=True,
        )
        if link.returncode != 0:
            return f"veth pairs cannot be made here: {link.stderr.strip()}"
        subprocess.run([IP, "link", "del", f"{name[:11]}v"], capture_output=True)
    finally:
        subprocess.run([IP, "netns", "del", name], capture_output=True)
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> None:
    """Removes the namespaces, bridges and Ray directories of earlier sessions whose process is gone."""
    names = subprocess.run([IP, "netns", "list"], capture_output=True, text=True).stdout.split()
    links = subprocess.run([IP, "-o", "link", "show"], capture_output=True, text=True).stdout.splitlines()
    for name in names:
        owner = _owner(name)
        if owner is not None and not _pid_alive(owner):
            _kill_namespace(name)
            subprocess.run([IP, "netns", "del", name], capture_output=True)
    for line in links:
        link = line.split(":")[1].strip().split("@")[0]
        owner = _owner(link)
        if owner is not None and not _pid_alive(owner):
            subprocess.run([IP, "link", "del", link], capture_output=True)
    for path in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        owner = _owner(path.name)
        if owner is not None and not _pid_alive(owner):
            shutil.rmtree(path, ignore_errors=True)


def clean_up_on_sigterm() -> None:
    """On SIGTERM (a `timeout` around pytest), removes this process's networks before it ends.

    Fixture teardown does not run then; atexit does not either.
    """

    def terminated(signum: int, frame: object) -> None:
        for net in list(_open):
            net.close()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, terminated)


def _owner(name: str) -> int | None:
    """The pid in a name this module made (amt<pid>x...), or None for another name."""
    if not name.startswith(PREFIX) or "x" not in name:
        return None
    digits = name[len(PREFIX) :].split("x", 1)[0]
    return int(digits) if digits.isdigit() else None


def _kill_namespace(name: str) -> None:
    """SIGKILLs every process in namespace ``name`` until none is left (Ray's restart some)."""
    for _ in range(50):
        pids = subprocess.run([IP, "netns", "pids", name], capture_output=True, text=True).stdout.split()
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.1)


def _used_subnets() -> set[str]:
    """The /24s (as "a.b.c") of every IPv4 address and route on this machine."""
    out = subprocess.run([IP, "-4", "-o", "addr", "show"], capture_output=True, text=True).stdout
    out += subprocess.run([IP, "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    return {word.split("/")[0].rsplit(".", 1)[0] for word in out.split() if word.count(".") == 3}


_counter = iter(range(1, 1000))
_open: list[Network] = []  # this process's networks not closed yet


@dataclass
class Host:
    """One namespace on the bridge: ``name`` (for `ip netns exec`), its ``address``."""

    name: str
    address: str
    link: str  # the root namespace's end of its veth pair, on the bridge

    def command(self, args: list[str]) -> list[str]:
        """``args`` as a command run inside this host."""
        return [IP, "netns", "exec", self.name, *args]

    def run(self, args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(args), capture_output=True, text=True, **kwargs)

    def cut(self) -> None:
        """Takes the host off the network: its link to the bridge goes down."""
        subprocess.run([IP, "link", "set", self.link, "down"], check=True)

    def restore(self) -> None:
        subprocess.run([IP, "link", "set", self.link, "up"], check=True)

    def pids(self) -> list[int]:
        out = subprocess.run([IP, "netns", "pids", self.name], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]


@dataclass
class Network:
    """A bridge with an address in the root namespace, and hosts (namespaces) on it."""

    tag: str = field(default_factory=lambda: f"{PREFIX}{os.getpid()}x{next(_counter)}")
    hosts: list[Host] = field(default_factory=list)
    subnet: str = ""
    address: str = ""  # the root namespace's address on the bridge

    def __post_init__(self) -> None:
        used = _used_subnets()
        rng = random.Random()
        while not self.subnet or self.subnet in used:
            self.subnet = f"10.{rng.randint(160, 250)}.{rng.randint(1, 254)}"
        self.address = f"{self.subnet}.1"
        self.bridge = f"{self.tag}b"
        _open.append(self)
        try:
            self._ip("link", "add", self.bridge, "type", "bridge")
            self._ip("addr", "add", f"{self.address}/24", "dev", self.bridge)
            self._ip("link", "set", self.bridge, "up")
        except BaseException:
            self.close()
            raise

    def _ip(self, *args: str) -> None:
        subprocess.run([IP, *args], check=True, capture_output=True)

    def add_host(self) -> Host:
        """A new namespace with the next address (.11, .12, ...), up and reachable."""
        n = len(self.hosts) + 1
        host = Host(name=f"{self.tag}h{n}", address=f"{self.subnet}.{10 + n}", link=f"{self.tag}v{n}")
        self.hosts.append(host)
        peer = f"{self.tag}p{n}"
        self._ip("netns", "add", host.name)
        self._ip("link", "add", host.link, "type", "veth", "peer", "name", peer)
        self._ip("link", "set", peer, "netns", host.name)
        self._ip("link", "set", host.link, "master", self.bridge)
        self._ip("link", "set", host.link, "up")
        inside = [IP, "netns", "exec", host.name, IP]
        for args in (
            ["link", "set", "lo", "up"],
            ["link", "set", peer, "name", "eth0"],
            ["addr", "add", f"{host.address}/24", "dev", "eth0"],
            ["link", "set", "eth0", "up"],
        ):
            subprocess.run([*inside, *args], check=True, capture_output=True)
        return host

    def close(self) -> None:
        """Kills every process in the hosts, removes them, their links and the bridge."""
        if self in _open:
            _open.remove(self)
        for host in self.hosts:
            _kill_namespace(host.name)
        for host in self.hosts:
            subprocess.run([IP, "link", "del", host.link], capture_output=True)
            subprocess.run([IP, "netns", "del", host.name], capture_output=True)
        subprocess.run([IP, "link", "del", self.bridge], capture_output=True)


@contextlib.contextmanager
def network() -> Iterator[Network]:
    net = Network()
    try:
        yield net
    finally:
        net.close()


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 120.0, every: float = 0.5) -> Any:
    """Polls ``condition`` until it returns something truthy; fails naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


# Ray on the hosts ---------------------------------------------------------------

GCS_PORT = 6379
DASHBOARD_PORT = 8265


@dataclass
class RayCluster:
    """Ray on a `Network`'s hosts, token authentication on, with the cluster's own token."""

    net: Network
    system: dict[str, str] = field(default_factory=dict)  # RAY_* settings for every node
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}xray")))
    head: Host | None = None

    def __post_init__(self) -> None:
        # The token the cluster checks and the submitter sends; as `ray get-auth-token
        # --generate` would write it, but in the test's own file, not the user's ~/.ray.
        self.token_file = self.root / "auth_token"
        self.token_file.write_text(secrets.token_hex(32))
        self.token_file.chmod(0o600)

    @property
    def dashboard(self) -> str:
        assert self.head is not None
        return f"http://{self.head.address}:{DASHBOARD_PORT}"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of the cluster's processes (and of a client holding the token)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        # As from an activated venv: a job's `python` entrypoint is this installation's.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.update(
            RAY_AUTH_MODE="token",
            RAY_AUTH_TOKEN_PATH=str(self.token_file),
            RAY_USAGE_STATS_ENABLED="0",
            TF_CPP_MIN_LOG_LEVEL="2",
            **self.system,
            **extra,
        )
        return env

    def _start(self, host: Host, args: list[str]) -> None:
        temp = self.root / host.name.rsplit("h", 1)[1]  # short: Ray's socket paths must stay < 108 bytes
        temp.mkdir(exist_ok=True)
        out = host.run(
            [
                RAY, "start", *args,
                f"--node-ip-address={host.address}",
                f"--temp-dir={temp}",
                "--disable-usage-stats",
            ],
            env=self.env(),
            timeout=120,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"ray start on {host.name} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")

    def start_head(self, host: Host, *, num_cpus: int = 1) -> None:
        self.head = host
        self._start(
            host,
            [
                "--head",
                f"--port={GCS_PORT}",
                f"--num-cpus={num_cpus}",
                "--include-dashboard=true",
                f"--dashboard-host={host.address}",
                f"--dashboard-port={DASHBOARD_PORT}",
            ],
        )

    def join(self, host: Host, *, num_cpus: int = 1) -> None:
        assert self.head is not None
        self._start(host, [f"--address={self.head.address}:{GCS_PORT}", f"--num-cpus={num_cpus}"])

    def nodes(self) -> list[dict[str, Any]]:
        """The cluster's nodes as its State API lists them (asked with the token)."""
        request = urllib.request.Request(
            f"{self.dashboard}/api/v0/nodes?limit=100&detail=1",
            headers={"Authorization": f"Bearer {self.token_file.read_text()}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return list(json.load(response)["data"]["result"]["result"])
        except OSError:
            return []

    def alive(self) -> set[str]:
        """The addresses of the nodes alive."""
        return {n["node_ip"] for n in self.nodes() if n["state"] == "ALIVE"}

    def wait_alive(self, addresses: set[str], timeout: float = 120.0) -> None:
        wait_for(lambda: self.alive() == addresses, f"Ray nodes alive at exactly {sorted(addresses)}", timeout)

    def raylet_pid(self, host: Host) -> int:
        """The pid of the raylet running in ``host``."""
        for pid in host.pids():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "raylet":
                    return pid
        raise LookupError(f"no raylet in {host.name}")

    def close(self) -> None:
        """Stops Ray on every host (the network's close kills whatever is left)."""
        for host in self.net.hosts:
            _kill_namespace(host.name)
        shutil.rmtree(self.root, ignore_errors=True)
