"""Scrubbing of Sentry events: secrets and query values never leave the process.

Applied as Sentry's ``before_send`` and ``before_breadcrumb``:

- values under secret-looking keys (password, token, api_key, authorization, cookie, dsn,
  ...) become ``[Filtered]``;
- credentials inside URLs (``mongodb://user:pw@host``) lose their password;
- MongoDB error details that echo document values (``dup key: { email: "..." }``,
  ``keyValue``) are masked;
- local variables and extra data holding a Mongo filter, update, pipeline or command are
  masked with the same rules as ``db.query.text``.

Example:
    >>> scrub({"extra": {"uri": "mongodb://app:hunter2@db:27017", "password": "x",
    ...                  "filter": {"email": "a@b.c"}}})
    {'extra': {'uri': 'mongodb://app:***@db:27017', 'password': '[Filtered]', \
'filter': {'email': '?'}}}
"""

from __future__ import annotations

import re
from typing import Any

from obs.mongo_queries.masking import mask

FILTERED = "[Filtered]"
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[-_]?key|app[-_]?key|auth(orization)?|cookie|"
    r"session[-_]?id|csrf|dsn|credential|private[-_]?key|signature|bearer",
    re.IGNORECASE,
)
# Keys whose values are Mongo queries or documents: masked, not dropped, so the shape
# still helps debugging.
_QUERY_KEYS = frozenset(
    {
        "filter",
        "query",
        "q",
        "u",
        "update",
        "spec",
        "pipeline",
        "command",
        "cmd",
        "document",
        "documents",
        "doc",
        "docs",
        "keyValue",
        "$match",
        "selector",
        "projection_doc",
    }
)
_URL_CREDENTIALS = re.compile(r"([a-z][a-z0-9+.\-]*://[^:/@\s]*):([^@/\s]+)@", re.IGNORECASE)
_DUP_KEY = re.compile(r"dup key: \{.*?\}(?=(,|\s|$|\"|'))", re.DOTALL)
# keyValue as it appears in reprs, including reprs of reprs (quotes escaped once or more).
_KEY_VALUE = re.compile(r"(\\*['\"]keyValue\\*['\"]:\s*)\{[^{}]*\}")
_MAX_DEPTH = 30


def scrub_text(text: str) -> str:
    """Mask credentials and echoed values inside one string.

    Example:
        >>> scrub_text('E11000 duplicate key error index: email_1 dup key: { email: "a@b" }')
        'E11000 duplicate key error index: email_1 dup key: { ? }'
    """
    text = _URL_CREDENTIALS.sub(r"\1:***@", text)
    text = _DUP_KEY.sub("dup key: { ? }", text)
    return _KEY_VALUE.sub(r"\1{ ? }", text)


def scrub(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` (an event or any part of one) with secrets and query values masked."""
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            name = key if isinstance(key, str) else ""
            if name and _SECRET_KEY.search(name) and item is not None:
                out[key] = FILTERED  # whatever its type: a list or dict of secrets too
            elif name in _QUERY_KEYS and item is not None:
                out[key] = mask(item) if isinstance(item, dict | list) else FILTERED
            else:
                out[key] = scrub(item, depth + 1)
        return out
    if isinstance(value, list):
        return [scrub(item, depth + 1) for item in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def before_send(event: Any, hint: Any) -> Any:
    """Sentry ``before_send``: the scrubbed event; never raises."""
    try:
        return scrub(event)
    except Exception:
        return None  # an event that cannot be scrubbed is dropped, not sent as it was


def before_breadcrumb(crumb: Any, hint: Any) -> Any:
    """Sentry ``before_breadcrumb``: the scrubbed breadcrumb."""
    try:
        return scrub(crumb)
    except Exception:
        return None
