"""In-process publish/subscribe for changes to files, jobs and models.

``publish`` is safe from any thread (the download engine runs off the server loop). Each
subscriber keeps only the newest event per ``(topic, key)``: a slow WebSocket client gets
the latest state, never a backlog. :class:`Throttle` keeps progress to ~10 updates/s per key.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """One change: ``topic`` such as ``file``, ``job`` or ``model``; ``key`` its id."""

    topic: str
    key: str
    payload: dict[str, Any]
    time: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "key": self.key, "time": self.time, "data": self.payload}


EventFilter = Callable[[Event], bool]


class Subscription:
    """A subscriber's mailbox: coalesced by ``(topic, key)``, consumed on one event loop."""

    def __init__(self, bus: EventBus, loop: asyncio.AbstractEventLoop, accept: EventFilter | None):
        self._bus = bus
        self._loop = loop
        self._accept = accept
        self._pending: OrderedDict[tuple[str, str], Event] = OrderedDict()
        self._ready = asyncio.Event()
        self.closed = False

    def _offer(self, event: Event) -> None:
        """Called on the subscriber's loop."""
        if self.closed or (self._accept is not None and not self._accept(event)):
            return
        slot = (event.topic, event.key)
        self._pending.pop(slot, None)
        self._pending[slot] = event
        self._ready.set()

    async def get(self) -> Event:
        while not self._pending:
            if self.closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        _, event = self._pending.popitem(last=False)
        return event

    def close(self) -> None:
        self.closed = True
        self._ready.set()
        self._bus._remove(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.get()


class EventBus:
    """Fan-out of events to subscriptions living on asyncio loops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription] = []

    def subscribe(self, accept: EventFilter | None = None) -> Subscription:
        """Subscribe from a running event loop; ``accept`` filters events."""
        sub = Subscription(self, asyncio.get_running_loop(), accept)
        with self._lock:
            self._subscriptions.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscriptions:
                self._subscriptions.remove(sub)

    def publish(self, topic: str, key: str, payload: dict[str, Any]) -> None:
        """Deliver an event to every subscription; callable from any thread."""
        event = Event(topic, key, payload)
        with self._lock:
            subscriptions = list(self._subscriptions)
        for sub in subscriptions:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is sub._loop:
                sub._offer(event)
            elif not sub._loop.is_closed():
                sub._loop.call_soon_threadsafe(sub._offer, event)


class Throttle:
    """Let an update through at most every ``interval`` seconds per key (final ones always)."""

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, *, final: bool = False) -> bool:
        now = time.monotonic()
        with self._lock:
            if final:
                self._last.pop(key, None)
                return True
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                return False
            self._last[key] = now
            return True
