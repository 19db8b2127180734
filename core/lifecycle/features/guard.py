"""Guard: ``obs.guard()`` limits, breaks and rate-limits guarded calls (:mod:`obs.protection`);
off by default."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from obs.export.deadline import Deadline
from obs.lifecycle.features.feature import Context, Feature
from obs.runtime.settings import Settings

if TYPE_CHECKING:
    from obs.protection.bucket import RedisBuckets
    from obs.protection.guard import GuardConfig


class Guard(Feature):
    name = "guard"

    def off(self, settings: Settings) -> str | None:
        return None if settings.guard else "OBS_GUARD is false (the default)"

    def start(self, context: Context) -> str:
        from obs.protection import runtime, telemetry
        from obs.protection.guard import GuardConfig
        from obs.protection.signals import pool_pending_reader

        s = context.settings
        if s.guard_limit_min > s.guard_limit_max:
            raise ValueError(
                f"guard_limit_min ({s.guard_limit_min}) is above guard_limit_max "
                f"({s.guard_limit_max})"
            )
        config = GuardConfig(
            limit_initial=s.guard_limit_initial,
            limit_min=s.guard_limit_min,
            limit_max=s.guard_limit_max,
            queue_timeout=s.guard_queue_timeout,
            error_ratio=s.guard_error_ratio,
            window=s.guard_window,
            min_calls=s.guard_min_calls,
            open_seconds=s.guard_open_seconds,
            probes=s.guard_probes,
            pool_pending=s.guard_pool_pending,
            client_rate=s.guard_client_rate,
            client_burst=s.guard_client_burst,
        )
        salt = s.guard_client_salt
        key = hashlib.sha256(salt.get_secret_value().encode()).digest() if salt else None
        shared = None
        if s.guard_redis_url is not None and s.guard_client_rate:
            shared = _shared(s.guard_redis_url.get_secret_value(), config, key or b"")
        runtime.start(
            config,
            failures=context.failures,
            shared=shared,
            salt=key,
            pool_pending=pool_pending_reader(),
        )
        if context.meter_provider is not None:
            from obs.lifecycle import providers
            from obs.version import __version__

            meter = context.meter_provider.get_meter(providers.SCOPE, __version__)
            for metric, callback in telemetry.OBSERVERS.items():
                metric.create_observable(meter, callback)
        clients = (
            f"clients {s.guard_client_rate:g}/s ({'shared on Redis' if shared else 'in-process'})"
            if s.guard_client_rate
            else "no client rate"
        )
        return (
            f"limits {s.guard_limit_min}..{s.guard_limit_max} from {s.guard_limit_initial}, "
            f"breaker at {s.guard_error_ratio:g} errors, {clients}"
        )

    def stop(self, deadline: Deadline) -> bool:
        from obs.protection import runtime

        runtime.stop()
        return True


def _shared(url: str, config: GuardConfig, salt: bytes) -> RedisBuckets:
    try:
        import redis
    except ImportError:
        raise RuntimeError("OBS_GUARD_REDIS_URL needs redis-py: pip install 'obs[agent]'") from None
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from obs.protection.bucket import RedisBuckets

    # Short timeouts and no retries (redis-py's default retries took seconds against a
    # stopped server): a slow Redis must not hold requests; a failed call falls back to
    # this process's own bucket.
    client = redis.Redis.from_url(
        url, socket_timeout=0.1, socket_connect_timeout=0.1, retry=Retry(NoBackoff(), 0)
    )
    return RedisBuckets(client, config.client_rate, config.burst, salt)
