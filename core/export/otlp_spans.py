"""Spans written straight to OTLP protobuf bytes: the request the SDK's ``encode_spans``
builds, byte for byte, at a fraction of its cost.

The SDK's encoder builds a protobuf object per span, per attribute and per value from
Python (about 60 us per span on the reference machine, on the export thread of every
process that records spans); the bytes are then one ``SerializeToString``. Writing the wire
format directly is a few bytes of concatenation per field, and the (key, value) pairs of
string attributes, which repeat from span to span (a command's namespace, collection,
server, its masked statement), are encoded once and kept.

Anything this module does not write itself (a value of a type the wire format has no
field for, a string that is not valid UTF-8, an integer outside int64) makes the whole
batch go through the reference encoder, so the bytes are always the reference's.
``tests/test_otlp_spans.py`` checks byte equality on generated spans.

Example:
    >>> from opentelemetry.sdk.trace import ReadableSpan
    >>> from opentelemetry.trace import SpanContext
    >>> span = ReadableSpan("find users", SpanContext(1, 2, False), start_time=1, end_time=2)
    >>> encode_spans_bytes([span]) == encode_spans([span]).SerializeToString()
    True
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from obs.export.protobuf_wire import varint

_FIXED64, _LENGTH, _FIXED32 = 1, 2, 5
_U64 = struct.Struct("<Q").pack
_U32 = struct.Struct("<I").pack
_DOUBLE = struct.Struct("<d").pack
_INT64 = 1 << 63
_U64_MASK = (1 << 64) - 1
_MAX_KEPT = 8192  # encoded string attributes kept; beyond this, start over
# SpanFlags: the context's is_remote is known (always), and whether it is true.
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200
_KIND = {
    SpanKind.INTERNAL: 1,
    SpanKind.SERVER: 2,
    SpanKind.CLIENT: 3,
    SpanKind.PRODUCER: 4,
    SpanKind.CONSUMER: 5,
}


# What leaf spans of one name, shared attributes, status and parent kind share: the shared
# attributes and the status themselves, the bytes before the times, after the times (the
# shared attributes) and at the end (status, flags), and the length of all but the span's
# own attributes and parent.
_LeafRuns = tuple[Any, Any, bytes, bytes, bytes, int]


class _Unsupported(Exception):
    """A value only the reference encoder handles (or rejects) the way it does."""


def _tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def _field(tag: bytes, body: bytes) -> bytes:
    return tag + varint(len(body)) + body


def _text(value: str) -> bytes:
    try:
        return value.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate: the reference decides
        raise _Unsupported from exc


# Tags, as the bytes that open each field (field number << 3 | wire type).
_REQUEST_RESOURCE_SPANS = _tag(1, _LENGTH)
_RS_RESOURCE, _RS_SCOPE_SPANS, _RS_SCHEMA = _tag(1, _LENGTH), _tag(2, _LENGTH), _tag(3, _LENGTH)
_SS_SCOPE, _SS_SPANS, _SS_SCHEMA = _tag(1, _LENGTH), _tag(2, _LENGTH), _tag(3, _LENGTH)
_RESOURCE_ATTRIBUTE = _tag(1, _LENGTH)
_SCOPE_NAME, _SCOPE_VERSION, _SCOPE_ATTRIBUTE = _tag(1, _LENGTH), _tag(2, _LENGTH), _tag(3, _LENGTH)
_KV_KEY, _KV_VALUE = _tag(1, _LENGTH), _tag(2, _LENGTH)
_ANY_STRING, _ANY_BOOL, _ANY_INT = _tag(1, _LENGTH), _tag(2, 0), _tag(3, 0)
_ANY_DOUBLE, _ANY_ARRAY, _ANY_KVLIST = _tag(4, _FIXED64), _tag(5, _LENGTH), _tag(6, _LENGTH)
_ANY_BYTES = _tag(7, _LENGTH)
_LIST_VALUE = _tag(1, _LENGTH)  # ArrayValue.values and KeyValueList.values
_SPAN_TRACE_ID, _SPAN_ID, _SPAN_STATE = _tag(1, _LENGTH), _tag(2, _LENGTH), _tag(3, _LENGTH)
_SPAN_PARENT, _SPAN_NAME, _SPAN_KIND = _tag(4, _LENGTH), _tag(5, _LENGTH), _tag(6, 0)
_SPAN_START, _SPAN_END = _tag(7, _FIXED64), _tag(8, _FIXED64)
_SPAN_ATTRIBUTE, _SPAN_DROPPED_ATTRIBUTES = _tag(9, _LENGTH), _tag(10, 0)
_SPAN_EVENT, _SPAN_DROPPED_EVENTS = _tag(11, _LENGTH), _tag(12, 0)
_SPAN_LINK, _SPAN_DROPPED_LINKS = _tag(13, _LENGTH), _tag(14, 0)
_SPAN_STATUS, _SPAN_FLAGS = _tag(15, _LENGTH), _tag(16, _FIXED32)
_EVENT_TIME, _EVENT_NAME = _tag(1, _FIXED64), _tag(2, _LENGTH)
_EVENT_ATTRIBUTE, _EVENT_DROPPED = _tag(3, _LENGTH), _tag(4, 0)
_LINK_TRACE_ID, _LINK_SPAN_ID = _tag(1, _LENGTH), _tag(2, _LENGTH)
_LINK_ATTRIBUTE, _LINK_DROPPED, _LINK_FLAGS = _tag(4, _LENGTH), _tag(5, 0), _tag(6, _FIXED32)
_STATUS_MESSAGE, _STATUS_CODE = _tag(2, _LENGTH), _tag(3, 0)
_KINDS = {kind: _SPAN_KIND + varint(number) for kind, number in _KIND.items()}
# A leaf span's ids and times, tags and lengths included, each packed by one call.
_LEAF_IDS = struct.Struct(">BBQQBBQ")
_LEAF_TIMES = struct.Struct("<BQBQ")
_LEAF_PARENT = struct.Struct(">BBQ")


def _any_value(value: Any) -> bytes:
    """An AnyValue message's body, as the reference's ``_encode_value`` fills it."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return _ANY_BOOL + (b"\x01" if value else b"\x00")
    if isinstance(value, str):
        return _field(_ANY_STRING, _text(value))
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise _Unsupported
        return _ANY_INT + varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return _ANY_DOUBLE + _DOUBLE(value)
    if isinstance(value, bytes):
        return _field(_ANY_BYTES, value)
    if isinstance(value, Sequence):
        items = b"".join(_field(_LIST_VALUE, _any_value(v)) for v in value)
        return _field(_ANY_ARRAY, items)
    if isinstance(value, Mapping):
        pairs = b"".join(_field(_LIST_VALUE, _key_value(str(k), v)) for k, v in value.items())
        return _field(_ANY_KVLIST, pairs)
    raise _Unsupported


def _key_value(key: str, value: Any) -> bytes:
    """A KeyValue message's body."""
    return (_field(_KV_KEY, _text(key)) if key else b"") + _field(_KV_VALUE, _any_value(value))


class SpanEncoder:
    """Encodes batches of SDK spans as an OTLP ``ExportTraceServiceRequest``.

    Keeps the encoding of string attributes between batches (bounded), so one encoder per
    exporter.
    """

    def __init__(self) -> None:
        # (tag, key, value) -> the encoded pair, for str values; (tag, key, value, int) for
        # int values (an int key never equals a str one, and bool is not cached: True == 1)
        self._kept: dict[tuple[Any, ...], bytes] = {}
        # what repeats from span to span, encoded once: span names, statuses, the shared
        # attributes of spans that carry theirs in two parts (id -> (the mapping, bytes))
        self._names: dict[str, bytes] = {}
        self._shared: dict[int, tuple[Mapping[str, Any], bytes]] = {}
        self._statuses: dict[tuple[int, str | None], bytes] = {}
        # (name, id of shared attributes, id of status, parent remote?) -> what leaf spans
        # of these share (_LeafRuns)
        self._leaves: dict[tuple[Any, ...], _LeafRuns] = {}

    def encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        """The serialised request, equal to ``encode_spans(spans).SerializeToString()``."""
        try:
            return self._encode(spans)
        except _Unsupported:
            encoded: bytes = encode_spans(spans).SerializeToString()
            return encoded

    def _attributes(self, tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
        if not attributes:
            return b""
        kept = self._kept
        out = []
        found: tuple[Any, ...]
        for key, value in attributes.items():
            kind = type(value)
            if kind is str:
                found = (tag, key, value)
            elif kind is int:
                found = (tag, key, value, int)
            else:
                out.append(_field(tag, _key_value(key, value)))
                continue
            pair = kept.get(found)
            if pair is None:
                pair = _field(tag, _key_value(key, value))
                if len(kept) >= _MAX_KEPT:
                    kept.clear()
                kept[found] = pair
            out.append(pair)
        return b"".join(out)

    def _encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        # The reference groups spans by resource, then by scope, both by equality and in
        # the order first seen; objects are compared by identity first (equal resources
        # are usually the same object, and hashing a resource serialises it).
        resources: dict[int, Any] = {}
        in_group: dict[tuple[int, int], list[bytes]] = {}
        groups: dict[Any, dict[Any, list[bytes]]] = {}
        last: tuple[Any, Any] | None = None  # the previous span's resource and scope
        found: list[bytes] = []
        for span in spans:
            resource = span.resource
            scope = span.instrumentation_scope or None
            if last is None or resource is not last[0] or scope is not last[1]:
                last = resource, scope
                group_of = in_group.get((id(resource), id(scope)))
                if group_of is None:
                    group = resources.get(id(resource))
                    if group is None:
                        group = resources[id(resource)] = _first_equal(groups, resource)
                    scopes = groups.setdefault(group, {})
                    group_of = scopes.setdefault(_first_equal(scopes, scope), [])
                    in_group[id(resource), id(scope)] = group_of
                found = group_of
            if getattr(span, "otlp_parts", False):
                found.append(self._leaf(span))
            else:
                found.append(_field(_SS_SPANS, self._span(span)))
        out = []
        for resource, scopes in groups.items():
            body = [
                _field(_RS_RESOURCE, self._attributes(_RESOURCE_ATTRIBUTE, resource.attributes))
            ]
            for scope, encoded in scopes.items():
                scope_spans = [_field(_SS_SCOPE, self._scope(scope)), *encoded]
                if scope is not None and scope.schema_url:
                    scope_spans.append(_field(_SS_SCHEMA, _text(scope.schema_url)))
                body.append(_field(_RS_SCOPE_SPANS, b"".join(scope_spans)))
            if resource.schema_url:
                body.append(_field(_RS_SCHEMA, _text(resource.schema_url)))
            out.append(_field(_REQUEST_RESOURCE_SPANS, b"".join(body)))
        return b"".join(out)

    def _scope(self, scope: Any) -> bytes:
        if scope is None:
            return b""
        name = _field(_SCOPE_NAME, _text(scope.name)) if scope.name else b""
        version = _field(_SCOPE_VERSION, _text(scope.version)) if scope.version else b""
        return name + version + self._attributes(_SCOPE_ATTRIBUTE, scope.attributes)

    def _span(self, span: ReadableSpan) -> bytes:
        # A span with otlp_parts (obs's leaf spans) has its ids as ints, and its attributes
        # as a mapping shared by many spans plus the span's own: no span context is built
        # and the shared part is encoded once.
        parts = getattr(span, "otlp_parts", False)
        if parts:
            trace_id, span_id, state = span.trace_id, span.span_id, span.trace_state  # type: ignore[attr-defined]
        else:
            context = span.get_span_context()
            if context is None:
                raise _Unsupported
            trace_id, span_id, state = context.trace_id, context.span_id, context.trace_state
        parent = span.parent
        out = [
            _SPAN_TRACE_ID,
            b"\x10",
            trace_id.to_bytes(16, "big"),
            _SPAN_ID,
            b"\x08",
            span_id.to_bytes(8, "big"),
        ]
        if state:
            out.append(_field(_SPAN_STATE, _text(",".join(f"{k}={v}" for k, v in state.items()))))
        if parent:
            out += (_SPAN_PARENT, b"\x08", parent.span_id.to_bytes(8, "big"))
        out += (self._name(span.name), _KINDS[span.kind])
        if span.start_time:
            out += (_SPAN_START, _U64(span.start_time))
        if span.end_time:
            out += (_SPAN_END, _U64(span.end_time))
        if parts:
            out.append(self._two_part_attributes(span))
        else:
            out.append(self._attributes(_SPAN_ATTRIBUTE, span.attributes))
        if span.dropped_attributes:
            out += (_SPAN_DROPPED_ATTRIBUTES, varint(span.dropped_attributes))
        for event in span.events:
            out.append(_field(_SPAN_EVENT, self._event(event)))
        if span.dropped_events:
            out += (_SPAN_DROPPED_EVENTS, varint(span.dropped_events))
        for link in span.links:
            out.append(_field(_SPAN_LINK, self._link(link)))
        if span.dropped_links:
            out += (_SPAN_DROPPED_LINKS, varint(span.dropped_links))
        status = span.status
        if status is not None:
            out.append(self._status(status.status_code.value, status.description))
        flags = _HAS_IS_REMOTE | (_IS_REMOTE if parent and parent.is_remote else 0)
        out += (_SPAN_FLAGS, _U32(flags))
        return b"".join(out)

    def _leaf(self, span: Any) -> bytes:
        """A leaf span's field in its scope's spans (obs.runtime.leaf_spans): what
        :meth:`_span` writes for it, framed, with the fields that repeat across a command's
        spans (name, kind, shared attributes, status, flags) kept as three runs of bytes,
        the ids and times packed by one call each, and the frame's length added up rather
        than measured on a copy."""
        parent, shared, status = span.parent, span.shared_attributes, span.status
        extra = span.extra_attributes
        if (
            span.trace_state
            or not (span.start_time and span.end_time)
            or (extra and not extra.keys().isdisjoint(shared))
        ):
            return _field(_SS_SPANS, self._span(span))  # fields the runs do not cover
        remote = parent is not None and parent.is_remote
        key = (span.name, id(shared), id(status), remote)
        kept = self._leaves.get(key)
        # Keyed by ids: the entry holds both objects, so a match is them, not a new object
        # given a freed one's id.
        if kept is None or kept[0] is not shared or kept[1] is not status:
            kept = self._leaf_runs(span, remote)
            if len(self._leaves) >= _MAX_KEPT:
                self._leaves.clear()
            self._leaves[key] = kept
        extra_bytes = self._attributes(_SPAN_ATTRIBUTE, extra) if extra else b""
        trace_id = span.trace_id
        return b"".join(
            (
                _SS_SPANS,
                varint(kept[5] + len(extra_bytes) + (_LEAF_PARENT.size if parent else 0)),
                _LEAF_IDS.pack(10, 16, trace_id >> 64, trace_id & _U64_MASK, 18, 8, span.span_id),
                _LEAF_PARENT.pack(34, 8, parent.span_id) if parent else b"",
                kept[2],
                _LEAF_TIMES.pack(57, span.start_time, 65, span.end_time),
                kept[3],
                extra_bytes,
                kept[4],
            )
        )

    def _leaf_runs(self, span: Any, remote: bool) -> _LeafRuns:
        """What :meth:`_leaf` keeps for spans like ``span``."""
        shared, status = span.shared_attributes, span.status
        flags = _SPAN_FLAGS + _U32(_HAS_IS_REMOTE | (_IS_REMOTE if remote else 0))
        head = self._name(span.name) + _KINDS[span.kind]
        attributes = self._attributes(_SPAN_ATTRIBUTE, shared)
        tail = self._status(status.status_code.value, status.description) + flags
        fixed = _LEAF_IDS.size + _LEAF_TIMES.size + len(head) + len(attributes) + len(tail)
        return shared, status, head, attributes, tail, fixed

    def _name(self, name: str) -> bytes:
        """A span's name field (none for an empty name), kept encoded."""
        if not name:
            return b""
        encoded = self._names.get(name)
        if encoded is None:
            encoded = _field(_SPAN_NAME, _text(name))
            if len(self._names) >= _MAX_KEPT:
                self._names.clear()
            self._names[name] = encoded
        return encoded

    def _two_part_attributes(self, span: Any) -> bytes:
        shared, extra = span.shared_attributes, span.extra_attributes
        if not extra.keys().isdisjoint(shared):  # a key set again keeps its first place
            return self._attributes(_SPAN_ATTRIBUTE, span.attributes)
        # Keyed by id: the entry holds the mapping itself, so no other object can have
        # that id while the entry exists.
        found = self._shared.get(id(shared))
        if found is None:
            found = (shared, self._attributes(_SPAN_ATTRIBUTE, shared))
            if len(self._shared) >= _MAX_KEPT:
                self._shared.clear()
            self._shared[id(shared)] = found
        return found[1] + self._attributes(_SPAN_ATTRIBUTE, extra) if extra else found[1]

    def _status(self, code: int, description: str | None) -> bytes:
        encoded = self._statuses.get((code, description))
        if encoded is None:
            message = _field(_STATUS_MESSAGE, _text(description)) if description else b""
            encoded = _field(_SPAN_STATUS, message + (_STATUS_CODE + varint(code) if code else b""))
            if len(self._statuses) >= _MAX_KEPT:
                self._statuses.clear()
            self._statuses[code, description] = encoded
        return encoded

    def _event(self, event: Any) -> bytes:
        out = [_EVENT_TIME + _U64(event.timestamp)] if event.timestamp else []
        if event.name:
            out.append(_field(_EVENT_NAME, _text(event.name)))
        out.append(self._attributes(_EVENT_ATTRIBUTE, event.attributes))
        if event.dropped_attributes:
            out.append(_EVENT_DROPPED + varint(event.dropped_attributes))
        return b"".join(out)

    def _link(self, link: Any) -> bytes:
        context = link.context
        out = [
            _field(_LINK_TRACE_ID, context.trace_id.to_bytes(16, "big")),
            _field(_LINK_SPAN_ID, context.span_id.to_bytes(8, "big")),
            self._attributes(_LINK_ATTRIBUTE, link.attributes),
        ]
        if link.dropped_attributes:
            out.append(_LINK_DROPPED + varint(link.dropped_attributes))
        flags = _HAS_IS_REMOTE | (_IS_REMOTE if context.is_remote else 0)
        out.append(_LINK_FLAGS + _U32(flags))
        return b"".join(out)


def _first_equal(seen: Mapping[Any, Any], candidate: Any) -> Any:
    """The key of ``seen`` equal to ``candidate`` (the reference's dict would merge them),
    else ``candidate`` itself."""
    for key in seen:
        if key == candidate:
            return key
    return candidate


def encode_spans_bytes(spans: Sequence[ReadableSpan]) -> bytes:
    """One-off encoding of ``spans`` (an exporter keeps a :class:`SpanEncoder`)."""
    return SpanEncoder().encode(spans)
