"""The guards of this process, and ``obs.guard()``: the one line an application adds.

``obs.init(guard=True)`` (or ``OBS_GUARD=true``) starts the guards; until then, and after
``obs.shutdown()``, a guarded call runs as if unguarded, for the cost of one object.

Example:
    >>> import obs
    >>> with obs.guard("payouts", client="api-key-123", priority="low"):
    ...     pass  # the Mongo calls of the payouts path
    >>> @obs.guard("exports", priority="low")
    ... def export_rows():
    ...     return 42
    >>> export_rows()
    42
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from obs.protection.bucket import RedisBuckets
from obs.protection.guard import FEATURE, SHARES, Guard, GuardConfig, Rejected

if TYPE_CHECKING:
    from obs.runtime.failures import Failures

logger = logging.getLogger("obs")

MAX_GUARDS = 100  # names are series on the dashboards; beyond this they share one guard
OVERFLOW = "other"
F = TypeVar("F", bound=Callable[..., Any])

_guards: dict[str, Guard] | None = None  # None while the guard feature is off
_make: Callable[[str], Guard] | None = None
_failures: Failures | None = None
_create_lock = threading.Lock()


def start(
    config: GuardConfig,
    *,
    failures: Failures | None = None,
    shared: RedisBuckets | None = None,
    salt: bytes | None = None,
    pool_pending: Callable[[], int] | None = None,
) -> None:
    """Turn the guards on (``obs.init()`` does, from the settings). ``salt`` keys the
    client tags in telemetry; None picks a random one for this process.

    Example:
        >>> start(GuardConfig(limit_initial=5))
        >>> with guard("payouts"):
        ...     [g.name for g in guards()]
        ['payouts']
        >>> stop()
    """
    global _guards, _make, _failures
    tag_salt = salt if salt is not None else os.urandom(16)

    def make(name: str) -> Guard:
        return Guard(
            name,
            config,
            shared=shared,
            failures=failures,
            pool_pending=pool_pending,
            salt=tag_salt,
        )

    with _create_lock:
        _make = make
        _failures = failures
        _guards = {}


def stop() -> None:
    """Turn the guards off: guarded calls run unguarded again.

    Example:
        >>> stop(); guards()
        []
    """
    global _guards, _make
    with _create_lock:
        _guards = None
        _make = None


def guards() -> list[Guard]:
    """The guards created so far (none while off); see :func:`start`."""
    found = _guards
    return list(found.values()) if found else []


def _create(name: str) -> Guard | None:
    with _create_lock:
        found, make = _guards, _make
        if found is None or make is None:
            return None
        if name not in found and len(found) >= MAX_GUARDS:
            if OVERFLOW not in found:
                logger.warning(
                    "obs: more than %d guard names; further ones share the guard %r",
                    MAX_GUARDS,
                    OVERFLOW,
                )
            name = OVERFLOW
        guard = found.get(name)
        if guard is None:
            guard = found[name] = make(name)
        return guard


class guard:  # lower case: it reads as a function, ``with obs.guard("payouts"):``
    """Guard a block or a function in front of the resource ``name`` (a Mongo collection
    group: "payouts", "exports"): adaptive concurrency limit, circuit breaker and, when
    ``client`` is given, that client's token bucket. A refusal raises
    :class:`~obs.protection.guard.Rejected` (``status`` 429 or 503, ``retry_after``).
    ``priority`` is ``high``, ``normal`` or ``low`` (shed first). One object per ``with``; a
    decorated function makes its own for every call.

    Example:
        >>> with guard("payouts", client="api-key-123"):
        ...     pass
    """

    __slots__ = ("_client", "_guard", "_name", "_priority", "_token")

    def __init__(self, name: str, *, client: str | None = None, priority: str = "normal") -> None:
        if priority not in SHARES or not name or not isinstance(name, str):
            raise _invalid(name, priority)
        self._name = name
        self._client = client
        self._priority = priority

    def __enter__(self) -> guard:
        # Inlined lookup: this is the whole cost of a guarded call while obs.guard is off.
        found = _guards
        self._guard = None
        if found is not None:
            active = found.get(self._name) or _create(self._name)
            if active is None:  # stopped meanwhile
                return self
            try:
                self._token = active.enter(self._client, self._priority)
            except Rejected:
                raise
            except Exception as exc:  # the host wins: a broken guard lets the call run
                _record(exc)
                return self
            self._guard = active
        return self

    async def __aenter__(self) -> guard:
        found = _guards
        self._guard = None
        if found is not None:
            active = found.get(self._name) or _create(self._name)
            if active is None:
                return self
            try:
                self._token = await active.enter_async(self._client, self._priority)
            except Rejected:
                raise
            except Exception as exc:
                _record(exc)
                return self
            self._guard = active
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        active = self._guard
        if active is not None:
            try:
                active.exit(self._token, exc)
            except Exception as failure:
                _record(failure)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, function: F) -> F:
        name, client, priority = self._name, self._client, self._priority
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                async with guard(name, client=client, priority=priority):
                    return await function(*args, **kwargs)

            return cast(F, run_async)

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with guard(name, client=client, priority=priority):
                return function(*args, **kwargs)

        return cast(F, run)


def _invalid(name: object, priority: object) -> ValueError:
    if priority not in SHARES:
        return ValueError(
            f"obs.guard({name!r}, priority={priority!r}): priority must be one of "
            f"{', '.join(SHARES)}"
        )
    return ValueError(f"obs.guard({name!r}): the name must be a non-empty string")


def _record(exc: BaseException) -> None:
    failures = _failures
    if failures is not None:
        failures.record(FEATURE, exc)
