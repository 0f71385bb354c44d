"""The latency proxy's delay line: each chunk leaves `delay` after it came, in order."""

from __future__ import annotations

from backupd.sandbox.latency import DelayLine


def test_a_chunk_is_held_until_its_delay_has_passed() -> None:
    line = DelayLine(0.002)
    line.push(10.0, b"request")
    assert line.due(10.001) == []
    assert line.next_due() == 10.002
    assert line.due(10.002) == [b"request"]
    assert line.next_due() is None


def test_chunks_leave_in_arrival_order_without_waiting_for_each_other() -> None:
    line = DelayLine(0.005)
    for i, at in enumerate((1.000, 1.001, 1.002)):
        line.push(at, b"%d" % i)
    line.push(1.003, None)  # end of stream, after the data
    # two chunks are due at once: throughput is not limited to one chunk per delay
    assert line.due(1.0061) == [b"0", b"1"]
    assert line.queued_bytes() == 1
    assert line.due(1.0081) == [b"2", None]
