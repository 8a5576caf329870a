"""The failed-login throttle (caas.identity.throttle), pure: no server, a clock of the test's own.
The dashboard's use of it over HTTP is in tests/dashboard/test_login_throttle.py."""

from __future__ import annotations

import threading

import pytest

from caas.errors import TooManyRequests
from caas.identity.throttle import Budget, Throttle, describe

USER = ("user", "default", "dora")
OTHER = ("user", "default", "eve")
ADDR = ("addr", "192.0.2.7")


class Clock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def throttle(clock, max_keys: int = 100, **user) -> Throttle:
    return Throttle({"user": Budget(**{"limit": 3, "delay": 1, "max_delay": 8, "forget": 60, **user}),
                     "addr": Budget(limit=10, delay=1, max_delay=8, forget=60, reset_on_success=False)},
                    max_keys=max_keys, clock=clock)


def fail(t: Throttle, *keys) -> None:
    t.begin(keys)
    t.failed(keys)


def refused(t: Throttle, *keys) -> float:
    """The wait ``begin`` refuses with (and asserts that it refuses)."""
    with pytest.raises(TooManyRequests) as caught:
        t.begin(keys)
    assert caught.value.status == 429
    return caught.value.retry_after


def test_the_limit_then_a_wait_doubling_up_to_the_cap(clock):
    t = throttle(clock)
    for _ in range(2):
        fail(t, USER)
        assert t.wait([USER]) == 0
    fail(t, USER)  # the third: the limit
    assert refused(t, USER) == 1
    waits = []
    for _ in range(6):
        clock.now += t.wait([USER])
        fail(t, USER)
        waits.append(t.wait([USER]))
    assert waits == [2, 4, 8, 8, 8, 8]


def test_a_refused_attempt_counts_nothing_and_the_wait_runs_from_the_last_failure(clock):
    t = throttle(clock)
    for _ in range(3):
        fail(t, USER)
    clock.now += 0.5
    for _ in range(100):
        assert refused(t, USER) == 0.5
    clock.now += 0.5
    t.begin([USER])  # the wait is over, and still 1 s long: the refusals did not lengthen it
    t.failed([USER])
    assert t.wait([USER]) == 2


def test_success_resets_the_user_but_not_the_address(clock):
    t = throttle(clock)
    for _ in range(9):
        fail(t, OTHER, ADDR)
        clock.now += 8
    t.begin([USER, ADDR])
    t.succeeded([USER, ADDR])
    fail(t, USER, ADDR)  # the address's tenth failure
    assert refused(t, USER, ADDR) == 1 and refused(t, ("user", "default", "new"), ADDR) == 1
    clock.now += 1
    t.begin([USER, ADDR])
    t.succeeded([USER, ADDR])
    assert t.wait([USER]) == 0 and t.wait([ADDR]) == 0  # a success: no wait begins
    fail(t, OTHER, ADDR)
    assert t.wait([ADDR]) == 2  # the address's count went on from 10


def test_keys_are_independent_and_the_longest_wait_is_the_answer(clock):
    t = throttle(clock)
    for _ in range(3):
        fail(t, USER, ADDR)
    assert t.wait([OTHER]) == 0 and t.wait([ADDR]) == 0
    assert t.wait([OTHER, ADDR, USER]) == 1


def test_failures_are_forgotten(clock):
    t = throttle(clock)
    for _ in range(3):
        fail(t, USER)
    clock.now += 59
    fail(t, USER)  # the fourth: 2 s
    clock.now += 59.9
    assert t.wait([USER]) == 0 and len(t) == 1
    clock.now += 0.1  # a minute after the last failure
    assert t.wait([USER]) == 0 and len(t) == 0
    fail(t, USER)
    assert t.wait([USER]) == 0  # counted from zero again


def test_parallel_attempts_are_claimed_before_the_password_is_tried(clock):
    """Guesses sent at once: only as many as the budget has left are tried."""
    t = throttle(clock)
    fail(t, USER)
    t.begin([USER])
    t.begin([USER])  # two under way fill the budget of 3
    assert refused(t, USER) == 1
    t.failed([USER])
    t.released([USER])  # no verdict (the service could not check the password)
    t.begin([USER])
    t.failed([USER])
    assert refused(t, USER) == 1


def test_threads(clock):
    """Eight threads of 500 failures each on the same keys: every one counted."""
    t = Throttle({"user": Budget(limit=4001, forget=900)}, clock=clock)

    def work():
        for _ in range(500):
            fail(t, USER)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert t.wait([USER]) == 0
    fail(t, USER)  # the 4,001st
    assert refused(t, USER) == 1


def test_memory_is_bounded_per_kind(clock):
    """Sprayed names push out the names that failed least recently, never an address."""
    t = throttle(clock, max_keys=50)
    for _ in range(10):
        fail(t, ADDR)
    fail(t, USER)
    for i in range(1000):
        clock.now += 0.0001
        t.begin([("user", "default", f"spray{i}")])
        t.failed([("user", "default", f"spray{i}")])
    assert len(t._entries["user"]) == 50 and len(t._entries["addr"]) == 1
    assert t.wait([ADDR]) > 0
    assert USER not in t._entries["user"]  # pushed out (the price of the bound)
    assert ("user", "default", "spray999") in t._entries["user"]


def test_keystones_lockout_is_a_budget(clock):
    """lockout_failure_attempts=3, lockout_duration=30: locked for 30 s after the third
    failure, then counted from zero (as Keystone resets failed_auth_count)."""
    t = Throttle({"user": Budget(limit=3, delay=30, max_delay=30, factor=1, forget=30)}, clock=clock)
    for _ in range(3):
        fail(t, USER)
    assert refused(t, USER) == 30
    clock.now += 30
    fail(t, USER)
    assert t.wait([USER]) == 0


def test_bad_budgets_and_keys(clock):
    for bad in ({"limit": 0}, {"delay": 0}, {"delay": 10, "max_delay": 5}, {"factor": 0.5},
                {"max_delay": 100, "forget": 50}):
        with pytest.raises(ValueError):
            Budget(**bad)
    with pytest.raises(ValueError, match="no throttle budget"):
        throttle(clock).wait([("group", "x")])


def test_a_huge_count_does_not_overflow():
    budget = Budget(limit=1, delay=1, max_delay=300, forget=900)
    assert budget.wait_after(10**6) == 300 and budget.wait_after(0) == 0 and budget.wait_after(1) == 1


def test_describe():
    assert [describe(s) for s in (0.2, 1, 1.5, 59, 119, 120, 300, 301)] == [
        "1 second", "1 second", "2 seconds", "59 seconds", "119 seconds", "2 minutes", "5 minutes", "6 minutes"]


@pytest.mark.parametrize("env", [{"CAAS_LOGIN_USER_FAILURES": "0"}, {"CAAS_LOGIN_TRACKED": "0"},
                                 {"CAAS_LOGIN_DELAY": "0"}, {"CAAS_LOGIN_DELAY": "10", "CAAS_LOGIN_MAX_DELAY": "5"},
                                 {"CAAS_LOGIN_FORGET": "60"}, {"CAAS_LOGIN_ADDRESS_FAILURES": "many"}])
def test_settings_refuse_a_throttle_that_cannot_work(monkeypatch, env):
    from caas.config import Settings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="CAAS_LOGIN_"):
        Settings(driver="fake")
