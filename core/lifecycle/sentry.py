"""Sentry: error capture with environment and release, scrubbed events (:mod:`obs.privacy.scrub`),
and the active OpenTelemetry trace id on every event.

Sentry's own pymongo integration is switched off: it deep-copies every command on every
call (see ``make bench``: its cost per command is measured there), and obs's listener
already covers Mongo.
"""

from __future__ import annotations

from typing import Any

from obs.privacy import scrub
from obs.runtime.settings import Settings

_linking = False


def link_trace(event: Any, hint: Any) -> Any:
    """Put the active OpenTelemetry trace and span ids on a Sentry event."""
    try:
        from opentelemetry import trace

        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            trace_id = format(context.trace_id, "032x")
            contexts = event.setdefault("contexts", {})
            contexts["trace"] = {
                **(contexts.get("trace") or {}),
                "trace_id": trace_id,
                "span_id": format(context.span_id, "016x"),
            }
            event.setdefault("tags", {})["otel.trace_id"] = trace_id
    except Exception:
        pass
    return event


def start(settings: Settings) -> str:
    """Start Sentry unless the application already did; returns a status detail."""
    import sentry_sdk
    from sentry_sdk.integrations.pymongo import PyMongoIntegration

    global _linking
    if not _linking:
        sentry_sdk.get_global_scope().add_event_processor(link_trace)
        _linking = True
    if sentry_sdk.get_client().is_active() and not getattr(
        sentry_sdk.get_client(), "_obs_owned", False
    ):
        return "the application's Sentry client (events get trace ids; scrubbing is theirs)"
    assert settings.sentry_dsn is not None
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.sentry_environment or settings.environment,
        release=settings.sentry_release or settings.service_version,
        before_send=scrub.before_send,
        before_breadcrumb=scrub.before_breadcrumb,
        disabled_integrations=[PyMongoIntegration()],
    )
    sentry_sdk.get_client()._obs_owned = True  # type: ignore[attr-defined]
    return "capturing errors; events scrubbed and linked to traces"


def flush(timeout: float) -> None:
    import sentry_sdk

    sentry_sdk.flush(timeout=timeout)


def stop(timeout: float) -> None:
    import sentry_sdk

    client = sentry_sdk.get_client()
    if getattr(client, "_obs_owned", False):
        client.close(timeout=timeout)
