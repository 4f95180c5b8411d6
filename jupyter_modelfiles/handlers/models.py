"""The model catalog routes (Pieces snapshot/download/update, Anaconda ModelFile, LM Studio
download). Model ids may contain ``/``: every route accepts them raw and ``%2F``-encoded.

These routes must be listed AFTER the downloads and runtime routes (``/models/download/status``,
``/models/{id}/load``...): the snapshot route's ``{model_id}`` matches anything.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..catalog.service import Catalog
from ..errors import InvalidRequest
from .base import ModelFilesHandler, path_id


class CatalogHandler(ModelFilesHandler):
    """Base of the catalog routes: reaches the ``Catalog`` service and the runtime's info."""

    @property
    def catalog(self) -> Catalog:
        return self.services.catalog

    def runtime_info(self) -> dict[str, dict[str, Any]]:
        """The runtime's info of every loaded model, by id (what snapshots show of memory)."""
        return {info["id"]: info for info in self.services.runtime.loaded()}


class ModelsHandler(CatalogHandler):
    """``GET v1/models`` (list with filters) and ``POST v1/models`` (register a custom model)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        result = await self.catalog.list_models(
            search=self.query_str("search"),
            source=self.query_str("source"),
            format=self.query_str("format"),
            quantization=self.query_str("quantization"),
            downloaded=self.query_bool("downloaded"),
            loaded=self.query_bool("loaded"),
            page=self.query_int("page", 1, minimum=1, maximum=100_000),
            page_size=self.query_int("page_size", 50, minimum=1, maximum=200),
            runtime=self.runtime_info(),
        )
        self.write_json(result)

    @web.authenticated
    @authorized
    async def post(self) -> None:
        snapshot = await self.catalog.register_custom(self.json_body(), runtime=self.runtime_info())
        self.write_json(snapshot, status=201)


class ModelUpdateHandler(CatalogHandler):
    """``POST v1/models/update``: custom models only."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.write_json(
            await self.catalog.update_custom(self.json_body(), runtime=self.runtime_info())
        )


class LMStudioDownloadHandler(CatalogHandler):
    """``POST v1/models/download`` ``{model, quantization?}`` -> job status."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body()
        if "model" not in body:
            raise InvalidRequest("the body needs 'model': a catalog id or a Hugging Face URL")
        self.write_json(
            await self.catalog.download_lmstudio(body["model"], body.get("quantization"))
        )


class ModelHandler(CatalogHandler):
    """``GET v1/models/{id}`` snapshot; ``DELETE`` removes its local files."""

    @web.authenticated
    @authorized
    async def get(self, model_id: str) -> None:
        self.write_json(await self.catalog.snapshot(path_id(model_id), runtime=self.runtime_info()))

    @web.authenticated
    @authorized
    async def delete(self, model_id: str) -> None:
        forget = bool(self.query_bool("forget"))
        self.write_json(
            await self.catalog.delete_local(
                path_id(model_id), forget=forget, runtime=self.runtime_info()
            )
        )


class ModelFilesListHandler(CatalogHandler):
    """``GET v1/models/{id}/files?downloaded=`` -> ``{data: [ModelFile]}``."""

    @web.authenticated
    @authorized
    async def get(self, model_id: str) -> None:
        files = await self.catalog.model_files(path_id(model_id), self.query_bool("downloaded"))
        self.write_json({"data": files})


class ModelFileHandler(CatalogHandler):
    """``GET/PATCH/DELETE v1/models/{id}/files/{file_id}``."""

    @web.authenticated
    @authorized
    async def get(self, model_id: str, file_id: str) -> None:
        self.write_json(
            {"data": await self.catalog.model_file(path_id(model_id), path_id(file_id))}
        )

    @web.authenticated
    @authorized
    async def patch(self, model_id: str, file_id: str) -> None:
        action = self.json_body().get("action")
        if not isinstance(action, str):
            raise InvalidRequest("the body needs 'action': start, pause or resume")
        status = await self.catalog.file_action(path_id(model_id), path_id(file_id), action)
        self.write_json({"data": status})

    @web.authenticated
    @authorized
    async def delete(self, model_id: str, file_id: str) -> None:
        self.write_json(
            {"data": await self.catalog.delete_file(path_id(model_id), path_id(file_id))}
        )


class ModelDownloadHandler(CatalogHandler):
    """``POST v1/models/{id}/download`` (body ``{files?, quantization?}``) -> snapshot."""

    @web.authenticated
    @authorized
    async def post(self, model_id: str) -> None:
        body = self.json_body()
        snapshot = await self.catalog.download_model(
            path_id(model_id),
            files=body.get("files"),
            quantization=body.get("quantization"),
            runtime=self.runtime_info(),
        )
        self.write_json(snapshot)


class ModelDownloadCancelHandler(CatalogHandler):
    """``POST v1/models/{id}/download/cancel`` -> snapshot."""

    @web.authenticated
    @authorized
    async def post(self, model_id: str) -> None:
        self.write_json(
            await self.catalog.cancel_model(path_id(model_id), runtime=self.runtime_info())
        )


_M = r"/modelfiles/v1/models"
default_handlers: list[tuple[str, Any]] = [
    (rf"{_M}/?", ModelsHandler),
    (rf"{_M}/update/?", ModelUpdateHandler),
    (rf"{_M}/download/?", LMStudioDownloadHandler),
    (rf"{_M}/(?P<model_id>.+)/files/(?P<file_id>[^/]+)/?", ModelFileHandler),
    (rf"{_M}/(?P<model_id>.+)/files/?", ModelFilesListHandler),
    (rf"{_M}/(?P<model_id>.+)/download/cancel/?", ModelDownloadCancelHandler),
    (rf"{_M}/(?P<model_id>.+)/download/?", ModelDownloadHandler),
    (rf"{_M}/(?P<model_id>.+?)/?", ModelHandler),
]
