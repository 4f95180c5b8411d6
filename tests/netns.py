"""A real network namespace joined to the host by a veth pair: a second "node" on this machine.

``NetNode()`` makes ``ip netns`` namespace ``mf<hex>`` with ``lo`` up and a veth pair: the host
end ``mfh<hex>`` holds ``host_ip`` and the namespace end ``mfn<hex>`` holds ``node_ip`` (a /30 of
10.213.0.0/16 chosen at random, so parallel runs do not clash). A process runs in the namespace
under ``ip netns exec`` (:attr:`wrapper`); it reaches the host's services on ``host_ip``.

:meth:`vanish` makes the node disappear without a trace for the host: the namespace's end of
the veth goes down, so what the host sends leaves it normally and is lost on the way (no
error, no reset; the neighbour entries are static, so no ARP failure tells the host either),
as when a node loses power or its network. (A drop by a qdisc on the host's side would not do:
Linux knows a packet it dropped itself and never counts such keepalive probes as
unanswered.) :meth:`come_back` undoes it. Needs root.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess


def require_root(what: str) -> None:
    """Fail (never skip) when not root: these tests make namespaces, veths and users."""
    if os.geteuid() != 0:
        import pytest

        pytest.fail(
            f"{what} needs root (network namespaces, veth pairs, other Unix users); "
            "the suite runs as root in CI: run it with sudo",
            pytrace=False,
        )


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


class NetNode:
    """See the module docstring; ``close()`` removes the namespace and the veth pair."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.name = f"mf{tag}"
        self.host_dev = f"mfh{tag}"
        self.node_dev = f"mfn{tag}"
        subnet = secrets.randbelow(1 << 14)  # a /30 of 10.213.0.0/16
        base = (10 << 24) | (213 << 16) | (subnet << 2)
        self.host_ip = _dotted(base + 1)
        self.node_ip = _dotted(base + 2)
        self.vanished = False
        _ip("netns", "add", self.name)
        try:
            _ip("link", "add", self.host_dev, "type", "veth", "peer", "name", self.node_dev)
            _ip("link", "set", self.node_dev, "netns", self.name)
            _ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_dev)
            _ip("link", "set", self.host_dev, "up")
            self.ns("addr", "add", f"{self.node_ip}/30", "dev", self.node_dev)
            self.ns("link", "set", self.node_dev, "up")
            self.ns("link", "set", "lo", "up")
            self._neighbours()
        except BaseException:
            self.close()
            raise

    def _neighbours(self) -> None:
        """Static neighbour entries: no ARP failure ever tells either side about the cut."""
        host_mac = _mac(_ip("-j", "link", "show", self.host_dev))
        node_mac = _mac(self.ns("-j", "link", "show", self.node_dev))
        _ip("neigh", "replace", self.node_ip, "lladdr", node_mac, "dev", self.host_dev,
            "nud", "permanent")  # fmt: skip
        self.ns("neigh", "replace", self.host_ip, "lladdr", host_mac, "dev", self.node_dev,
                "nud", "permanent")  # fmt: skip

    @property
    def wrapper(self) -> list[str]:
        """The command prefix that runs a program inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def ns(self, *args: str) -> str:
        return _ip("-n", self.name, *args)

    def vanish(self) -> None:
        """The node's end of the cable goes dead: the host's packets leave it and are lost."""
        self.ns("link", "set", self.node_dev, "down")
        self.vanished = True

    def come_back(self) -> None:
        self.ns("link", "set", self.node_dev, "up")
        self._neighbours()  # a link going down flushes them
        self.vanished = False

    def dropped(self) -> int:
        """Packets the host sent towards the vanished node (lost): proof the cut was real."""
        shown = json.loads(_ip("-s", "-j", "link", "show", self.host_dev))[0]
        return int(shown["stats64"]["tx"]["dropped"])

    def close(self) -> None:
        subprocess.run(["ip", "link", "del", self.host_dev], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)


def _dotted(value: int) -> str:
    return ".".join(str((value >> shift) & 255) for shift in (24, 16, 8, 0))


def _mac(shown: str) -> str:
    return str(json.loads(shown)[0]["address"])
