"""The SQLite outbox on its own: order, de-duplication, claims, the size cap, and durability across processes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ls_langchain.delivery import Outbox
from ls_langchain.errors import ConfigurationError, OutboxFullError


def test_records_come_out_in_the_order_they_went_in(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    for index in range(10):
        outbox.append("t", f"r{index}", f"body{index}")
    first = outbox.claim("t", 4)
    second = outbox.claim("t", 100)
    assert [item.record_id for item in first + second] == [f"r{i}" for i in range(10)]
    assert outbox.claim("t", 100) == []


def test_claims_are_released_or_completed(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    outbox.register("t", "{}")
    for index in range(3):
        outbox.append("t", f"r{index}", "x")
    items = outbox.claim("t", 3)
    assert [i.record_id for i in outbox.claimed("t")] == ["r0", "r1", "r2"]
    outbox.release(items[1:])
    outbox.complete("t", items[:1], watermark=41)
    assert outbox.count("t") == 2 and outbox.claimed("t") == []
    assert outbox.watermark("t") == 41
    [status] = outbox.status()
    assert (status.pending, status.delivered) == (2, 1)


def test_count_up_to_a_sequence_number(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    for index in range(3):
        outbox.append("t", f"r{index}", "x")
    third = outbox.last_seq("t")
    for index in range(3, 5):
        outbox.append("t", f"r{index}", "x")
    assert outbox.count("t", up_to=third) == 3


def test_size_cap_refuses_new_records_clearly(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, max_records=3)
    for index in range(3):
        outbox.append("t", f"r{index}", "x")
    with pytest.raises(OutboxFullError, match="holds 3 undelivered records"):
        outbox.append("t", "r3", "x")
    outbox.complete("t", outbox.claim("t", 1), None)
    outbox.append("t", "r3", "x")


def test_an_appended_record_survives_kill_9(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from ls_langchain.delivery import Outbox
        outbox = Outbox({str(tmp_path)!r})
        for i in range(200):
            outbox.append("t", f"r{{i}}", "x" * 100)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], check=False)
    assert result.returncode == -signal.SIGKILL
    assert Outbox(tmp_path).count("t") == 200


def test_a_forked_child_uses_its_own_connection(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    outbox.append("t", "parent-1", "x")
    pid = os.fork()
    if pid == 0:  # the child writes through the same object, then leaves without cleanup
        try:
            outbox.append("t", "child", "x")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    outbox.append("t", "parent-2", "x")
    assert sorted(i.record_id for i in outbox.claim("t", 10)) == ["child", "parent-1", "parent-2"]


def test_an_outbox_of_the_first_version_is_brought_up_to_date(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "outbox.sqlite3")
    old.executescript(
        """
        CREATE TABLE records (seq INTEGER PRIMARY KEY, target TEXT NOT NULL, record_id TEXT NOT NULL,
            body TEXT NOT NULL, created REAL NOT NULL, claimed INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE targets (target TEXT PRIMARY KEY, spec TEXT NOT NULL, watermark INTEGER,
            delivered INTEGER NOT NULL DEFAULT 0, dropped INTEGER NOT NULL DEFAULT 0, last_error TEXT,
            last_error_at REAL);
        INSERT INTO records (target, record_id, body, created) VALUES ('t', 'old', '{}', 0);
        """
    )
    old.commit()
    old.close()
    outbox = Outbox(tmp_path)
    outbox.append("t", "new", "{}", route="k")
    assert [(i.record_id, i.route) for i in outbox.claim("t", 10)] == [("old", ""), ("new", "k")]


def test_held_records_are_listed_per_reason_then_retried_dropped_or_moved(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    outbox.register("t", "{}")
    for index in range(5):
        outbox.append("t", f"r{index}", "x")
    items = outbox.claim("t", 5)
    outbox.hold(items[:2], "unreadable")
    outbox.hold(items[2:3], "refused", retry_after=3600)
    outbox.release(items[3:])
    assert [(g.reason, g.count) for g in outbox.held_groups()] == [("unreadable", 2), ("refused", 1)]
    [status] = outbox.status()
    assert (status.pending, status.held) == (5, 3)
    assert outbox.release_due("t") == 0  # not due yet
    assert outbox.drop_held("t") == 3
    assert outbox.drops("t") == {"dropped by hand: unreadable": 2, "dropped by hand: refused": 1}
    assert outbox.move("t", "u", "{}") == 2
    assert [i.record_id for i in outbox.claim("u", 10)] == ["r3", "r4"]


def test_a_locked_outbox_keeps_runs_in_memory_and_writes_them_later(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    other = sqlite3.connect(tmp_path / "outbox.sqlite3", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    started = time.perf_counter()
    for index in range(100):
        outbox.append("t", f"r{index}", "x")
    waited = time.perf_counter() - started
    assert outbox.buffered == 100
    assert waited < 5  # not 100 x SQLite's busy timeout; the bench measures the real cost
    other.execute("COMMIT")
    assert outbox.flush_buffer() == 0
    assert [i.record_id for i in outbox.claim("t", 1000)] == [f"r{i}" for i in range(100)]


def test_runs_dropped_while_the_outbox_stays_locked_are_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ls_langchain.delivery.outbox._BUFFER_LIMIT", 3)
    outbox = Outbox(tmp_path)
    outbox.register("t", "{}")
    other = sqlite3.connect(tmp_path / "outbox.sqlite3", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    for index in range(5):
        outbox.append("t", f"r{index}", "x")
    other.execute("COMMIT")
    outbox.flush_buffer()
    assert outbox.count("t") == 3
    assert outbox.drops("t") == {"the outbox file stayed locked by another process": 2}


def test_a_lone_surrogate_is_stored_as_a_replacement_character(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    outbox.append("t", "r0", '{"prompt": "a\ud800b"}')
    outbox.append("t", "r1", "fine")
    assert [i.body for i in outbox.claim("t", 10)] == ['{"prompt": "a\ufffdb"}', "fine"]


def test_an_outbox_dir_that_is_a_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "a-file"
    path.write_text("")
    with pytest.raises(ConfigurationError, match=f"The outbox folder {path} cannot be used"):
        Outbox(path)


def test_a_damaged_outbox_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "outbox.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigurationError, match=r"cannot be read .* move the file away"):
        Outbox(tmp_path)


def test_opening_without_create_never_makes_a_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Outbox(tmp_path / "missing", create=False)
    assert not (tmp_path / "missing").exists()


def test_an_outbox_made_by_the_library_is_private(tmp_path: Path) -> None:
    """Every local user could read every prompt and answer logged: the folder was 0755, the files 0644."""
    old_umask = os.umask(0o022)  # the usual one, under which the files came out world-readable
    try:
        outbox = Outbox(tmp_path / "made" / "outbox")
        outbox.append("t", "r1", "a prompt and its answer")
    finally:
        os.umask(old_umask)
    folder = tmp_path / "made" / "outbox"
    assert folder.stat().st_mode & 0o777 == 0o700
    files = sorted(folder.iterdir())
    assert {path.name for path in files} >= {"outbox.sqlite3", "outbox.sqlite3-wal", "outbox.sqlite3-shm"}
    assert {path.name: path.stat().st_mode & 0o777 for path in files} == {path.name: 0o600 for path in files}
