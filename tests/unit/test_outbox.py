"""The SQLite outbox on its own: order, de-duplication, claims, the size cap, and durability across processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ls_langchain.delivery import Outbox
from ls_langchain.errors import OutboxFullError


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
    seqs = [outbox.append("t", f"r{i}", "x") for i in range(5)]
    assert outbox.count("t", up_to=seqs[2]) == 3


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
