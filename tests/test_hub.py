"""Under a real JupyterHub: each user reaches the files API on their own server, nobody else's."""

from __future__ import annotations

from contextlib import closing

import httpx


def test_alice_reaches_her_files_api_through_the_proxy_and_bob_is_refused(jupyterhub):
    jupyterhub.start_server("alice")
    files = "user/alice/modelfiles/v1/files"

    # alice logs in through the Hub's login form and opens her server (the OAuth dance gives
    # her a cookie for it), then her browser calls the API
    with closing(jupyterhub.login("alice")) as alice:
        opened = alice.get("user/alice/")
        assert opened.status_code == 200
        assert str(opened.url).startswith(f"{jupyterhub.url}user/alice/lab")
        response = alice.get(files)
        assert response.status_code == 200, response.text
        assert response.json()["object"] == "list"
        assert str(response.url).startswith(f"{jupyterhub.url}{files}")

    # with a token, as the client and scripts do
    token = jupyterhub.user_token("alice")
    response = httpx.get(
        jupyterhub.url + files, headers={"Authorization": f"token {token}"}, timeout=30
    )
    assert response.status_code == 200 and response.json()["data"] == []

    # nobody gets in anonymously
    response = httpx.get(jupyterhub.url + files, timeout=30)
    assert response.status_code in (302, 401, 403)

    # bob, logged in too, is refused on alice's server (by cookie and by token)
    with closing(jupyterhub.login("bob")) as bob:
        opened = bob.get("user/alice/")
        assert opened.status_code in (403, 404), opened.url
        assert not str(opened.url).startswith(f"{jupyterhub.url}user/alice/")
        response = bob.get(files)
        assert response.status_code == 403, response.text
        assert "object" not in response.text
    bob_token = jupyterhub.user_token("bob")
    response = httpx.get(
        jupyterhub.url + files, headers={"Authorization": f"token {bob_token}"}, timeout=30
    )
    assert response.status_code == 403
