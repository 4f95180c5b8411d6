"""How the handlers are laid out: WebSockets in their own module, Tornado's methods left alone."""

from __future__ import annotations

from tornado.web import RequestHandler
from tornado.websocket import WebSocketHandler

from jupyter_modelfiles.handlers import default_handlers

# The RequestHandler methods a handler is meant to override (verbs and Tornado's hooks).
HOOKS = {
    *("get", "head", "post", "put", "patch", "delete", "options"),
    *("initialize", "prepare", "on_finish", "on_connection_close", "data_received"),
    *("set_default_headers", "write_error", "log_exception", "finish", "check_xsrf_cookie"),
    *("open", "on_message", "on_close", "get_compression_options"),
}


def handler_classes() -> set[type]:
    return {handler for _, handler, *_ in default_handlers}


def test_websockets_live_in_their_own_module() -> None:
    sockets = {h for h in handler_classes() if issubclass(h, WebSocketHandler)}
    assert {h.__name__ for h in sockets} == {"EventsSocket", "ModelProgressSocket"}
    assert {h.__module__ for h in sockets} == {"jupyter_modelfiles.handlers.websockets"}
    others = handler_classes() - sockets
    assert all(not h.__module__.endswith(".websockets") for h in others)


def test_no_handler_shadows_a_tornado_method_by_accident() -> None:
    tornado_methods = set(vars(RequestHandler)) | set(vars(WebSocketHandler))
    for handler in handler_classes():
        for cls in handler.__mro__:
            if not cls.__module__.startswith("jupyter_modelfiles"):
                continue
            shadowed = {
                name for name in vars(cls) if name in tornado_methods and not name.startswith("_")
            }
            assert shadowed <= HOOKS, f"{cls.__qualname__} overrides {shadowed - HOOKS}"
