"""One error table: what the server answers is what the client raises, class and code."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from jupyter_modelfiles import errors
from jupyter_modelfiles.client import ModelFilesClient, error_from_response

from .conftest import Live


def all_error_classes() -> list[type[errors.ModelFilesError]]:
    """Every class errors.py exports, but the base."""
    found = [getattr(errors, name) for name in errors.__all__]
    return [
        cls
        for cls in found
        if isinstance(cls, type) and issubclass(cls, errors.ModelFilesError)
        if cls is not errors.ModelFilesError
    ]


def answer(status: int, payload: object = None) -> httpx.Response:
    request = httpx.Request("POST", "http://127.0.0.1/modelfiles/v1/models/org%2Fm/load")
    if payload is None:
        return httpx.Response(status, request=request)
    return httpx.Response(status, json=payload, request=request)


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_class_survives_the_round_trip(cls: type[errors.ModelFilesError]) -> None:
    """A handler serialises the error; the client reads back the same class, status and code."""
    sent = cls("something precise went wrong")
    received = error_from_response(answer(sent.status, sent.to_json()))
    assert type(received) is cls
    assert (received.status, received.code) == (sent.status, sent.code)
    assert received.message == "something precise went wrong"


def test_422_has_its_class_and_unknown_codes_keep_the_status_class() -> None:
    bare = error_from_response(answer(422))
    assert type(bare) is errors.Unprocessable and bare.code == "UNPROCESSABLE"
    other = error_from_response(answer(422, {"error": {"code": "SOMETHING_NEW", "message": "m"}}))
    assert type(other) is errors.Unprocessable and other.code == "SOMETHING_NEW"
    # A known code with another status is not taken for that code's class.
    odd = error_from_response(answer(409, {"error": {"code": "LOAD_FAILED", "message": "m"}}))
    assert type(odd) is errors.Conflict and odd.code == "LOAD_FAILED"


def test_the_table_gives_each_status_one_class_and_code() -> None:
    for status, cls in errors.BY_STATUS.items():
        assert errors.code_for_status(status) == cls.code
        assert type(error_from_response(answer(status))) is cls
        if status != 401:  # 401 reads as Forbidden (a refused token), whose status is 403
            assert cls.status == status
    assert errors.code_for_status(418) == "INVALID_REQUEST"
    assert errors.code_for_status(500) == "INTERNAL_SERVER_ERROR"
    unknown = error_from_response(answer(500))
    assert type(unknown) is errors.ModelFilesError and unknown.code == "INTERNAL_SERVER_ERROR"


async def test_a_bare_http_error_of_the_server_uses_the_table(live: Live) -> None:
    """Tornado's own 405 goes through the handlers' ``code_for_status``; the client agrees."""

    def put_on_a_get_route() -> errors.ModelFilesError:
        with (
            ModelFilesClient(live.url, live.token) as client,
            pytest.raises(errors.ModelFilesError) as caught,
        ):
            client.request("PUT", "v1/openapi.json")
        return caught.value

    error = await asyncio.to_thread(put_on_a_get_route)
    assert type(error) is errors.MethodNotAllowed
    assert (error.status, error.code) == (405, "METHOD_NOT_ALLOWED")
