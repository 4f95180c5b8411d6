"""``GET v1/openapi.json``: the API document, built by :mod:`jupyter_modelfiles.openapi`."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from tornado import web

from ..openapi import build_document
from .base import ModelFilesHandler


class OpenAPIHandler(ModelFilesHandler):
    """``GET v1/openapi.json``, with ``servers`` at this server's ``base_url``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(build_document(url_path_join(self.base_url, "modelfiles")))


default_handlers: list[tuple[str, Any]] = [(r"/modelfiles/v1/openapi\.json", OpenAPIHandler)]
