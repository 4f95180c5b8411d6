"""A background listener of the server's ``v1/events`` WebSocket, inside the kernel.

One daemon thread per server runs its own asyncio loop with Tornado's WebSocket client and
calls the registered callbacks with each job/file/model event. If the WebSocket cannot be
opened (an older server, a proxy that drops upgrades), the watched jobs are polled instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
from collections.abc import Callable
from typing import Any

from ..client import TERMINAL_STATUSES, ModelFilesClient, ServerInfo

log = logging.getLogger(__name__)

Callback = Callable[[dict[str, Any]], None]

_LISTENERS: dict[str, EventListener] = {}
_LISTENERS_LOCK = threading.Lock()


def listener_for(client: ModelFilesClient) -> EventListener:
    """The shared, started listener for ``client``'s server."""
    key = client.server.api_url + "\0" + client.server.token
    with _LISTENERS_LOCK:
        listener = _LISTENERS.get(key)
        if listener is None or not listener.alive:
            listener = EventListener(client.server)
            _LISTENERS[key] = listener
            listener.start()
        return listener


class EventListener:
    """Dispatch ``{topic, key, time, data}`` messages to callbacks keyed by ``(topic, key)``."""

    def __init__(self, server: ServerInfo, *, poll_interval: float = 0.5):
        self.server = server
        self.poll_interval = poll_interval
        self._callbacks: dict[tuple[str, str], list[Callback]] = {}
        self._topic_callbacks: dict[str, list[Callback]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.connected = threading.Event()
        self.mode = "starting"  # "websocket" or "polling" once known

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="modelfiles-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- subscriptions --------------------------------------------------------------------
    def watch(self, topic: str, key: str, callback: Callback) -> Callable[[], None]:
        """Call ``callback(data)`` for every event of ``(topic, key)``; returns an unwatch."""
        slot = (topic, str(key))
        with self._lock:
            self._callbacks.setdefault(slot, []).append(callback)

        def unwatch() -> None:
            with self._lock:
                callbacks = self._callbacks.get(slot, [])
                if callback in callbacks:
                    callbacks.remove(callback)
                if not callbacks:
                    self._callbacks.pop(slot, None)

        return unwatch

    def watch_topic(self, topic: str, callback: Callback) -> Callable[[], None]:
        """Call ``callback(message)`` for every event of ``topic`` (full message)."""
        with self._lock:
            self._topic_callbacks.setdefault(topic, []).append(callback)

        def unwatch() -> None:
            with self._lock:
                callbacks = self._topic_callbacks.get(topic, [])
                if callback in callbacks:
                    callbacks.remove(callback)

        return unwatch

    def dispatch(self, message: dict[str, Any]) -> None:
        """Deliver one message to its callbacks (exceptions are logged, never raised)."""
        topic, key = str(message.get("topic", "")), str(message.get("key", ""))
        data = message.get("data") or {}
        with self._lock:
            callbacks = list(self._callbacks.get((topic, key), ()))
            topic_callbacks = list(self._topic_callbacks.get(topic, ()))
        for callback in callbacks:
            _safe(callback, data)
        for callback in topic_callbacks:
            _safe(callback, message)

    # -- the thread -----------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        delay = 0.5
        while not self._stop.is_set():
            try:
                await self._listen()
                delay = 0.5
            except Exception as error:
                if _is_missing_route(error):
                    self.mode = "polling"
                    self.connected.set()
                    await self._poll_forever()
                    return
                log.debug("modelfiles events: %s; reconnecting in %.1fs", error, delay)
                self.connected.clear()
                await self._poll_once()
            await self._sleep(delay + random.uniform(0, delay / 2))
            delay = min(delay * 2, 10.0)

    async def _listen(self) -> None:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        headers = {"Authorization": f"token {self.server.token}"} if self.server.token else {}
        request = HTTPRequest(self.server.events_url, headers=headers, connect_timeout=10)
        connection = await websocket_connect(request)
        self.mode = "websocket"
        self.connected.set()
        assert self._stop is not None
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            while True:
                reader = asyncio.ensure_future(connection.read_message())
                done, _ = await asyncio.wait({reader, stopper}, return_when="FIRST_COMPLETED")
                if stopper in done:
                    reader.cancel()
                    return
                raw = reader.result()
                if raw is None:
                    raise ConnectionError("events WebSocket closed by the server")
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(message, dict):
                    self.dispatch(message)
        finally:
            stopper.cancel()
            connection.close()

    def _watched_jobs(self) -> list[str]:
        with self._lock:
            return [key for (topic, key) in self._callbacks if topic == "job"]

    async def _poll_once(self) -> None:
        """Fetch the status of every watched job (used while the WebSocket is down)."""
        jobs = self._watched_jobs()
        if not jobs:
            return
        client = ModelFilesClient(server=self.server, timeout=10)
        try:
            for job_id in jobs:
                try:
                    data = await asyncio.to_thread(client.get_download, job_id)
                except Exception as error:
                    log.debug("modelfiles events: polling %s failed: %s", job_id, error)
                    continue
                self.dispatch({"topic": "job", "key": job_id, "data": data})
        finally:
            client.close()

    async def _poll_forever(self) -> None:
        assert self._stop is not None
        finished: set[str] = set()
        while not self._stop.is_set():
            jobs = [job for job in self._watched_jobs() if job not in finished]
            client = ModelFilesClient(server=self.server, timeout=10)
            try:
                for job_id in jobs:
                    try:
                        data = await asyncio.to_thread(client.get_download, job_id)
                    except Exception:
                        continue
                    self.dispatch({"topic": "job", "key": job_id, "data": data})
                    if str(data.get("status")) in TERMINAL_STATUSES:
                        finished.add(job_id)
            finally:
                client.close()
            await self._sleep(self.poll_interval)

    async def _sleep(self, seconds: float) -> None:
        assert self._stop is not None
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass


def _is_missing_route(error: BaseException) -> bool:
    code = getattr(error, "code", None)
    return code in (404, 405)


def _safe(callback: Callback, payload: dict[str, Any]) -> None:
    try:
        callback(payload)
    except Exception:  # a widget's bug must not kill the listener
        log.exception("modelfiles events: callback failed")
