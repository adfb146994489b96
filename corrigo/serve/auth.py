"""Who is calling: a bearer token from the server's configuration, or the viewer's cookie.

``Authorization: Bearer <token>`` is compared with every configured token by
``hmac.compare_digest`` (constant time, and every token is tried, so the time taken
says nothing about which one nearly matched). Browsers may send the token in the
HttpOnly cookie ``corrigo_token`` that the viewer's login form sets; a request that
changes something (any method but GET/HEAD/OPTIONS) and is authenticated only by the
cookie must come from this server's own pages: an ``Origin`` of another site is
refused (the cookie is also ``SameSite=Strict``).

A caller is known by its token's *fingerprint* (the first 16 hex digits of its
SHA-256): the server counts runs per fingerprint and never stores or shows a token.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from fastapi import Request

from corrigo.serve.schemas import ApiError

COOKIE = "corrigo_token"
ANONYMOUS = "anonymous"  # the caller when the server runs with --insecure-no-auth
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _match(tokens: tuple[str, ...], presented: str) -> str | None:
    given = presented.encode()
    found: str | None = None
    for token in tokens:
        if hmac.compare_digest(given, token.encode()) and found is None:
            found = token
    return fingerprint(found) if found is not None else None


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "unauthorized", "the Authorization header must be 'Bearer <token>'")
    return value.strip()


def caller(request: Request) -> str | None:
    """The caller's fingerprint, or None when the request carries no accepted token."""
    config = request.app.state.config
    if config.insecure_no_auth:
        return ANONYMOUS
    bearer = _bearer(request)
    if bearer is not None:
        return _match(config.tokens, bearer)
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    who = _match(config.tokens, cookie)
    if who is not None and request.method not in _SAFE_METHODS:
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host"):
            raise ApiError(
                403,
                "cross_origin",
                "a cookie-authenticated change must come from this server's pages",
            )
    return who


async def require_caller(request: Request) -> str:
    """The FastAPI dependency of every route but health: the caller's fingerprint, or 401."""
    who = caller(request)
    if who is None:
        raise ApiError(
            401,
            "unauthorized",
            "a valid token is required: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return who


async def is_authenticated(request: Request) -> bool:
    """For the viewer's pages: does this request carry an accepted token (header or cookie)?"""
    try:
        return caller(request) is not None
    except ApiError:
        return False


async def token_accepted(request: Request, token: str) -> bool:
    """For the viewer's login form: is ``token`` one of the configured tokens?"""
    config = request.app.state.config
    if config.insecure_no_auth:
        return True
    return _match(config.tokens, token) is not None
