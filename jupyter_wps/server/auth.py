"""Who is calling, and what they may do with this server's WPS.

Jupyter's identity provider says who is calling; this module decides what that
means for jobs (whose they are, who sees them) and, under JupyterHub, accepts
tokens that hold only the WPS scopes, which reach the WPS and nothing else of
a user's server:

- ``custom:wps:read``: capabilities, descriptions, job lists and status;
- ``custom:wps:execute``: that, plus Execute, Dismiss and publishing;

each with a ``!user=<owner>`` (or ``!server=<owner>/<name>``) filter. The hub
checks the token and expands its scopes; the check here is the hub's own
(``HubAuth.check_scopes``), never a token comparison of ours.

Plain Python (the handler is duck-typed): no tornado import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..wps.exceptions import AccessDenied

READ_SCOPE = "custom:wps:read"
EXECUTE_SCOPE = "custom:wps:execute"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller of this server's WPS."""

    #: whose jobs the caller's are (the hub user, or the server's owner)
    name: str
    #: may execute, dismiss and publish (else read only)
    execute: bool = True
    #: the server's owner: sees and can cancel every job on the server, whoever
    #: submitted it (the others see their own)
    sees_all: bool = False

    @property
    def visible(self) -> str | None:
        """Whose jobs the caller sees: None for every job."""
        return None if self.sees_all else self.name

    def require_execute(self, what: str) -> None:
        if not self.execute:
            raise AccessDenied(
                f"{what} needs the {EXECUTE_SCOPE} scope (or access to the server); "
                f"{self.name} may only read this WPS",
                status=403,
            )


def server_scopes(scope: str, owner: str, server_name: str) -> set[str]:
    """``scope`` filtered to this server, in the two ways the hub can grant it."""
    return {f"{scope}!user={owner}", f"{scope}!server={owner}/{server_name}"}


async def identify(
    handler: Any, server_owner: str, anonymous: bool
) -> tuple[Caller | None, str | None]:
    """The caller of ``handler``'s request, or (None, why not) when it has no access.

    ``why not`` is None for a request without valid credentials (401), and says
    why for an authenticated caller without access to this WPS (403). ``anonymous``:
    the identity provider gives no stable identities (jupyter_server's own: a
    token-only client is a new anonymous user on every request), so every
    authenticated caller is the server's owner.
    """
    user = handler.current_user
    provider = handler.identity_provider
    hub_auth = getattr(provider, "hub_auth", None)
    if user is not None:
        if anonymous:
            return Caller(server_owner, sees_all=True), None
        return Caller(user.username, sees_all=user.username == server_owner), None
    if hub_auth is None:
        return None, None
    # JupyterHub: a valid token without access to the server; the WPS scopes suffice
    model = await hub_auth.get_user(handler, sync=False)
    if not model:
        return None, None
    name = model.get("name", "")
    server_name = os.environ.get("JUPYTERHUB_SERVER_NAME", "")
    if hub_auth.check_scopes(server_scopes(EXECUTE_SCOPE, server_owner, server_name), model):
        return Caller(name, sees_all=name == server_owner), None
    if hub_auth.check_scopes(server_scopes(READ_SCOPE, server_owner, server_name), model):
        return Caller(name, execute=False, sees_all=name == server_owner), None
    kind = model.get("kind", "user")
    return None, f"{kind} {name} has no access to the WPS of {server_owner}"


def forwarded_origin(headers: Any, protocol: str, host: str) -> tuple[str, str]:
    """The scheme and host a client used, from the headers of the proxies before us.

    ``Forwarded`` (RFC 7239) or ``X-Forwarded-Proto``/``X-Forwarded-Host``; each proxy
    on the way appends its own value, so the first is the client's. Only for proxies
    the server trusts.
    """
    forwarded = headers.get("Forwarded", "").split(",")[0]
    fields = dict(part.strip().partition("=")[::2] for part in forwarded.split(";") if "=" in part)
    proto = fields.get("proto") or headers.get("X-Forwarded-Proto", "").split(",")[0]
    origin = fields.get("host") or headers.get("X-Forwarded-Host", "").split(",")[0]
    proto, origin = proto.strip().strip('"').lower(), origin.strip().strip('"')
    if proto in ("http", "https"):
        protocol = proto
    if origin and all(c.isalnum() or c in "-.:[]" for c in origin):
        host = origin
    return protocol, host
