"""obs.guard() as an application uses it: off by default and pass-through, on through
obs.init(), a context manager and a decorator (sync and async), the WSGI and ASGI middleware
answering 429/503 with Retry-After, and the guard's settings."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import obs
from obs.protection import AsgiGuard, Rejected, WsgiGuard, runtime
from obs.protection.guard import Guard, GuardConfig
from obs.runtime.status import Status

StartObs = Callable[..., Status]


@pytest.fixture
def guards() -> Iterator[Callable[..., None]]:
    """``guards(**config)``: the guards on with this config, off again after the test."""

    def start(**config: Any) -> None:
        runtime.start(GuardConfig(**config), salt=b"test")

    yield start
    runtime.stop()


def test_importing_obs_loads_no_guard_code() -> None:
    code = "import obs, sys; print(any(m.startswith('obs.protection') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_off_by_default_a_guarded_call_just_runs(start_obs: StartObs) -> None:
    status = start_obs()
    assert not status["guard"].on
    assert status["guard"].detail == "OBS_GUARD is false (the default)"
    for _ in range(1000):
        with obs.guard("payouts", client="k", priority="low"):
            pass
    assert runtime.guards() == []


def test_obs_init_turns_it_on_and_shutdown_off(start_obs: StartObs) -> None:
    status = start_obs(guard=True, guard_limit_initial=1, guard_queue_timeout=0.0)
    assert status["guard"].on, status["guard"].detail
    with obs.guard("payouts"), pytest.raises(Rejected) as refused, obs.guard("payouts"):
        pass
    assert (refused.value.reason, refused.value.status) == ("limit", 503)
    obs.shutdown()
    with obs.guard("payouts"), obs.guard("payouts"):
        pass  # off again: no limit


def test_a_bad_guard_setting_turns_only_the_guard_off(start_obs: StartObs) -> None:
    status = start_obs(guard=True, guard_error_ratio=2.0)
    assert not status["guard"].on
    assert status["metrics"].on
    obs.shutdown()
    status = start_obs(guard=True, guard_limit_min=10, guard_limit_max=5)
    assert "guard_limit_min (10) is above guard_limit_max (5)" in status["guard"].detail


def test_the_redis_url_is_never_shown(start_obs: StartObs) -> None:
    status = start_obs(
        guard=True, guard_client_rate=5, guard_redis_url="redis://:hunter2@127.0.0.1:1/0"
    )
    assert status["guard"].on
    assert "shared on Redis" in status["guard"].detail
    assert "hunter2" not in str(status)


def test_the_decorator_guards_sync_and_async_functions_at_call_time(
    guards: Callable[..., None],
) -> None:
    runtime.stop()

    @obs.guard("exports", priority="low")
    def export(n: int) -> int:
        return n * 2

    @obs.guard("exports", priority="low")
    async def export_async(n: int) -> int:
        await asyncio.sleep(0)
        return n * 3

    assert export(2) == 4  # decorated while off: still works
    guards(limit_initial=2, queue_timeout=0.0)  # on after decoration: the guard applies
    assert export(2) == 4
    assert asyncio.run(export_async(2)) == 6
    (guard,) = runtime.guards()
    admitted, _, _ = guard.snapshot()
    assert admitted["low"] == 2
    with obs.guard("exports", priority="high"), pytest.raises(Rejected) as refused:
        export(1)  # low gets half of the limit of 2: one slot, taken
    assert refused.value.outcome == "shed"


def test_an_async_call_over_the_limit_waits_without_blocking_the_loop(
    guards: Callable[..., None],
) -> None:
    guards(limit_initial=1, queue_timeout=1.0)
    order: list[str] = []

    async def call(name: str, hold: float) -> None:
        async with obs.guard("payouts", priority="high"):
            order.append(f"{name} in")
            await asyncio.sleep(hold)
        order.append(f"{name} out")

    async def both() -> None:
        await asyncio.gather(call("first", 0.05), call("second", 0.0))

    asyncio.run(both())
    assert order == ["first in", "first out", "second in", "second out"]


def test_a_call_over_the_limit_waits_for_a_slot_then_is_rejected(
    guards: Callable[..., None],
) -> None:
    guards(limit_initial=1, queue_timeout=0.3)
    release = threading.Event()
    entered = threading.Event()

    def hold() -> None:
        with obs.guard("payouts", priority="high"):
            entered.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(5)
    threading.Timer(0.05, release.set).start()
    started = time.monotonic()
    with obs.guard("payouts", priority="high"):  # waits for the holder, then runs
        waited = time.monotonic() - started
    holder.join()
    assert waited >= 0.04
    release.clear()
    entered.clear()
    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(5)
    with pytest.raises(Rejected), obs.guard("payouts", priority="high"):
        pass
    with pytest.raises(Rejected), obs.guard("payouts", priority="low"):
        pass  # low priority never waits
    release.set()
    holder.join()
    _, refused, _ = runtime.guards()[0].snapshot()
    assert refused == {("rejected", "limit", "high"): 1, ("rejected", "limit", "low"): 1}


def test_an_application_error_does_not_count_against_the_breaker(
    guards: Callable[..., None],
) -> None:
    guards(min_calls=5, sample_window=0.0, min_samples=1, error_ratio=0.5)
    for _ in range(20):
        with pytest.raises(KeyError), obs.guard("payouts"):
            raise KeyError("not found")
    assert runtime.guards()[0].state == "closed"
    for _ in range(20):
        with pytest.raises(TimeoutError), obs.guard("payouts"):
            raise TimeoutError
    assert runtime.guards()[0].state == "open"
    with pytest.raises(Rejected) as refused, obs.guard("payouts"):
        pass
    assert refused.value.reason == "breaker"
    assert refused.value.retry_after_header() == "5"


def test_a_broken_guard_never_breaks_the_call(
    guards: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    guards()
    with obs.guard("payouts"):
        pass
    monkeypatch.setattr(Guard, "enter", lambda *a: 1 / 0)
    with obs.guard("payouts"):
        ran = True
    assert ran


@given(name=st.text(max_size=30), priority=st.text(max_size=10))
def test_any_name_and_priority_either_work_or_say_what_is_wrong(name: str, priority: str) -> None:
    valid = priority in ("high", "normal", "low") and bool(name)
    if not valid:
        with pytest.raises(ValueError, match=r"^obs\.guard\("):
            obs.guard(name, priority=priority)
        return
    runtime.start(GuardConfig())
    try:
        with obs.guard(name, priority=priority):
            pass
        assert [g.name for g in runtime.guards()] == [name]
    finally:
        runtime.stop()


def test_more_names_than_the_cap_share_one_guard(guards: Callable[..., None]) -> None:
    guards()
    for n in range(runtime.MAX_GUARDS + 20):
        with obs.guard(f"resource-{n}"):
            pass
    names = {g.name for g in runtime.guards()}
    assert len(names) == runtime.MAX_GUARDS + 1
    assert runtime.OVERFLOW in names


# -- middleware ----------------------------------------------------------------------------


def _wsgi(app: Any, environ: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"], answer["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body


def test_wsgi_answers_a_rejection_with_429_or_503_and_retry_after(
    guards: Callable[..., None],
) -> None:
    guards(client_rate=1.0, client_burst=1, limit_initial=1, queue_timeout=0.0)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("PATH_INFO") == "/nested":
            with obs.guard("payouts"), obs.guard("payouts"):
                pass
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    guarded = WsgiGuard(app, "api", client=lambda environ: environ.get("HTTP_X_API_KEY"))
    assert _wsgi(guarded, {"HTTP_X_API_KEY": "abusive"})[0] == "200 OK"
    status, headers, body = _wsgi(guarded, {"HTTP_X_API_KEY": "abusive"})
    assert status == "429 Too Many Requests"
    assert headers["Retry-After"] == "1"
    assert body == b"client_rate: retry after 1 s\n"
    assert _wsgi(guarded, {"HTTP_X_API_KEY": "polite"})[0] == "200 OK"
    status, headers, _ = _wsgi(WsgiGuard(app), {"PATH_INFO": "/nested"})
    assert status == "503 Service Unavailable"
    assert headers["Retry-After"] == "1"


def _asgi(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_asgi_answers_a_rejection_before_the_response_starts(
    guards: Callable[..., None],
) -> None:
    guards(limit_initial=2, queue_timeout=0.0)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/late":
            await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["path"] in ("/busy", "/late"):
            with obs.guard("payouts", priority="low"), obs.guard("payouts", priority="low"):
                pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    guarded = AsgiGuard(app, "api", priority=lambda scope: "high")
    assert _asgi(guarded, {"type": "http", "path": "/"})[0]["status"] == 200
    start, body = _asgi(guarded, {"type": "http", "path": "/busy"})
    assert start["status"] == 503
    assert (b"retry-after", b"1") in start["headers"]
    assert body["body"] == b"limit: retry after 1 s\n"
    with pytest.raises(Rejected):
        _asgi(guarded, {"type": "http", "path": "/late"})  # too late for a status
    assert _asgi(guarded, {"type": "lifespan", "path": "/"}) == [
        {"type": "http.response.start", "status": 200, "headers": []},
        {"type": "http.response.body", "body": b"ok"},
    ]


def test_the_environment_turns_it_on(start_obs: StartObs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBS_GUARD", "true")
    monkeypatch.setenv("OBS_GUARD_CLIENT_RATE", "5")
    monkeypatch.setenv("OBS_GUARD_LIMIT_MAX", "50")
    status = start_obs()
    assert status["guard"].detail == (
        "limits 1..50 from 20, breaker at 0.5 errors, clients 5/s (in-process)"
    )
