"""The guards' metrics, read at export time from their counters (a call records nothing
but the integers it already keeps): limits, calls in flight, admitted/rejected/shed calls
by reason and priority, breaker states and transitions, throttled clients (hashed)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Observation

from obs import catalog
from obs.catalog import attr
from obs.protection import runtime
from obs.protection.breaker import STATE_VALUES


def observe_limit(options: CallbackOptions) -> Iterable[Observation]:
    for guard in runtime.guards():
        yield Observation(guard.limit, {attr.GUARD_NAME: guard.name})


def observe_in_flight(options: CallbackOptions) -> Iterable[Observation]:
    for guard in runtime.guards():
        yield Observation(guard.in_flight, {attr.GUARD_NAME: guard.name})


def observe_requests(options: CallbackOptions) -> Iterable[Observation]:
    for guard in runtime.guards():
        admitted, refused, _ = guard.snapshot()
        for priority, count in admitted.items():
            yield Observation(
                count,
                {
                    attr.GUARD_NAME: guard.name,
                    attr.GUARD_OUTCOME: "admitted",
                    attr.GUARD_PRIORITY: priority,
                },
            )
        for (outcome, reason, priority), count in refused.items():
            yield Observation(
                count,
                {
                    attr.GUARD_NAME: guard.name,
                    attr.GUARD_OUTCOME: outcome,
                    attr.GUARD_REASON: reason,
                    attr.GUARD_PRIORITY: priority,
                },
            )


def observe_state(options: CallbackOptions) -> Iterable[Observation]:
    for guard in runtime.guards():
        yield Observation(STATE_VALUES[guard.state], {attr.GUARD_NAME: guard.name})


def observe_transitions(options: CallbackOptions) -> Iterable[Observation]:
    for guard in runtime.guards():
        _, _, transitions = guard.snapshot()
        for state, count in transitions.items():
            yield Observation(count, {attr.GUARD_NAME: guard.name, attr.BREAKER_STATE: state})


def observe_clients(options: CallbackOptions) -> Iterable[Observation]:
    for guard in runtime.guards():
        for tag, count in guard.throttled_clients().items():
            yield Observation(count, {attr.GUARD_NAME: guard.name, attr.GUARD_CLIENT: tag})


OBSERVERS: dict[catalog.Metric, Callable[[CallbackOptions], Iterable[Observation]]] = {
    catalog.GUARD_LIMIT: observe_limit,
    catalog.GUARD_IN_FLIGHT: observe_in_flight,
    catalog.GUARD_REQUESTS: observe_requests,
    catalog.GUARD_BREAKER_STATE: observe_state,
    catalog.GUARD_BREAKER_TRANSITIONS: observe_transitions,
    catalog.GUARD_CLIENT_REJECTIONS: observe_clients,
}
