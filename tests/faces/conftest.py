"""Fixtures of the tests of the notebook and terminal faces (client, widgets, magics, CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class Live:
    """A listening Jupyter server: its root URL (with base_url) and token."""

    url: str
    token: str

    @property
    def api_url(self) -> str:
        return self.url + "modelfiles/"


@pytest.fixture
def live(server_url: str, token: str, http_server_client: Any) -> Live:
    """The real server, listening on its port (``http_server_client`` binds it)."""
    return Live(server_url, token)
