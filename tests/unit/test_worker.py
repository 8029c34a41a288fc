"""The delivery worker's policy against a fake exporter: splitting refused batches, holding what cannot go, honouring
Retry-After, settling a batch whose outcome is unknown, isolating a record that cannot be read, and routing each
record to the key that logged it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from ls_langchain.delivery import DeliveryWorker, Outbox, OutboxItem
from ls_langchain.delivery.worker import LONE_TIMEOUTS
from ls_langchain.errors import (
    AuthenticationError,
    RecordFormatError,
    RecordsHeldError,
    RequestRejectedError,
    StudioUnreachableError,
)
from ls_langchain.tasks import RunRecord

Rule = Callable[[Sequence[OutboxItem]], None]


class FakeExporter:
    """A test double for the project destination: stores what it is sent in memory, and fails on demand.

    ``rule`` runs before each import and may raise (a refusal, a timeout); ``lose_answer`` stores the batch and
    then raises a timeout, like a server that stored an import whose answer never arrived. ``stored`` holds one
    entry per task, so a record stored twice shows twice.
    """

    server = "fake-server"

    def __init__(self, route: str = "key-a", rule: Rule | None = None, target: str = "fake-project") -> None:
        self.target = target
        self.route = route
        self.rule = rule
        self.lose_answer = False
        self.imports: list[list[str]] = []
        self.stored: list[str] = []
        self.calls: list[float] = []

    def export(self, items: Sequence[OutboxItem]) -> int | None:
        self.calls.append(time.monotonic())
        reasons = {}
        for item in items:
            try:
                RunRecord.from_json(item.body)
            except RecordFormatError as exc:
                reasons[item.seq] = f"cannot read: {exc}"
        if reasons:
            raise RecordsHeldError("unreadable records", reasons)
        if self.rule is not None:
            self.rule(items)
        self.imports.append([item.record_id for item in items])
        self.stored.extend(item.record_id for item in items)
        if self.lose_answer:
            self.lose_answer = False
            raise StudioUnreachableError("the answer never came")
        return len(self.stored)

    def delivered(self, items: Sequence[OutboxItem], watermark: int | None) -> set[str]:
        """The records stored; like the real destination, it deletes every copy of them beyond the first."""
        asked = {item.record_id for item in items}
        kept = [
            i for i, record_id in enumerate(self.stored) if record_id not in asked or i == self.stored.index(record_id)
        ]
        self.stored[:] = [self.stored[i] for i in kept]
        return asked & set(self.stored)


def body(record_id: str) -> str:
    return RunRecord(id=record_id, responses=["ok"], prompt=f"prompt of {record_id}").to_json()


def make_worker(tmp_path: Path, exporter: FakeExporter, **settings: float) -> DeliveryWorker:
    settings.setdefault("flush_interval", 0.01)
    settings.setdefault("max_backoff", 0.01)
    return DeliveryWorker(Outbox(tmp_path), exporter, **settings)


def refuse(record_id: str) -> Rule:
    def rule(items: Sequence[OutboxItem]) -> None:
        if any(item.record_id == record_id for item in items):
            raise RequestRejectedError(f"refused: {record_id} has no input")

    return rule


def test_a_refused_record_is_found_by_halving_and_held_with_its_reason(tmp_path: Path) -> None:
    exporter = FakeExporter(rule=refuse("r5"))
    worker = make_worker(tmp_path, exporter, flush_at=8, retry_rejected_after=3600, flush_interval=3600)
    for index in range(8):
        worker.submit(f"r{index}", body(f"r{index}"))
    assert not worker.flush(timeout=5)  # returns as soon as only the held record is left
    assert sorted(exporter.stored) == sorted(f"r{i}" for i in range(8) if i != 5)
    # Halves, then quarters, down to the one record: never a batch with r5 accepted, never a record sent twice.
    assert exporter.imports == [["r0", "r1", "r2", "r3"], ["r4"], ["r6", "r7"]]
    [group] = worker.outbox.held_groups()
    assert (group.count, group.reason) == (1, "refused: r5 has no input")
    worker.close(0)


def test_a_held_record_is_tried_again_after_retry_rejected_after(tmp_path: Path) -> None:
    exporter = FakeExporter(rule=refuse("r1"))
    worker = make_worker(tmp_path, exporter, retry_rejected_after=0.2)
    for index in range(3):
        worker.submit(f"r{index}", body(f"r{index}"))
    assert not worker.flush(timeout=0.1)
    exporter.rule = None  # the project's config was fixed
    assert worker.flush(timeout=5)
    assert sorted(exporter.stored) == ["r0", "r1", "r2"]
    worker.close(0)


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    answers = [StudioUnreachableError("HTTP 429")]
    answers[0].retry_after = 0.5

    def rule(items: Sequence[OutboxItem]) -> None:
        if answers:
            raise answers.pop()

    exporter = FakeExporter(rule=rule)
    worker = make_worker(tmp_path, exporter)  # without Retry-After it would back off 10 ms at most
    worker.submit("r0", body("r0"))
    assert worker.flush(timeout=5)
    first, second = exporter.calls
    assert second - first >= 0.5
    worker.close(0)


def test_a_batch_whose_answer_was_lost_is_not_sent_again(tmp_path: Path) -> None:
    exporter = FakeExporter()
    exporter.lose_answer = True
    worker = make_worker(tmp_path, exporter, flush_at=10, flush_interval=3600)
    for index in range(10):
        worker.submit(f"r{index}", body(f"r{index}"))
    assert worker.flush(timeout=5)
    assert exporter.imports == [[f"r{i}" for i in range(10)]]  # settled by asking, not by sending again
    assert sorted(exporter.stored) == sorted(f"r{i}" for i in range(10))
    worker.close(0)


@pytest.mark.parametrize(
    "unreadable",
    [
        '{"v": 1, "run": {"responses": ["no id"]}}',
        "{not json",
        '{"v": "one", "run": {}}',
        '["a", "list"]',
        '{"id": "x", "responses": "not a list"}',
    ],
)
def test_a_record_that_cannot_be_read_is_held_while_the_rest_go_out(tmp_path: Path, unreadable: str) -> None:
    exporter = FakeExporter()
    worker = make_worker(tmp_path, exporter, flush_at=100)
    worker.submit("r0", body("r0"))
    worker.submit("broken", unreadable)
    worker.submit("r2", body("r2"))
    assert not worker.flush(timeout=5)
    assert exporter.stored == ["r0", "r2"]
    [group] = worker.outbox.held_groups()
    assert group.count == 1 and group.reason.startswith("cannot read: ")
    worker.close(0)


def test_a_record_of_another_version_with_an_unknown_field_is_delivered(tmp_path: Path) -> None:
    exporter = FakeExporter()
    worker = make_worker(tmp_path, exporter)
    worker.submit("newer", '{"v": 7, "run": {"id": "newer", "responses": ["ok"], "shiny": 1}}')
    worker.submit("older", '{"id": "older", "responses": ["ok"], "prompt": "p"}')
    assert worker.flush(timeout=5)
    assert exporter.stored == ["newer", "older"]
    worker.close(0)


def test_a_refused_key_holds_up_only_its_own_records(tmp_path: Path) -> None:
    def refuse_key(items: Sequence[OutboxItem]) -> None:
        raise AuthenticationError("Label Studio refused the API key (HTTP 401)")

    good = FakeExporter(route="good-key")
    bad = FakeExporter(route="bad-key", rule=refuse_key)
    worker = make_worker(tmp_path, good, flush_at=100, retry_rejected_after=3600)
    worker.add(bad)
    worker.add(good)
    for index in range(6):
        worker.submit(f"g{index}", body(f"g{index}"), route="good-key")
        worker.submit(f"b{index}", body(f"b{index}"), route="bad-key")
    assert worker.flush(timeout=5, route="good-key")
    assert good.stored == [f"g{i}" for i in range(6)] and bad.stored == []
    assert not worker.flush(timeout=5, route="bad-key")  # at once: held until retry_rejected_after
    [group] = worker.outbox.held_groups()
    assert group.count == 6 and "401" in group.reason
    worker.close(0)


def test_records_of_a_key_no_handler_uses_any_more_go_with_the_newest(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    outbox.append("fake-project", "left", body("left"), route="old-key")
    exporter = FakeExporter(route="new-key")
    worker = DeliveryWorker(outbox, exporter, flush_interval=0.01)
    assert worker.flush(timeout=5)
    assert exporter.stored == ["left"]
    worker.close(0)


def test_batches_are_capped_by_size(tmp_path: Path) -> None:
    exporter = FakeExporter()
    worker = make_worker(tmp_path, exporter, flush_at=100, max_batch_bytes=1000, flush_interval=3600)
    for index in range(10):
        worker.submit(f"r{index}", RunRecord(id=f"r{index}", responses=["x" * 300]).to_json())
    assert worker.flush(timeout=5)
    assert [len(batch) for batch in exporter.imports] == [2, 2, 2, 2, 2]
    worker.close(0)


def test_a_record_held_until_someone_acts_goes_out_after_release(tmp_path: Path) -> None:
    state = {"gone": True}

    def rule(items: Sequence[OutboxItem]) -> None:
        if state["gone"]:
            raise RecordsHeldError("project 7 was deleted")

    exporter = FakeExporter(rule=rule)
    worker = make_worker(tmp_path, exporter)
    worker.submit("r0", body("r0"))
    started = time.monotonic()
    assert not worker.flush(timeout=30)
    assert time.monotonic() - started < 10  # did not wait for the timeout: nothing would change
    state["gone"] = False
    assert worker.outbox.release_held("fake-project") == 1
    assert worker.flush(timeout=5)
    worker.close(0)


def test_a_refused_key_is_logged_once_however_often_it_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse_key(items: Sequence[OutboxItem]) -> None:
        raise AuthenticationError("Label Studio refused the API key (HTTP 401)")

    exporter = FakeExporter(rule=refuse_key)
    worker = make_worker(tmp_path, exporter, retry_rejected_after=0.05)
    for index in range(3):
        worker.submit(f"r{index}", body(f"r{index}"))
        assert not worker.flush(timeout=0.3)
    assert len(exporter.calls) > 3  # refused again and again
    assert len([r for r in caplog.records if r.name == "ls_langchain" and r.levelname == "ERROR"]) == 1
    worker.close(0)


def timed_out() -> StudioUnreachableError:
    error = StudioUnreachableError("no answer in time")
    error.timed_out = True
    return error


def test_an_import_still_being_stored_after_a_timeout_is_waited_for_not_sent_again(tmp_path: Path) -> None:
    exporter = FakeExporter()
    storing: list[threading.Timer] = []

    def slow_server(items: Sequence[OutboxItem]) -> None:
        if not storing:  # the first import: the server stores it after the client gave up waiting
            ids = [item.record_id for item in items]
            storing.append(threading.Timer(0.5, lambda: exporter.stored.extend(ids)))
            storing[0].start()
            raise timed_out()

    exporter.rule = slow_server
    worker = make_worker(tmp_path, exporter, flush_at=10)
    for index in range(10):
        worker.submit(f"r{index}", body(f"r{index}"))
    assert worker.flush(timeout=30)
    storing[0].join()  # the late import is in
    assert sorted(exporter.stored) == sorted(f"r{i}" for i in range(10))  # each once
    worker.close(0)


def test_a_batch_that_times_out_is_split(tmp_path: Path) -> None:
    def too_big(items: Sequence[OutboxItem]) -> None:
        if len(items) > 4:
            raise timed_out()

    exporter = FakeExporter(rule=too_big)
    worker = make_worker(tmp_path, exporter, flush_at=16, flush_interval=3600)
    for index in range(16):
        worker.submit(f"r{index}", body(f"r{index}"))
    assert worker.flush(timeout=30)
    assert [len(batch) for batch in exporter.imports] == [4, 4, 4, 4]
    assert sorted(exporter.stored) == sorted(f"r{i}" for i in range(16))
    worker.close(0)


def test_a_record_that_times_out_even_alone_is_held_with_its_reason_and_retry_releases_it(tmp_path: Path) -> None:
    alone: list[str] = []

    def too_slow(items: Sequence[OutboxItem]) -> None:
        if any(item.record_id == "slow" for item in items):
            alone.extend(item.record_id for item in items if len(items) == 1)
            raise timed_out()

    exporter = FakeExporter(rule=too_slow)
    worker = make_worker(tmp_path, exporter, flush_at=3, flush_interval=3600)
    for record_id in ("r0", "slow", "r2"):
        worker.submit(record_id, body(record_id))
    assert not worker.flush(timeout=120)  # returns once only the held record is left
    assert sorted(exporter.stored) == ["r0", "r2"]
    assert alone == ["slow"] * LONE_TIMEOUTS
    [group] = worker.outbox.held_groups()
    assert group.count == 1
    assert group.reason.startswith("no answer in time") and f"Sent alone {LONE_TIMEOUTS} times" in group.reason
    exporter.rule = None  # LS_LANGCHAIN_TIMEOUT raised, say; `ls-langchain outbox retry` releases it
    assert worker.outbox.release_held("fake-project") == 1
    assert worker.flush(timeout=30)
    assert sorted(exporter.stored) == ["r0", "r2", "slow"]
    worker.close(0)


def test_an_import_in_flight_is_still_waited_for_after_a_check_refused_an_expired_token(tmp_path: Path) -> None:
    exporter = FakeExporter()
    storing: list[threading.Timer] = []
    checks: list[str] = []

    def slow_server(items: Sequence[OutboxItem]) -> None:
        if not storing:  # the first import: stored after the client gave up waiting
            ids = [item.record_id for item in items]
            storing.append(threading.Timer(0.5, lambda: exporter.stored.extend(ids)))
            storing[0].start()
            raise timed_out()

    def delivered(items: Sequence[OutboxItem], watermark: int | None) -> set[str]:
        checks.append("check")
        if len(checks) == 1:  # the access token expired while the server was too slow to answer
            raise AuthenticationError("Label Studio refused the API key (HTTP 401)")
        return FakeExporter.delivered(exporter, items, watermark)

    exporter.rule = slow_server
    exporter.delivered = delivered  # type: ignore[method-assign]
    worker = make_worker(tmp_path, exporter, flush_at=10)
    for index in range(10):
        worker.submit(f"r{index}", body(f"r{index}"))
    assert worker.flush(timeout=30)
    storing[0].join()  # the late import is in
    assert sorted(exporter.stored) == sorted(f"r{i}" for i in range(10))  # each once
    worker.close(0)


def test_an_import_that_lands_after_its_records_were_sent_again_leaves_no_copy(tmp_path: Path) -> None:
    exporter = FakeExporter()
    late: list[str] = []
    landed: list[bool] = []

    def slower_than_the_wait(items: Sequence[OutboxItem]) -> None:
        if not late:  # the first import: no answer, and not stored by the time the worker decides it was lost
            late.extend(item.record_id for item in items)
            raise timed_out()
        if not landed:  # it lands just as its records are sent again
            exporter.stored.extend(late)
            landed.append(True)

    exporter.rule = slower_than_the_wait
    worker = make_worker(tmp_path, exporter, flush_at=10)
    for index in range(10):
        worker.submit(f"r{index}", body(f"r{index}"))
    assert worker.flush(timeout=30)
    assert landed
    assert sorted(exporter.stored) == sorted(f"r{i}" for i in range(10))  # the copies were deleted
    worker.close(0)
