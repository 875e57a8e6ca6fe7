"""The coalescer merges triggers per domain into runs, on a fake clock, without a daemon."""

from __future__ import annotations

import itertools

from dnsauto.service.coalescer import Coalescer, Request, Run


class Clock:
    """Time that moves only when a test moves it."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def coalescer(clock: Clock) -> Coalescer:
    ids = (f"run{n}" for n in itertools.count(1))
    return Coalescer(clock, make_run_id=lambda: next(ids))


def test_a_trigger_is_due_after_its_delay() -> None:
    clock = Clock()
    runs = coalescer(clock)
    runs.request(["a.test"], "trigger", delay=5.0)
    assert runs.next_due() == 1_005.0
    assert runs.start_due() == []
    clock.now += 5.0
    assert runs.start_due() == [Run("run1", ["a.test"], ["trigger"])]


def test_a_burst_of_triggers_makes_one_run_with_every_reason() -> None:
    runs = coalescer(Clock())
    first = runs.request(["a.test"], "trigger")
    second = runs.request(["a.test"], "api")
    third = runs.request(["a.test"], "trigger")
    assert first == second == third == "run1"
    assert runs.start_due() == [Run("run1", ["a.test"], ["trigger", "api"])]
    assert runs.start_due() == []


def test_a_joining_trigger_brings_the_waiting_run_forward() -> None:
    clock = Clock()
    runs = coalescer(clock)
    runs.request(["a.test"], "trigger", delay=60.0)
    runs.request(["a.test"], "reload", delay=1.0)
    assert runs.waiting_of("a.test") == Request("run1", 1_001.0, ["trigger", "reload"])


def test_a_later_trigger_does_not_put_the_waiting_run_off() -> None:
    runs = coalescer(Clock())
    runs.request(["a.test"], "trigger", delay=1.0)
    runs.request(["a.test"], "trigger", delay=60.0)
    assert runs.next_due() == 1_001.0


def test_domains_asked_for_together_share_a_run() -> None:
    runs = coalescer(Clock())
    run_id = runs.request(["a.test", "b.test"], "start")
    assert runs.start_due() == [Run(run_id, ["a.test", "b.test"], ["start"])]


def test_domains_that_join_different_runs_get_the_new_run_id() -> None:
    runs = coalescer(Clock())
    runs.request(["a.test"], "trigger")
    run_id = runs.request(["a.test", "b.test"], "reload")
    assert run_id == "run2"
    waiting = runs.waiting()
    assert (waiting["a.test"].run_id, waiting["b.test"].run_id) == ("run1", "run2")


def test_a_domain_syncing_does_not_start_again_until_it_finishes() -> None:
    runs = coalescer(Clock())
    runs.request(["a.test"], "start")
    (run,) = runs.start_due()
    assert runs.running() == {"a.test": run.run_id}
    runs.request(["a.test"], "trigger")
    assert runs.next_due() is None  # nothing can start while a.test syncs
    assert runs.start_due() == []


def test_triggers_during_a_run_make_exactly_one_more_run_after_it() -> None:
    runs = coalescer(Clock())
    runs.request(["a.test"], "start")
    (first,) = runs.start_due()
    runs.request(["a.test"], "trigger")
    runs.request(["a.test"], "api")
    runs.finished("a.test", first.run_id)
    (second,) = runs.start_due()
    assert second == Run("run2", ["a.test"], ["trigger", "api"])
    runs.finished("a.test", second.run_id)
    assert runs.start_due() == []
    assert runs.waiting() == {}


def test_a_domain_finishing_an_old_run_stays_busy_with_its_current_one() -> None:
    runs = coalescer(Clock())
    runs.request(["a.test"], "start")
    (run,) = runs.start_due()
    runs.finished("a.test", "another-run")
    assert runs.running_of("a.test") == run.run_id


def test_one_domain_syncing_holds_back_no_other() -> None:
    runs = coalescer(Clock())
    runs.request(["a.test"], "start")
    runs.start_due()
    runs.request(["a.test", "b.test"], "trigger")
    assert runs.start_due() == [Run("run2", ["b.test"], ["trigger"])]
    assert runs.waiting_of("a.test") is not None


def test_failures_in_a_row_count_up_and_a_success_resets_them() -> None:
    runs = coalescer(Clock())
    assert runs.failed("a.test") == 1
    assert runs.failed("a.test") == 2
    assert runs.failing() == ["a.test"]
    runs.succeeded("a.test")
    assert runs.failures("a.test") == 0
    assert runs.failing() == []


def test_a_retry_is_due_after_the_backoff_asked_for() -> None:
    clock = Clock()
    runs = coalescer(clock)
    runs.failed("a.test")
    runs.retry("a.test", 30.0)
    assert runs.waiting_of("a.test") == Request("run1", 1_030.0, ["retry"])


def test_a_request_that_respects_backoff_leaves_a_failing_domain_to_its_retry() -> None:
    runs = coalescer(Clock())
    runs.failed("bad.test")
    runs.retry("bad.test", 600.0)
    runs.request(["good.test", "bad.test"], "periodic", respect_backoff=True)
    assert runs.waiting_of("bad.test") == Request("run1", 1_600.0, ["retry"])
    assert runs.start_due() == [Run("run2", ["good.test"], ["periodic"])]


def test_a_trigger_brings_a_retry_forward() -> None:
    runs = coalescer(Clock())
    runs.failed("bad.test")
    runs.retry("bad.test", 600.0)
    runs.request(["bad.test"], "api")
    assert runs.start_due() == [Run("run1", ["bad.test"], ["retry", "api"])]


def test_the_next_due_time_is_the_earliest_idle_domains() -> None:
    runs = coalescer(Clock())
    runs.request(["a.test"], "start")
    runs.start_due()
    runs.request(["a.test"], "trigger", delay=1.0)
    runs.request(["b.test"], "trigger", delay=9.0)
    assert runs.next_due() == 1_009.0  # a.test's run waits for its sync, not for the clock


def test_a_forgotten_domain_keeps_nothing() -> None:
    runs = coalescer(Clock())
    runs.request(["a.test"], "start")
    (run,) = runs.start_due()
    runs.request(["a.test"], "trigger")
    runs.failed("a.test")
    runs.forget("a.test")
    assert (runs.waiting(), runs.running(), runs.failing()) == ({}, {}, [])
    runs.finished("a.test", run.run_id)  # its sync ends later: nothing to undo
    assert runs.running() == {}


def test_run_ids_are_twelve_hex_digits_by_default() -> None:
    runs = Coalescer(Clock())
    run_id = runs.request(["a.test"], "start")
    assert len(run_id) == 12
    assert int(run_id, 16) >= 0
    assert runs.request(["b.test"], "start") != run_id
