"""How a queue's name is written into a query without changing what it means.

PromQL: a double-quoted string literal. Backslash, the quote and every character Python
does not call printable (controls, line and paragraph separators such as U+0085 that YAML
would fold into a space, invisible format characters such as bidirectional overrides) are
escaped the way Prometheus' lexer reads them (Go's escapes); so is U+FFFD, which that
lexer takes for a broken byte and refuses when it appears as itself. Any other text,
``:`` and ``{hash-tag}`` prefixes included, is written as it is, so a query reads as
what it selects.

Datadog: a tag value cannot be quoted. Datadog stores tags normalized (lowercase; letters,
digits and ``_ - : . /`` kept; every run of other characters becomes one ``_``, a run at
the end is dropped; at most 200 characters for ``key:value``), the rules of the Datadog
Agent's ``NormalizeTag``. A filter must use the stored form, which can hold none of the
characters that end a tag filter (``,`` ``}`` ``(`` ``)`` ``!`` spaces).

Example:
    >>> promql_string('{bull}:mail "eu"')
    '"{bull}:mail \\\\"eu\\\\""'
    >>> datadog_tag_value("bullmq.queue.prefix", "{Jobs}")
    '_jobs'
"""

from __future__ import annotations

import unicodedata

_PROMQL_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\ufffd": "\\ufffd",
}
MAX_TAG_LENGTH = 200  # characters of ``key:value``
_TAG_PUNCTUATION = frozenset(".-/")


def promql_string(value: str) -> str:
    """``value`` as a PromQL double-quoted string literal.

    Example:
        >>> promql_string("reports:daily")
        '"reports:daily"'
        >>> promql_string("a\\nb")
        '"a\\\\nb"'
        >>> promql_string("\\u202eevil")  # right-to-left override: shown, not obeyed
        '"\\\\u202eevil"'
    """
    _require_utf8(value)
    out = []
    for char in value:
        escaped = _PROMQL_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif not char.isprintable():
            code = ord(char)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _lower(char: str) -> str:
    # Datadog lowercases a character only when its lowercase form is one character of
    # the same UTF-8 width (Go's unicode.ToLower applied in place).
    low = char.lower()
    upper = unicodedata.category(char) == "Lu"
    if upper and len(low) == 1 and len(low.encode()) == len(char.encode()):
        return low
    return char


def datadog_tag(tag: str) -> str:
    """``tag`` (``key:value``) as Datadog stores it.

    Example:
        >>> datadog_tag("bullmq.queue.name:Mail  EU!")
        'bullmq.queue.name:mail_eu'
        >>> datadog_tag("1st:x")
        'st:x'
    """
    _require_utf8(tag)
    out: list[str] = []
    counted = 0  # characters kept or replaced, as Datadog counts them
    size = 0  # bytes read
    in_run = False  # the last character read was replaced by "_"
    for read in tag:
        size += len(read.encode())
        char = _lower(read)
        if char.isalpha() or char == ":":
            out.append(char)
            in_run = False
            counted += 1
        elif counted == 0:
            pass  # a tag starts with a letter (or ":"): anything before is dropped
        elif unicodedata.category(char) == "Nd" or char in _TAG_PUNCTUATION:
            out.append(char)
            in_run = False
            counted += 1
        else:
            counted += 1
            if not in_run:
                out.append("_")
                in_run = True
        if counted >= MAX_TAG_LENGTH or size >= 2 * MAX_TAG_LENGTH:
            break
    if in_run:
        out.pop()  # a run reaching the end is dropped, not replaced
    return "".join(out)


def datadog_tag_value(key: str, value: str) -> str:
    """The value Datadog stores for the tag ``key:value`` (``key`` being a catalog
    attribute key, which Datadog keeps as it is); ValueError when nothing is left.

    Example:
        >>> datadog_tag_value("bullmq.queue.name", "reports:daily:EU")
        'reports:daily:eu'
    """
    head = f"{key}:"
    if datadog_tag(head) != head:
        raise ValueError(f"{key!r} is not a tag key Datadog keeps as it is")
    stored = datadog_tag(head + value)
    if len(stored) == len(head):
        raise ValueError(f"{value!r} has no character Datadog keeps in a tag value")
    return stored[len(head) :]


def _require_utf8(text: str) -> None:
    try:
        text.encode()
    except UnicodeEncodeError:
        raise ValueError(f"{text!r} is not valid UTF-8 text") from None
