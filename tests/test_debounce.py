"""The Debouncer (caas/debounce.py): changes coalesce into one run, runs never overlap,
``settle`` waits for pending and running work, a failing run is logged and the thread goes on,
the interval runs work without changes, and an endless stream of changes cannot postpone a
run for ever. The work blocks on events the tests control, so nothing depends on timing."""

from __future__ import annotations

import logging
import threading

import pytest

from caas.debounce import Debouncer

HOUR = 3600.0


class Work:
    """Counts its runs; the first ``blocked`` runs wait for ``gate`` (``entered`` is set when
    one waits), and a run raises while ``fail`` is set."""

    def __init__(self, blocked: int = 0) -> None:
        self.runs = 0
        self.blocked = blocked
        self.gate, self.entered, self.ran = threading.Event(), threading.Event(), threading.Event()
        self.fail = False
        self.active = 0
        self.overlapped = False

    def __call__(self) -> None:
        self.active += 1
        self.overlapped |= self.active > 1
        try:
            self.runs += 1
            if self.runs <= self.blocked:
                self.entered.set()
                assert self.gate.wait(10)
            if self.fail:
                raise RuntimeError("boom")
        finally:
            self.active -= 1
            self.ran.set()


@pytest.fixture
def make():
    started: list[Debouncer] = []

    def make(work, debounce: float = 0.01, interval: float = HOUR, **kw) -> Debouncer:
        d = Debouncer(work, "test-debouncer", debounce, interval, **kw)
        d.start()
        started.append(d)
        return d

    yield make
    for d in started:
        d.stop()


def test_changes_during_a_run_coalesce_into_one_more(make):
    work = Work(blocked=1)
    d = make(work)
    d.changed()
    assert work.entered.wait(10)
    for _ in range(5):
        d.changed()
    assert not d.settle(0.05)  # a run is under way
    work.gate.set()
    assert d.settle(10)
    assert work.runs == 2 and not work.overlapped


def test_nothing_runs_without_a_change_before_the_interval(make):
    work = Work()
    d = make(work)
    assert d.settle(10)
    assert work.runs == 0
    d.changed()
    assert d.settle(10)
    assert work.runs == 1


def test_a_failing_run_is_logged_and_the_next_change_runs_again(make, caplog):
    work = Work()
    work.fail = True
    d = make(work, logger=logging.getLogger("caas.test"), failure="test work failed")
    with caplog.at_level(logging.ERROR, "caas.test"):
        d.changed()
        assert d.settle(10)
    assert work.runs == 1
    assert [r.getMessage() for r in caplog.records if r.name == "caas.test"] == ["test work failed"]
    assert caplog.records[-1].exc_info is not None
    work.fail = False
    d.changed()
    assert d.settle(10)
    assert work.runs == 2


def test_the_interval_runs_work_without_changes(make):
    work = Work()
    make(work, interval=0.01)
    assert work.ran.wait(10)


def test_endless_changes_cannot_postpone_a_run_for_ever(make):
    """Changes every millisecond, closer together than the debounce: a run still comes (after
    at most ten debounces)."""
    work = Work()
    d = make(work, debounce=0.05)
    stop = threading.Event()

    def keep_changing() -> None:
        while not stop.is_set():
            d.changed()
            stop.wait(0.001)

    changer = threading.Thread(target=keep_changing)
    changer.start()
    try:
        assert work.ran.wait(10)
    finally:
        stop.set()
        changer.join()


def test_stop_ends_the_thread_and_start_brings_it_back(make):
    work = Work()
    d = make(work)
    d.stop()
    assert "test-debouncer" not in {t.name for t in threading.enumerate()}
    d.start()
    d.changed()
    assert d.settle(10)
    assert work.runs >= 1
