"""Shared fixtures. A guard refuses any connection that is not to loopback, so no test
can reach a network model by accident; each test gets its own CORRIGO_HOME."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

from corrigo.config import Settings
from tests.ray_cluster import use_token

# The test clusters' token (Ray's token authentication), in the environment before any
# test imports Ray, which reads it once per process.
use_token()

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple):
        return True  # unix sockets
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise ConnectionRefusedError(
            f"test guard: connection to {address!r} refused (not loopback)"
        )
    _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_loopback(address):
        raise ConnectionRefusedError(
            f"test guard: connection to {address!r} refused (not loopback)"
        )
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _network_guard(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CORRIGO_MODEL", "CORRIGO_STORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CORRIGO_HOME", str(tmp_path / "home"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"CORRIGO_HOME": str(tmp_path / "home")})
