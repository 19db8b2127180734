"""Scrubbing: secrets and query values never leave the process.

Applied as Sentry's ``before_send`` and ``before_breadcrumb``, to exceptions recorded on
spans (:func:`exception_message`, :func:`exception_stacktrace`) and to error text that obs
prints:

- values under secret-looking keys (password, token, api_key, authorization, cookie, dsn,
  ...) become ``[Filtered]``, in mappings and in ``[name, value]`` pairs (headers);
  ``password=...`` / ``token: ...`` inside text lose their value;
- credentials inside URLs (``mongodb://user:pw@host``) lose their password, whatever
  characters it holds;
- MongoDB error text that echoes document values is cut where the values start: the
  ``full error: {...}`` tail, ``dup key: {...}``, ``keyValue``, ``op`` documents, reprs of
  ``UpdateOne(...)`` and friends, and byte strings (wire messages) are elided to the end of
  their line, since a value may hold any quote or brace a parser would trust; the message
  of a pymongo exception keeps only its text before the first quoted or bracketed literal;
- local variables of library frames (pymongo, bson, redis, obs itself, ... and any frame
  Sentry marks as not the application's) are dropped: they hold wire bytes, commands and
  job payloads; the application's own locals and extra data holding a Mongo filter,
  update, pipeline, command or document are masked with the rules of ``db.query.text``.

Example:
    >>> scrub({"extra": {"uri": "mongodb://app:hunter2@db:27017", "password": "x",
    ...                  "filter": {"email": "a@b.c"}}})
    {'extra': {'uri': 'mongodb://app:***@db:27017', 'password': '[Filtered]', \
'filter': {'email': '?'}}}
"""

from __future__ import annotations

import functools
import re
import traceback
from collections.abc import Mapping
from typing import Any

from obs.mongo_queries.masking import mask

FILTERED = "[Filtered]"
ELIDED = "…"
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
        "updates",
        "deletes",
        "spec",
        "pipeline",
        "command",
        "cmd",
        "document",
        "documents",
        "doc",
        "docs",
        "keyValue",
        "errInfo",
        "$match",
        "selector",
        "projection_doc",
        "arrayFilters",
        "let",
    }
)
# A write error's `op` is the document that failed; elsewhere `op` is a name (Sentry's span
# op, the profiler's "query"), kept when it is a string.
_DOCUMENT_KEYS = frozenset({"op"})
# Modules whose frames hold commands, documents, wire bytes or job payloads in locals.
LIBRARY_MODULES = (
    "pymongo",
    "bson",
    "gridfs",
    "motor",
    "redis",
    "bullmq",
    "obs",
    "sentry_sdk",
    "opentelemetry",
    "secantus",
)
# Modules whose exception messages are server text that may echo values.
MONGO_MODULES = ("pymongo", "bson", "gridfs", "motor")

_URL_CREDENTIALS = re.compile(r"([a-z][a-z0-9+.\-]*://[^\s:/@]*):\S*@", re.IGNORECASE)
_SECRET_ASSIGNMENT = re.compile(
    r"(\b[\w.-]*?(?:pass(?:word|wd|phrase)?|secret|token|api[-_]?key|app[-_]?key|"
    r"private[-_]?key|credentials?|authorization|session[-_]?id|cookie|dsn)"
    r"\\*['\"]?\s*[=:]\s*)"
    r"(?:(?:bearer|basic|token)\s+)?"
    r"(?:'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"|[^\s,;&'\"}\])]+)",
    re.IGNORECASE,
)
# From each of these to the end of the text, everything may be a value (of any length,
# holding any quote, brace or line break a parser would trust): elided.
_TO_THE_END = re.compile(
    r"(?P<mark>full error: |dup key: |\\*['\"]?keyValue\\*['\"]?:\s*|\\*['\"]op\\*['\"]:\s*(?=\{)|"
    r"\b(?:InsertOne|UpdateOne|UpdateMany|ReplaceOne|DeleteOne|DeleteMany)\(|"
    r"(?<![\w'\"\\])b(?=['\"])).*",
    re.DOTALL,
)
# Where a server message starts quoting what it was given: the first quoted string,
# document or array, or the first "description: value" separator ("::" joins messages).
_LITERAL = re.compile(r"['\"{\[]|(?<!:):(?!:) ")
_MAX_DEPTH = 30


def _elide(match: re.Match[str]) -> str:
    mark = match["mark"]
    if mark == "b":
        return f"b'{ELIDED}'"
    if mark.endswith("("):
        return f"{mark}{ELIDED})"
    if mark == "full error: ":
        return mark + ELIDED
    return mark + "{ ? }"  # dup key, keyValue, op: a document


def scrub_text(text: str) -> str:
    """Mask credentials, secret assignments and echoed values inside one string.

    Example:
        >>> scrub_text('E11000 duplicate key error index: email_1 dup key: { email: "a@b" }')
        'E11000 duplicate key error index: email_1 dup key: { ? }'
        >>> scrub_text("redis://:pa/ss#1@cache:6379 password=hunter2, retrying")
        'redis://:***@cache:6379 password=***, retrying'
    """
    text = _URL_CREDENTIALS.sub(r"\1:***@", text)
    text = _SECRET_ASSIGNMENT.sub(r"\1***", text)
    if "full error: " in text:  # a pymongo error's text: its message quotes values too
        text = _cut_at_literal(text)
    return _TO_THE_END.sub(_elide, text, count=1)


def _cut_at_literal(text: str) -> str:
    found = _LITERAL.search(text)
    return text if found is None else text[: found.start()] + ELIDED


def server_message(text: str) -> str:
    """A MongoDB server's error message up to where it starts quoting what it was given
    (its first quoted string, document, array or ``description: value`` separator), then
    :func:`scrub_text`. Server messages echo values quoted and unquoted
    (``Unknown type name alias: <value>``): only their leading description is kept.

    Example:
        >>> server_message("Failed to parse number 'hunter2' in $convert")
        'Failed to parse number …'
    """
    return scrub_text(_cut_at_literal(text))


def is_server_error(module: str, name: str) -> bool:
    """Whether exceptions of the class ``module.name`` carry text that quotes values: a
    MongoDB server's message (pymongo's OperationFailure family: write errors, duplicate
    keys, ...) or bson's (it quotes the object it could not encode). pymongo's own
    connection and configuration errors do not.

    Example:
        >>> is_server_error("pymongo.errors", "DuplicateKeyError")
        True
        >>> is_server_error("pymongo.errors", "ServerSelectionTimeoutError")
        False
    """
    if module.startswith("bson"):
        return True
    return module.startswith(MONGO_MODULES) and name in _server_error_names()


@functools.cache
def _server_error_names() -> frozenset[str]:
    # Imported only once a pymongo exception is at hand (the agent may not load pymongo).
    from pymongo import errors

    return frozenset(
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.OperationFailure)
    )


def _is_server_error(exc: BaseException) -> bool:
    return is_server_error(type(exc).__module__, type(exc).__name__)


def exception_message(exc: BaseException) -> str:
    """``str(exc)`` scrubbed: a server error's (:func:`is_server_error`) message is its
    :func:`server_message`.

    Example:
        >>> exception_message(ValueError("bad uri mongodb://u:pw@h"))
        'bad uri mongodb://u:***@h'
    """
    try:
        text = str(exc)
    except Exception:
        return ""
    return server_message(text) if _is_server_error(exc) else scrub_text(text)


def exception_stacktrace(exc: BaseException) -> str:
    """The formatted traceback of ``exc`` (its causes and contexts included), every
    exception's message scrubbed as :func:`exception_message` does."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        try:
            raw = str(current)
        except Exception:
            raw = ""
        if raw:
            text = text.replace(raw, exception_message(current))
        current = current.__cause__ or current.__context__
    # Line by line: a mark in one line of code must not take the rest of the trace with it.
    return "\n".join(scrub_text(line) for line in text.split("\n"))


def _is_library_frame(frame: Mapping[str, Any]) -> bool:
    if frame.get("in_app") is False:
        return True
    module = frame.get("module")
    return isinstance(module, str) and module.split(".", 1)[0] in LIBRARY_MODULES


def _pair_name(item: Any) -> str | None:
    """The name of a ``[name, value]`` pair (headers as a list), or None."""
    if isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str):
        return item[0]
    return None


def _scrub_exception_values(value: dict[Any, Any]) -> None:
    """A server error's message in a Sentry event is its :func:`server_message`."""
    module, name, text = (str(value.get(key) or "") for key in ("module", "type", "value"))
    if text and is_server_error(module, name):
        value["value"] = server_message(text)


def scrub(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` (an event or any part of one) with secrets and query values masked."""
    if depth > _MAX_DEPTH:
        return FILTERED
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        library_frame = "vars" in value and _is_library_frame(value)
        if "_id" in value and "vars" not in value:
            return mask(value)  # a document read from MongoDB: its values are data
        for key, item in value.items():
            name = key if isinstance(key, str) else ""
            if item is None:
                out[key] = None
            elif library_frame and name == "vars":
                continue  # a library's locals: dropped, not scrubbed
            elif name and _SECRET_KEY.search(name):
                out[key] = FILTERED  # whatever its type: a list or dict of secrets too
            elif name in _QUERY_KEYS or (name in _DOCUMENT_KEYS and not isinstance(item, str)):
                out[key] = mask(item) if isinstance(item, Mapping | list) else FILTERED
            elif name == "errmsg" and isinstance(item, str):
                out[key] = server_message(item)
            else:
                out[key] = scrub(item, depth + 1)
        _scrub_exception_values(out)
        return out
    if isinstance(value, list | tuple):
        items = []
        for item in value:
            pair = _pair_name(item)
            if pair is not None and _SECRET_KEY.search(pair):
                items.append([pair, FILTERED])
            elif pair is not None and pair in _QUERY_KEYS:
                items.append([pair, mask(item[1])])
            else:
                items.append(scrub(item, depth + 1))
        return items
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, bytes | bytearray):
        return "b'" + ELIDED + "'"
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
