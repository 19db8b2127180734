"""A stateful local stand-in for Datadog's dashboard, monitor and SLO API (v1).

Every request is validated against Datadog's published OpenAPI spec (the part the tests
need, vendored in ``tests/datadog_api/``, read with openapi-core), plus the rules the spec
does not state: dashboard tags only ``team:<name>`` (at most 5), read-only fields
must not be sent, a monitor's query threshold must equal ``options.thresholds.critical``, and
warning/recovery thresholds must sit on the right side of critical; a metric SLO needs its
numerator and denominator, a time-slice SLO its slice, every SLO thresholds; an ``slo alert``
monitor must name an SLO that exists, over one of its windows (and, as obs's own validation
asks, with a burn rate that SLO can reach); and an SLO an ``slo alert`` monitor names cannot
be deleted (409, as Datadog answers for an SLO a dashboard shows).

It keeps what is created and fills what Datadog's servers fill: ids, authors, timestamps,
urls, widget ids, widget layouts on ordered dashboards, the spec's ``default:`` values and the
monitor options Datadog returns, and rewrites what Datadog rewrites (a ``metric alert`` is
stored as a ``query alert``; an SLO gets a 32-digit hexadecimal id, ``type_id``, display
strings for its targets, its primary window repeated at the top and the default slice of a
time-slice SLO, and its replies wrap it in ``data``, as recorded in
tests/fixtures/datadog/slo_*.json). It lists and paginates (or ignores the paging parameters, as
some proxies do), clones as Datadog's UI does (description, marker and tags copied), stores
metrics received over OTLP under Datadog's names (``process.*`` as ``otel.process.*``), sends
``X-RateLimit-*`` headers on every reply (429 past the limit), and can be told to answer 429
or 500, or to apply a request and drop the connection without replying (a lost response).
``load_recorded`` holds bodies recorded from the real API as they are.

Example (in a test):
    standin = DatadogStandIn().start()
    standin.inject("drop", "POST", "/api/v1/monitor")
    ...
    assert standin.violations == []
"""

from __future__ import annotations

import copy
import functools
import json
import math
import random
import re
import string
import threading
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

SPEC_PATH = Path(__file__).resolve().parents[1] / "datadog_api" / "openapi-v1.yaml"
API_KEY = "standin-api-key-0123456789"
APP_KEY = "standin-app-key-0123456789"

_DASHBOARD_READ_ONLY = ("id", "author_handle", "author_name", "created_at", "modified_at", "url")
_MONITOR_READ_ONLY = ("id", "created", "modified", "creator", "deleted", "multi", "overall_state")
_MONITOR_QUERY = re.compile(
    r"^\s*(?P<agg>[a-z_]+)\((?P<window>(?:last|current|next)_\d+[mhdwy])\)\s*:(?P<body>.+?)"
    r"\s*(?P<cmp>>=|<=|>|<|==|!=)\s*(?P<threshold>-?[0-9.]+(?:[eE][+-]?\d+)?)\s*$",
    re.DOTALL,
)
# Datadog's SLO alert queries (its monitor API documentation, "SLO Alert Query", and the
# burn-rate alert documentation).
_SLO_ALERT_QUERY = re.compile(
    r'^\s*(?P<kind>burn_rate|error_budget)\("(?P<slo>[^"]+)"\)\.over\("(?P<window>7d|30d|90d)"\)'
    r'(?:\.long_window\("(?P<long>\d+[mhd])"\)\.short_window\("(?P<short>\d+[mhd])"\))?'
    r"\s*(?P<cmp>>=|>)\s*(?P<threshold>[0-9.]+(?:[eE][+-]?\d+)?)\s*$"
)
_WINDOW_SECONDS = {"m": 60, "h": 3600, "d": 86400}
_SLO_READ_ONLY = ("id", "created_at", "modified_at", "creator", "type_id")
_SLO_TYPE_IDS = {"monitor": 0, "metric": 1, "time_slice": 2}
# A metric named in a query: after its space aggregator, before its scope.
_QUERIED_METRIC = re.compile(r"\b[a-z0-9]+:([A-Za-z][A-Za-z0-9_.]*)\{")
# Datadog's OTLP intake stores metrics starting with these as otel.<name> (its "OpenTelemetry
# metrics mapping" documentation), to keep them apart from its own Agent's host metrics.
_OTLP_RENAMED = ("system.", "process.")
_TEAM_TAG = re.compile(r"^team:[a-z0-9][a-z0-9._-]*$")
# Monitor options Datadog's servers return when a create leaves them out.
_MONITOR_OPTION_FILL = {
    "notify_no_data": False,
    "require_full_window": False,
    "silenced": {},
    "escalation_message": "",
    "locked": False,
    "renotify_interval": 0,
    "timeout_h": 0,
}


@functools.cache
def load_spec() -> tuple[Any, dict[str, Any]]:
    """openapi-core's view of the spec, and the raw document (loaded once per session)."""
    from openapi_core import Config, OpenAPI

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document = yaml.load(SPEC_PATH.read_text(), Loader=loader)
    return OpenAPI.from_dict(document, config=Config(spec_validator_cls=None)), document


_VERDICTS: dict[tuple[str, str, tuple[tuple[str, str], ...], bytes], str | None] = {}


def _path_pattern(path: str) -> str:
    return re.sub(r"/(\d+|[a-z0-9]{3}-[a-z0-9]{3}-[a-z0-9]{3})(?=/|$)", "/{id}", path)


@dataclass
class RateLimit:
    """``limit`` requests per ``period`` seconds, per bucket (dashboards/monitors, read/write)."""

    limit: int
    period: int
    # HTTP/2 and many proxies deliver header names in lowercase; a client must not care.
    lowercase_names: bool = False


@dataclass
class Fault:
    kind: str  # "429", "500" or "drop"
    method: str
    path: str
    times: int


@dataclass
class Logged:
    method: str
    path: str
    status: int  # 0: the connection was dropped without a reply


@dataclass
class _Window:
    started: float
    used: int = 0


@dataclass
class _State:
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    monitors: dict[int, dict[str, Any]] = field(default_factory=dict)
    slos: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_monitor_id: int = 1000
    # Metric names the organisation stores, from what was received over OTLP.
    metrics: set[str] = field(default_factory=set)


class StandInError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class DatadogStandIn:
    """The stand-in server; ``url`` is the API base URL to give obs."""

    def __init__(
        self,
        *,
        rate_limit: RateLimit | None = None,
        validate_responses: bool = False,
    ) -> None:
        self.openapi, self.document = load_spec()
        self.rate_limit = rate_limit or RateLimit(limit=10_000, period=10)
        self.validate_responses = validate_responses
        # Some proxies and API versions ignore start/page: every page is the first one.
        self.ignore_paging = False
        self.state = _State()
        self.log: list[Logged] = []
        self.violations: list[str] = []
        self.faults: list[Fault] = []
        self._rejections: list[tuple[str, str]] = []
        self._windows: dict[str, _Window] = {}
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # --- control from tests -------------------------------------------------------------

    def start(self) -> DatadogStandIn:
        standin = self

        class Handler(_Handler):
            owner = standin

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def inject(self, kind: str, method: str, path: str, times: int = 1) -> None:
        """Answer the next ``times`` requests to exactly ``method path`` with a fault."""
        assert kind in ("429", "500", "drop")
        self.faults.append(Fault(kind, method, path, times))

    def reject_validation(self, query_part: str, message: str) -> None:
        """Make monitor validation refuse queries containing ``query_part``, as Datadog does
        for what only it can know (say, a metric the organisation never received)."""
        self._rejections.append((query_part, message))

    def count(self, *methods: str) -> int:
        return sum(1 for entry in self.log if entry.method in methods)

    def writes(self) -> list[Logged]:
        return [e for e in self.log if e.method in ("POST", "PUT", "DELETE")]

    def clear_log(self) -> None:
        self.log.clear()

    def put_dashboard(self, body: dict[str, Any]) -> str:
        """Create a dashboard directly (as someone in Datadog's UI would); returns its id."""
        with self._lock:
            return str(self._create_dashboard(copy.deepcopy(body))["id"])

    def receive_otlp(self, names: Iterable[str]) -> None:
        """Take metrics sent over OTLP under ``names``, stored under the names Datadog
        gives them."""
        with self._lock:
            self.state.metrics.update(
                f"otel.{n}" if n.startswith(_OTLP_RENAMED) else n for n in names
            )

    def unknown_metrics(self) -> dict[str, set[str]]:
        """Per dashboard or monitor, the metrics its queries name that the organisation
        does not store (the graph or the monitor would show no data)."""
        with self._lock:
            found: dict[str, set[str]] = {}
            objects = [
                *(f"dashboard {i}: {json.dumps(d)}" for i, d in self.state.dashboards.items()),
                *(f"monitor {i}: {m.get('query', '')}" for i, m in self.state.monitors.items()),
                *(f"slo {i}: {json.dumps(d)}" for i, d in self.state.slos.items()),
            ]
            for text in objects:
                where = text.split(":", 1)[0]
                unknown = set(_QUERIED_METRIC.findall(text)) - self.state.metrics
                if unknown:
                    found[where] = unknown
            return found

    def load_recorded(self, kind: str, body: dict[str, Any]) -> None:
        """Hold ``body`` exactly as recorded from the real API (a dashboard or monitor, with
        its id), so obs reads what Datadog really returns."""
        with self._lock:
            if kind == "dashboard":
                self.state.dashboards[str(body["id"])] = copy.deepcopy(body)
            elif kind == "slo":
                self.state.slos[str(body["id"])] = copy.deepcopy(body)
            else:
                self.state.monitors[int(body["id"])] = copy.deepcopy(body)

    def clone_dashboard(self, ident: str) -> str:
        """Clone a dashboard as Datadog's UI does: a new id, "(cloned)" in the title, the rest
        (description and its marker line included) copied. Returns the clone's id."""
        with self._lock:
            source = self.state.dashboards[ident]
            body = {k: copy.deepcopy(v) for k, v in source.items() if k not in _DASHBOARD_READ_ONLY}
            body["title"] = f"{source.get('title', '')} (cloned)"
            return str(self._create_dashboard(body)["id"])

    def clone_monitor(self, ident: int) -> int:
        """Clone a monitor as Datadog's UI does: a new id, "[Clone]" before the name, tags
        and options copied. Returns the clone's id."""
        with self._lock:
            source = self.state.monitors[ident]
            keep = ("type", "query", "message", "tags", "options", "priority")
            body = {k: copy.deepcopy(source[k]) for k in keep if k in source}
            body["name"] = f"[Clone] {source.get('name', '')}"
            return int(self._create_monitor(body)["id"])

    def put_slo(self, body: dict[str, Any]) -> str:
        """Create an SLO directly (as someone in Datadog's UI would); returns its id."""
        with self._lock:
            return str(self._store_slo(copy.deepcopy(body), None)["id"])

    def put_monitor(self, body: dict[str, Any]) -> int:
        """Create a monitor directly (as someone in Datadog's UI would); returns its id."""
        with self._lock:
            return int(self._create_monitor(copy.deepcopy(body))["id"])

    # --- request handling ---------------------------------------------------------------

    def handle(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        method = handler.command
        path = parts.path
        query = dict(parse_qsl(parts.query))
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        with self._lock:
            family = "dashboards" if "/dashboard" in path else "monitors"
            bucket = f"{'slos' if path.startswith('/api/v1/slo') else family}_" + (
                "read" if method == "GET" else "write"
            )
            headers, over_limit = self._rate_headers(bucket)
            fault = self._take_fault(method, path)
            if over_limit or (fault and fault.kind == "429"):
                headers["X-RateLimit-Remaining"] = "0"
                self._reply(
                    handler, method, path, 429, {"errors": ["Rate limit exceeded"]}, headers
                )
                return
            if fault and fault.kind == "500":
                self._reply(handler, method, path, 500, {"errors": ["Internal error"]}, headers)
                return
            try:
                self._authenticate(handler)
                self._validate(method, path, query, raw, handler.headers)
                status, body = self._route(method, path, query, raw)
            except StandInError as exc:
                status, body = exc.status, {"errors": [exc.message]}
            except Exception as exc:  # a stand-in bug: answer like a server would, and say so
                reason = f"{type(exc).__name__}: {str(exc)[:300]}"
                self.violations.append(f"stand-in failed on {method} {path}: {reason}")
                status, body = 500, {"errors": [f"stand-in failure: {reason}"]}
            if self.validate_responses and status < 300:
                self._check_response(method, path, query, raw, handler.headers, status, body)
            if fault and fault.kind == "drop":
                self.log.append(Logged(method, path, 0))
                handler.close_connection = True
                return
            self._reply(handler, method, path, status, body, headers)

    def _reply(
        self,
        handler: _Handler,
        method: str,
        path: str,
        status: int,
        body: Any,
        headers: dict[str, str],
    ) -> None:
        self.log.append(Logged(method, path, status))
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _rate_headers(self, bucket: str) -> tuple[dict[str, str], bool]:
        now = time.monotonic()
        window = self._windows.get(bucket)
        if window is None or now - window.started >= self.rate_limit.period:
            window = self._windows[bucket] = _Window(now)
        window.used += 1
        reset = max(1, math.ceil(window.started + self.rate_limit.period - now))
        remaining = self.rate_limit.limit - window.used
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit.limit),
            "X-RateLimit-Period": str(self.rate_limit.period),
            "X-RateLimit-Remaining": str(max(remaining, 0)),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Name": bucket,
        }
        if self.rate_limit.lowercase_names:
            headers = {name.lower(): value for name, value in headers.items()}
        return headers, remaining < 0

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and path == fault.path and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    def _authenticate(self, handler: _Handler) -> None:
        if (
            handler.headers.get("DD-API-KEY") != API_KEY
            or handler.headers.get("DD-APPLICATION-KEY") != APP_KEY
        ):
            raise StandInError(403, "Forbidden")

    def _validate(
        self, method: str, path: str, query: dict[str, str], raw: bytes, headers: Any
    ) -> None:
        # The same request always gets the same verdict; the cache spares openapi-core's
        # ~0.1 s per dashboard body when tests and the benchmark send identical bodies.
        key = (method, _path_pattern(path), tuple(sorted(query.items())), raw)
        if key not in _VERDICTS:
            _VERDICTS[key] = self._spec_verdict(method, path, query, raw, headers)
        verdict = _VERDICTS[key]
        if verdict is not None:
            self.violations.append(f"{method} {path}: {verdict}")
            raise StandInError(400, verdict)

    def _spec_verdict(
        self, method: str, path: str, query: dict[str, str], raw: bytes, headers: Any
    ) -> str | None:
        from openapi_core.testing import MockRequest

        request = MockRequest(
            self.url,
            method,
            path,
            args=query,
            headers=dict(headers.items()),
            data=raw or None,
            content_type=headers.get("Content-Type", "application/json"),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openapi-core does not model Datadog's auth schemes
            try:
                self.openapi.validate_request(request)
            except Exception as exc:
                cause = exc.__cause__
                errors = getattr(cause, "schema_errors", None)
                if errors:
                    first = errors[0]
                    where = "/".join(str(p) for p in first.absolute_path)
                    return f"{exc.__class__.__name__}: {where}: {first.message}"
                return f"{exc.__class__.__name__}: {exc}"
        return None

    def _check_response(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        raw: bytes,
        headers: Any,
        status: int,
        body: Any,
    ) -> None:
        """The stand-in's own reply must fit the spec too (keeps the stand-in honest)."""
        from openapi_core.testing import MockRequest, MockResponse

        request = MockRequest(
            self.url, method, path, args=query, headers=dict(headers.items()), data=raw or None
        )
        response = MockResponse(json.dumps(body).encode(), status_code=status)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                self.openapi.validate_response(request, response)
            except Exception as exc:
                errors = getattr(exc.__cause__, "schema_errors", None) or [exc]
                first = errors[0]
                where = "/".join(str(p) for p in getattr(first, "absolute_path", ()))
                message = str(getattr(first, "message", first))[:300]
                self.violations.append(
                    f"reply to {method} {path} misfits the spec: {where}: {message}"
                )

    # --- routes -------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict[str, str], raw: bytes) -> tuple[int, Any]:
        body = json.loads(raw) if raw else None
        segments = path.strip("/").split("/")
        if segments[:2] != ["api", "v1"] or len(segments) < 3:
            raise StandInError(404, "Not found")
        resource, rest = segments[2], segments[3:]
        if resource == "dashboard":
            return self._dashboards(method, rest, query, body)
        if resource == "monitor":
            return self._monitors(method, rest, query, body)
        if resource == "slo":
            return self._slos(method, rest, query, body)
        raise StandInError(404, "Not found")

    def _dashboards(
        self, method: str, rest: list[str], query: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        if not rest and method == "GET":
            start = 0 if self.ignore_paging else int(query.get("start", 0))
            count = int(query.get("count", 100))
            listed = list(self.state.dashboards.values())[start : start + count]
            return 200, {"dashboards": [_summary(d) for d in listed]}
        if not rest and method == "POST":
            self._dashboard_rules(body)
            return 200, self._create_dashboard(body)
        if len(rest) != 1:
            raise StandInError(404, "Not found")
        existing = self.state.dashboards.get(rest[0])
        if existing is None:
            raise StandInError(404, f"Dashboard {rest[0]} not found")
        if method == "GET":
            return 200, existing
        if method == "DELETE":
            del self.state.dashboards[rest[0]]
            return 200, {"deleted_dashboard_id": rest[0]}
        if method == "PUT":
            self._dashboard_rules(body)
            return 200, self._store_dashboard(body, existing)
        raise StandInError(405, "Method not allowed")

    def _monitors(
        self, method: str, rest: list[str], query: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        if not rest and method == "GET":
            listed = list(self.state.monitors.values())
            wanted = [t for t in query.get("monitor_tags", "").split(",") if t]
            listed = [m for m in listed if all(t in m["tags"] for t in wanted)]
            if "page" in query:
                size = int(query.get("page_size", 100))
                page = 0 if self.ignore_paging else int(query["page"])
                listed = listed[page * size : (page + 1) * size]
            return 200, listed
        if rest == ["validate"] and method == "POST":
            self._read_only_rule(body, _MONITOR_READ_ONLY)
            self._monitor_rules(body)
            for part, message in self._rejections:
                if part in body.get("query", ""):
                    raise StandInError(400, message)
            return 200, {}
        if not rest and method == "POST":
            self._read_only_rule(body, _MONITOR_READ_ONLY)
            self._monitor_rules(body)
            return 200, self._create_monitor(body)
        if len(rest) != 1 or not rest[0].isdigit():
            raise StandInError(404, "Not found")
        existing = self.state.monitors.get(int(rest[0]))
        if existing is None:
            raise StandInError(404, f"Monitor {rest[0]} not found")
        if method == "GET":
            return 200, existing
        if method == "DELETE":
            del self.state.monitors[int(rest[0])]
            return 200, {"deleted_monitor_id": int(rest[0])}
        if method == "PUT":
            self._read_only_rule(body, _MONITOR_READ_ONLY)
            merged = {**existing, **body}
            if "options" in body:
                merged["options"] = body["options"]
            self._monitor_rules(merged)
            return 200, self._store_monitor(merged, existing)
        raise StandInError(405, "Method not allowed")

    def _slos(
        self, method: str, rest: list[str], query: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        if not rest and method == "GET":
            listed = list(self.state.slos.values())
            wanted = query.get("tags_query")
            if wanted:
                listed = [s for s in listed if wanted in s["tags"]]
            if query.get("ids"):
                ids = {i.strip() for i in query["ids"].split(",")}
                listed = [s for s in listed if s["id"] in ids]
            filtered = len(listed)
            offset = 0 if self.ignore_paging else int(query.get("offset", 0))
            listed = listed[offset : offset + int(query.get("limit", 1000))]
            page = {"total_count": len(self.state.slos), "total_filtered_count": filtered}
            return 200, {"data": listed, "error": None, "metadata": {"page": page}}
        if not rest and method == "POST":
            self._read_only_rule(body, _SLO_READ_ONLY)
            self._slo_rules(body)
            return 200, {"data": [self._store_slo(body, None)], "error": None}
        if len(rest) != 1:
            raise StandInError(404, "Not found")
        existing = self.state.slos.get(rest[0])
        if existing is None:
            # As recorded in tests/fixtures/datadog/slo_delete_not_found.json.
            raise StandInError(404, f"SLO not found: {rest[0]} not found")
        if method == "GET":
            return 200, {"data": existing, "error": None}
        if method == "PUT":
            self._read_only_rule(body, _SLO_READ_ONLY)
            self._slo_rules(body)
            return 200, {"data": [self._store_slo(body, existing)], "error": None}
        if method == "DELETE":
            naming = sorted(
                ident for ident, m in self.state.monitors.items() if _names_slo(m, rest[0])
            )
            if naming:
                reason = f"SLO {rest[0]} is referenced in monitors: {naming}"
                return 409, {"data": [], "errors": {rest[0]: reason}}
            del self.state.slos[rest[0]]
            return 200, {"data": [rest[0]], "error": None}
        raise StandInError(405, "Method not allowed")

    # --- rules the spec does not state --------------------------------------------------

    def _read_only_rule(self, body: dict[str, Any], read_only: tuple[str, ...]) -> None:
        sent = [k for k in read_only if k in body]
        if sent:
            self._refuse(f"read-only fields must not be sent: {', '.join(sent)}")

    def _dashboard_rules(self, body: dict[str, Any]) -> None:
        self._read_only_rule(body, _DASHBOARD_READ_ONLY)
        tags = body.get("tags") or []
        bad = [t for t in tags if not _TEAM_TAG.match(t)]
        if bad or len(tags) > 5:
            self._refuse(f"dashboard tags must be at most 5 team:<name> tags, got {tags}")

    def _monitor_rules(self, body: dict[str, Any]) -> None:
        if body.get("type") == "slo alert":
            self._slo_alert_rules(body)
            return
        found = _MONITOR_QUERY.match(body.get("query", ""))
        if not found:
            self._refuse(
                f"The value provided for parameter 'query' is invalid: {body.get('query')}"
            )
        assert found is not None
        thresholds = (body.get("options") or {}).get("thresholds") or {}
        critical = thresholds.get("critical")
        if critical is None or float(critical) != float(found["threshold"]):
            self._refuse(
                f"Alert threshold ({critical}) does not match that used in the query "
                f"({found['threshold']})"
            )
        above = found["cmp"] in (">", ">=")
        for name, other in (
            ("warning", "critical"),
            ("critical_recovery", "critical"),
            ("warning_recovery", "warning"),
        ):
            value, limit = thresholds.get(name), thresholds.get(other)
            if value is None or limit is None:
                continue
            if (value >= limit) if above else (value <= limit):
                self._refuse(
                    f"{name} threshold ({value}) must be "
                    f"{'below' if above else 'above'} the {other} threshold ({limit})"
                )

    def _slo_alert_rules(self, body: dict[str, Any]) -> None:
        found = _SLO_ALERT_QUERY.match(body.get("query", ""))
        if not found:
            self._refuse(
                f"The value provided for parameter 'query' is invalid: {body.get('query')}"
            )
        assert found is not None
        slo = self.state.slos.get(found["slo"])
        if slo is None:
            self._refuse(f"SLO not found: {found['slo']} not found")
        assert slo is not None
        targets = {t["timeframe"]: t["target"] for t in slo.get("thresholds") or []}
        if found["window"] not in targets:
            self._refuse(f"the SLO has no {found['window']} target (it has {sorted(targets)})")
        critical = ((body.get("options") or {}).get("thresholds") or {}).get("critical")
        threshold = float(found["threshold"])
        if critical is None or float(critical) != threshold:
            self._refuse(
                f"Alert threshold ({critical}) does not match that used in the query "
                f"({found['threshold']})"
            )
        if found["kind"] != "burn_rate":
            return
        if found["long"] is None:
            self._refuse("a burn rate alert needs a long_window and a short_window")
        long, short = _window(found["long"]), _window(found["short"])
        if not short < long <= 48 * 3600:
            self._refuse("the short window must be shorter than the long one, at most 48h")
        highest = 100 / (100 - float(targets[found["window"]]))
        if threshold >= highest:
            self._refuse(f"the burn rate threshold must be below the maximum ({highest:g})")

    def _slo_rules(self, body: dict[str, Any]) -> None:
        kind = body.get("type")
        if kind == "metric":
            query = body.get("query") or {}
            if not (query.get("numerator") and query.get("denominator")) and not body.get(
                "sli_specification"
            ):
                self._refuse("a metric SLO needs query.numerator and query.denominator")
        elif kind == "time_slice":
            if "time_slice" not in (body.get("sli_specification") or {}):
                self._refuse("a time-slice SLO needs sli_specification.time_slice")
        elif kind == "monitor" and not body.get("monitor_ids"):
            self._refuse("a monitor SLO needs monitor_ids")
        thresholds = body.get("thresholds") or []
        windows = [t.get("timeframe") for t in thresholds]
        if not thresholds or len(set(windows)) != len(windows):
            self._refuse("thresholds: one per timeframe, at least one")
        for t in thresholds:
            target, warning = float(t["target"]), t.get("warning")
            if not 0 < target < 100:
                self._refuse(f"target {target} must be between 0 and 100")
            if warning is not None and not target < float(warning) < 100:
                self._refuse(f"warning {warning} must be above the target {target}")
        if body.get("timeframe") is not None and body["timeframe"] not in windows:
            self._refuse(f"timeframe {body['timeframe']} has no threshold")

    def _refuse(self, message: str) -> None:
        self.violations.append(message)
        raise StandInError(400, message)

    # --- storage and server-filled fields -------------------------------------------------

    def _create_dashboard(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._store_dashboard(body, None)

    def _store_dashboard(
        self, body: dict[str, Any], existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        now = _now()
        ident = existing["id"] if existing else _dashboard_id()
        stored = copy.deepcopy(body)
        self._fill_defaults(stored, "Dashboard")
        stored.setdefault("description", None)
        stored.setdefault("notify_list", None)
        stored.setdefault("template_variables", [])
        stored.setdefault("tags", [])
        stored.setdefault("is_read_only", False)
        stored.setdefault("restricted_roles", [])
        stored.setdefault("template_variable_presets", [])
        if stored.get("layout_type") == "ordered":
            stored.setdefault("reflow_type", "auto")
        _number_widgets(stored["widgets"], auto_layout=stored.get("reflow_type") == "auto")
        slug = re.sub(r"[^a-z0-9]+", "-", stored.get("title", "").lower()).strip("-")
        stored.update(
            id=ident,
            author_handle="standin@example.com",
            author_name="Stand In",
            created_at=existing["created_at"] if existing else now,
            modified_at=now,
            url=f"/dashboard/{ident}/{slug}",
        )
        self.state.dashboards[ident] = stored
        return stored

    def _create_monitor(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._store_monitor(body, None)

    def _store_monitor(
        self, body: dict[str, Any], existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        now = _now()
        if existing:
            ident = existing["id"]
        else:
            ident = self.state.next_monitor_id
            self.state.next_monitor_id += random.randint(1, 50)
        stored = copy.deepcopy(body)
        if stored.get("type") == "metric alert":
            # Datadog stores a classic-query metric alert as a query alert (recorded in
            # tests/fixtures/datadog/metric_monitor_create.json).
            stored["type"] = "query alert"
        self._fill_defaults(stored, "Monitor")
        options = stored.setdefault("options", {})
        for key, value in _MONITOR_OPTION_FILL.items():
            options.setdefault(key, copy.deepcopy(value))
        options["thresholds"] = {
            k: float(v) if isinstance(v, int | float) else v
            for k, v in (options.get("thresholds") or {}).items()
        }
        stored.setdefault("tags", [])
        stored.setdefault("message", "")
        stored.setdefault("priority", None)
        stored.setdefault("restricted_roles", None)
        stored.update(
            id=ident,
            org_id=4242,
            created=existing["created"] if existing else now,
            modified=now,
            creator={"email": "standin@example.com", "handle": "standin", "name": "Stand In"},
            deleted=None,
            multi=" by {" in stored.get("query", ""),
            overall_state="No Data",
            overall_state_modified=None,
        )
        self.state.monitors[ident] = stored
        return stored

    def _store_slo(self, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        now = int(time.time())
        stored = copy.deepcopy(body)
        for threshold in stored["thresholds"]:
            threshold["target"] = float(threshold["target"])
            threshold["target_display"] = _display(threshold["target"])
            if threshold.get("warning") is not None:
                threshold["warning"] = float(threshold["warning"])
                threshold["warning_display"] = _display(threshold["warning"])
        primary = next(
            (t for t in stored["thresholds"] if t["timeframe"] == stored.get("timeframe")),
            stored["thresholds"][0],
        )
        stored.setdefault("timeframe", primary["timeframe"])
        stored.setdefault("target_threshold", primary["target"])
        if "warning" in primary:
            stored.setdefault("warning_threshold", primary["warning"])
        condition = (stored.get("sli_specification") or {}).get("time_slice")
        if isinstance(condition, dict):
            condition.setdefault("query_interval_seconds", 300)
        stored.setdefault("tags", [])
        stored.setdefault("description", "")
        if stored.get("type") != "monitor":
            stored.pop("monitor_ids", None)  # recorded: a metric SLO's empty list is dropped
        stored.update(
            id=existing["id"] if existing else "".join(random.choices("0123456789abcdef", k=32)),
            monitor_tags=[],
            type_id=_SLO_TYPE_IDS.get(stored.get("type", ""), 1),
            creator={"name": None, "handle": "standin@example.com", "email": "standin@example.com"},
            created_at=existing["created_at"] if existing else now,
            modified_at=now,
        )
        self.state.slos[stored["id"]] = stored
        return stored

    def _fill_defaults(self, value: Any, schema_name: str) -> None:
        _fill(value, self._schema({"$ref": f"#/components/schemas/{schema_name}"}), self)

    def _schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            node: Any = self.document
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            schema = node
        return schema


def _fill(value: Any, schema: dict[str, Any], standin: DatadogStandIn) -> None:
    """Set the spec's ``default:`` values the request left out, recursively."""
    if isinstance(value, list) and "items" in schema:
        for item in value:
            _fill(item, standin._schema(schema["items"]), standin)
        return
    if not isinstance(value, dict):
        return
    if "oneOf" in schema:
        chosen = _one_of(value, schema["oneOf"], standin)
        if chosen is not None:
            _fill(value, chosen, standin)
        return
    for name, prop in (schema.get("properties") or {}).items():
        resolved = standin._schema(prop)
        default = prop.get("default", resolved.get("default"))
        if name not in value and default is not None:
            value[name] = copy.deepcopy(default)
        elif name in value:
            _fill(value[name], resolved, standin)


def _one_of(
    value: dict[str, Any], options: list[dict[str, Any]], standin: DatadogStandIn
) -> dict[str, Any] | None:
    for option in options:
        schema = standin._schema(option)
        props = schema.get("properties") or {}
        if not set(schema.get("required") or []) <= set(value):
            continue
        if all(
            value[k] in standin._schema(p).get("enum", [value[k]])
            for k, p in props.items()
            if k in value and isinstance(value[k], str)
        ):
            return schema
    return None


def _number_widgets(widgets: list[dict[str, Any]], *, auto_layout: bool) -> None:
    x = y = 0
    for widget in widgets:
        widget["id"] = random.randint(1, 2**53)
        if auto_layout:
            widget["layout"] = {"x": x, "y": y, "width": 4, "height": 2}
            x = (x + 4) % 12
            y += 2 if x == 0 else 0
        inner = widget.get("definition", {}).get("widgets")
        if isinstance(inner, list):
            _number_widgets(inner, auto_layout=auto_layout)


def _names_slo(monitor: dict[str, Any], slo_id: str) -> bool:
    found = _SLO_ALERT_QUERY.match(monitor.get("query", ""))
    return monitor.get("type") == "slo alert" and found is not None and found["slo"] == slo_id


def _window(text: str) -> int:
    return int(text[:-1]) * _WINDOW_SECONDS[text[-1]]


def _display(value: float) -> str:
    """A target as Datadog displays it: ``95.`` for 95, ``99.5`` for 99.5 (as recorded)."""
    return f"{value:g}." if float(value).is_integer() else f"{value:g}"


def _summary(dashboard: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "author_handle",
        "created_at",
        "description",
        "id",
        "is_read_only",
        "layout_type",
        "modified_at",
        "title",
        "url",
    )
    return {k: dashboard.get(k) for k in keys}


def _dashboard_id() -> str:
    part = lambda: "".join(random.choices(string.ascii_lowercase + string.digits, k=3))  # noqa: E731
    return f"{part()}-{part()}-{part()}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Handler(BaseHTTPRequestHandler):
    owner: DatadogStandIn
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle's algorithm and the
    # client's delayed ACK hold every reply back ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``DatadogStandIn.log`` instead."""

    def _any(self) -> None:
        self.owner.handle(self)

    do_GET = do_POST = do_PUT = do_DELETE = _any
