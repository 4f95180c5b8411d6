"""End to end: a Hub model is downloaded through the catalog, then loaded and unloaded."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import psutil

from .conftest import body
from .test_models_api import REPO, catalog, hub, modelfiles_config, until  # noqa: F401


async def test_download_then_load_and_unload(api: Any, catalog: Any) -> None:  # noqa: F811
    refused = await api("POST", f"v1/models/{REPO}/load")
    assert refused.code == 409
    assert "download it first" in body(refused)["error"]["message"]

    started = await api("POST", f"v1/models/{REPO}/download", json={"quantization": "Q8_0"})
    assert started.code == 200

    async def downloaded() -> bool:
        return body(await api("GET", f"v1/models/{REPO}"))["downloaded"]

    await until(downloaded)
    loaded = await api("POST", f"v1/models/{quote(REPO, safe='')}/load")
    assert loaded.code == 200, loaded.body
    snapshot = body(loaded)
    assert snapshot["loaded"] is True and snapshot["loaded_rss_bytes"] > 0
    assert psutil.pid_exists(snapshot["pid"])
    again = body(await api("GET", f"v1/models/{REPO}"))
    assert again["loaded"] is True and again["loaded_rss_bytes"] > 0
    listing = body(await api("GET", "v1/models", params={"loaded": "true"}))
    assert [m["id"] for m in listing["iterable"]] == [REPO]

    unloaded = await api("POST", f"v1/models/{REPO}/unload")
    assert unloaded.code == 200 and body(unloaded)["loaded"] is False
    assert not psutil.pid_exists(snapshot["pid"]) or psutil.Process(snapshot["pid"]).status() == (
        psutil.STATUS_ZOMBIE
    )
    assert body(await api("GET", f"v1/models/{REPO}"))["loaded"] is False
