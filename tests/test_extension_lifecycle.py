"""The extension's shutdown: every service closes, even when one of them fails to."""

from __future__ import annotations

import logging
from typing import Any

import pytest


def modelfiles_app(jp_serverapp: Any) -> Any:
    apps = jp_serverapp.extension_manager.extension_apps["jupyter_modelfiles"]
    (app,) = apps
    return app


async def test_stop_extension_closes_every_service_when_one_fails(
    jp_serverapp: Any, services: Any, caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    app = modelfiles_app(jp_serverapp)
    assert app.services is services
    assert services.files._sweeper is not None  # started with the server

    async def broken_close() -> None:
        raise RuntimeError("worker did not answer")

    # The runtime closes first: its failure must not leave the others open.
    monkeypatch.setattr(services.runtime, "close", broken_close)
    with caplog.at_level(logging.ERROR):
        await app.stop_extension()

    assert app.services is None
    assert services.downloads._closing is True
    assert services.files._sweeper is None
    assert services.db._conn is None
    assert any("closing the runtime failed" in r.getMessage() for r in caplog.records)
    # A second stop (the server's own shutdown) is a no-op.
    await app.stop_extension()


async def test_module_loggers_write_to_the_servers_log(jp_serverapp: Any, services: Any) -> None:
    """Warnings and info of the package's modules (team mode, downloads) reach the server's
    own log handlers and level, not Python's bare last-resort handler."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    jp_serverapp.log.addHandler(handler)
    try:
        logging.getLogger("jupyter_modelfiles.downloads.shared").warning("a transfer was lost")
    finally:
        jp_serverapp.log.removeHandler(handler)
    assert [r.getMessage() for r in seen] == ["a transfer was lost"]
    assert logging.getLogger("jupyter_modelfiles").getEffectiveLevel() == (
        jp_serverapp.log.getEffectiveLevel()
    )


async def test_a_new_state_directory_is_its_owners_alone(
    jp_serverapp: Any, services: Any, modelfiles_root: Any
) -> None:
    """The root the extension creates (uploads, partial downloads, the database with the
    origins' credentials) opens to its owner only; so does the database file."""
    import stat

    assert services.db.path.parent == modelfiles_root
    assert stat.S_IMODE(modelfiles_root.stat().st_mode) == 0o700
    assert stat.S_IMODE(services.db.path.stat().st_mode) == 0o600
