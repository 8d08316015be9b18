"""Reading a child's output: records split on '\\r' and '\\n', read in batches.

rsync ends its progress records with '\\r', so output is read as bytes and split on both
'\\r' and '\\n' here (Python's text mode would hold each '\\r' record back until the next byte).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

RecordCallback = Callable[[bytes], None]

MAX_RECORD = 64 * 1024  # a line longer than this is passed on in pieces rather than held forever
READ_BATCH_DELAY = 0.02  # at most 50 reads a second per pipe; records are at most this much late


class RecordReader(asyncio.Protocol):
    """Reads one pipe, splits it into records on '\\r' and '\\n', hands each non-empty one on."""

    def __init__(self, deliver: RecordCallback | None, failed: Callable[[BaseException], None]) -> None:
        self._deliver = deliver
        self._failed = failed
        self._rest = b""
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.ReadTransport | None = None
        self._batching = True
        self.closed: asyncio.Future[None] = self._loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.ReadTransport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        # rclone -v writes one line per file, each on its own: reading every line as it comes costs
        # a wakeup each (a quarter of a core on 20,000 small files). Pausing briefly after a read
        # lets the pipe gather what follows (its buffer is enlarged to PIPE_SIZE) into the next read.
        if self._batching and self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()
            self._loop.call_later(READ_BATCH_DELAY, self._resume)
        if self._deliver is None:
            return
        *records, rest = (self._rest + data).replace(b"\r", b"\n").split(b"\n")
        while len(rest) > MAX_RECORD:
            records.append(rest[:MAX_RECORD])
            rest = rest[MAX_RECORD:]
        self._rest = rest
        self._hand_on(records)

    def _resume(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()  # does nothing when reading was not paused

    def drain(self) -> None:
        """The child has exited: read what is left at once, without batching."""
        self._batching = False
        self._resume()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._rest:
            self._hand_on([self._rest])
            self._rest = b""
        if not self.closed.done():
            self.closed.set_result(None)

    def _hand_on(self, records: list[bytes]) -> None:
        deliver = self._deliver
        try:
            for record in records:
                if record and deliver is not None:
                    deliver(record)
        except Exception as error:  # a broken callback must stop the child, not leave it unwatched
            self._deliver = None
            self._failed(error)
