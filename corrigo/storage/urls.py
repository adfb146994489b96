"""Store URLs as they may be shown: a password never reaches a log or a record.

Kept apart from :mod:`corrigo.storage.factory` so a backend can redact its own URL in
an error message without importing the factory that imports every backend.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """``url`` with any password replaced, safe to log or store."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))
