"""Who may do what with a server's WPS, as pure logic: the caller, the WPS-only scopes
(checked with JupyterHub's own scope matching), and the forwarded origin.

The same through a real JupyterHub and its proxy: test_hub.py.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from jupyterhub.services.auth import check_scopes

from jupyter_wps.server.auth import Caller, forwarded_origin, identify
from jupyter_wps.wps.exceptions import AccessDenied


class FakeHubAuth:
    """HubAuth's two calls the extension makes: the token's user model, scope matching
    (JupyterHub's real ``check_scopes``)."""

    def __init__(self, model):
        self.model = model

    async def get_user(self, handler, sync=True):
        return self.model

    def check_scopes(self, required, user):
        return check_scopes(required, set(user["scopes"]))


def caller_of(model, current=None, owner="alice", server_name=""):
    handler = SimpleNamespace(
        current_user=current, identity_provider=SimpleNamespace(hub_auth=FakeHubAuth(model))
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTERHUB_SERVER_NAME", server_name)
        return asyncio.run(identify(handler, owner, anonymous=False))


def hub_user(name, *scopes, kind="user"):
    return {"kind": kind, "name": name, "scopes": list(scopes)}


def test_a_user_with_access_to_the_server():
    caller, denied = caller_of(None, current=SimpleNamespace(username="alice"))
    assert caller == Caller("alice", execute=True, sees_all=True) and denied is None
    caller, _ = caller_of(None, current=SimpleNamespace(username="bob"))  # shared with bob
    assert caller == Caller("bob", execute=True, sees_all=False)
    assert caller.visible == "bob"


@pytest.mark.parametrize(
    "scopes, execute",
    [
        (["custom:wps:read!user=alice"], False),
        (["custom:wps:execute!user=alice"], True),
        (["custom:wps:execute!server=alice/"], True),
        (["custom:wps:read!server=alice/", "read:users!user=alice"], False),
        (["custom:wps:read", "custom:wps:execute!user=alice"], True),
        (["custom:wps:execute"], True),  # unfiltered: every server (an operator's service)
    ],
)
def test_wps_scopes_reach_the_wps(scopes, execute):
    caller, denied = caller_of(hub_user("alice", *scopes))
    assert denied is None
    assert caller.name == "alice" and caller.sees_all and caller.execute is execute


def test_a_read_only_caller_cannot_execute():
    caller, _ = caller_of(hub_user("alice", "custom:wps:read!user=alice"))
    with pytest.raises(AccessDenied) as refused:
        caller.require_execute("Execute")
    assert refused.value.status == 403 and "custom:wps:execute" in refused.value.text


@pytest.mark.parametrize(
    "model",
    [
        hub_user("bob", "access:servers!user=bob", "custom:wps:execute!user=bob"),
        hub_user("bob", "custom:wps:execute!server=alice/other"),  # another server of alice
        hub_user("alice", "read:users!user=alice"),
        hub_user("cull", "custom:jupyter_server:read", kind="service"),
    ],
)
def test_others_are_refused_with_a_reason(model):
    caller, denied = caller_of(model)
    assert caller is None
    assert denied == f"{model['kind']} {model['name']} has no access to the WPS of alice"


def test_no_credentials():
    assert caller_of(None) == (None, None)


def test_a_named_server():
    caller, _ = caller_of(hub_user("alice", "custom:wps:read!server=alice/gpu"), server_name="gpu")
    assert caller is not None and not caller.execute
    caller, denied = caller_of(hub_user("alice", "custom:wps:read!server=alice/gpu"))
    assert caller is None and denied


@pytest.mark.parametrize(
    "headers, origin",
    [
        ({}, ("http", "10.0.0.5:8888")),
        ({"X-Forwarded-Proto": "https"}, ("https", "10.0.0.5:8888")),
        # a TLS front, then configurable-http-proxy: each appends its own
        (
            {"X-Forwarded-Proto": "https,http", "X-Forwarded-Host": "wps.example.org,hub:8000"},
            ("https", "wps.example.org"),
        ),
        (
            {"Forwarded": 'proto=https;host="wps.example.org", proto=http'},
            ("https", "wps.example.org"),
        ),
        ({"X-Forwarded-Proto": "gopher"}, ("http", "10.0.0.5:8888")),
        ({"X-Forwarded-Host": "evil.org/path?x"}, ("http", "10.0.0.5:8888")),
        ({"X-Forwarded-Host": "[::1]:8443"}, ("http", "[::1]:8443")),
    ],
)
def test_forwarded_origin(headers, origin):
    assert forwarded_origin(headers, "http", "10.0.0.5:8888") == origin
