"""An identity provider with stable users (as JupyterHub's is), for ownership tests."""

from __future__ import annotations

from jupyter_server.auth.identity import IdentityProvider, User

#: token -> user name
TOKENS = {"alice-token": "alice", "bob-token": "bob"}


class StableIdentityProvider(IdentityProvider):
    """Users named by their token, the same user on every request."""

    def get_user(self, handler):
        header = handler.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        name = TOKENS.get(token.strip()) if scheme.lower() == "token" else None
        if not name:
            return None
        handler._token_authenticated = True  # as jupyter_server's own provider marks it
        return User(username=name)
