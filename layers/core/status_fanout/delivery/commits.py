"""Group commit of a batch's outcomes: many workers' writes, few BatchWriteItems.

Each worker hands its delivery's outcome item to the batch's `GroupCommit`
and waits until it is durable before it takes its next job, so a crash still
re-sends only what was in flight. One flusher thread writes what the workers
handed over in BatchWriteItem calls of up to 25 items: as soon as 25 are
waiting, or every worker still busy is waiting on it, or a short window has
passed since the oldest arrived. A write DynamoDB keeps leaving unprocessed
fails its waiter, whose job then comes back with its claim released: never
acknowledged without its outcome stored.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from status_fanout.dynamo import Store, to_item
from status_fanout.observability import logger

BATCH_WRITE_ITEMS = 25  # DynamoDB's ceiling per BatchWriteItem
WINDOW_SECONDS = 0.02


class CommitFailed(Exception):
    """The outcome was not stored."""


@dataclass
class _Pending:
    item: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class GroupCommit:
    def __init__(self, db: Store, window: float = WINDOW_SECONDS) -> None:
        self.db = db
        self.window = window
        self._queue: list[_Pending] = []
        self._busy = 0  # workers with a job in hand (waiting on a commit included)
        self._closed = False
        self._ready = threading.Condition()
        self._flusher = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._flusher.start()

    def __enter__(self) -> GroupCommit:
        return self

    def __exit__(self, *exc: object) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        self._flusher.join()

    def working(self) -> _Working:
        """Mark a worker busy with a job for as long as the `with` lasts."""
        return _Working(self)

    def write(self, item: dict[str, Any]) -> None:
        """Store the item (plain values); returns once it is durable, or raises CommitFailed."""
        pending = _Pending(item)
        with self._ready:
            self._queue.append(pending)
            self._ready.notify_all()
        pending.done.wait()
        if pending.error is not None:
            raise CommitFailed(str(pending.error)) from pending.error

    def _busy_by(self, change: int) -> None:
        with self._ready:
            self._busy += change
            self._ready.notify_all()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return
                deadline = time.monotonic() + self.window
                while (len(self._queue) < BATCH_WRITE_ITEMS and len(self._queue) < self._busy
                       and not self._closed and (left := deadline - time.monotonic()) > 0):
                    self._ready.wait(left)
                batch, self._queue = self._queue[:BATCH_WRITE_ITEMS], self._queue[BATCH_WRITE_ITEMS:]
            self._flush(batch)

    def _flush(self, batch: list[_Pending]) -> None:
        try:
            unwritten = self.db.put_all([to_item(p.item) for p in batch])
        except Exception as exc:
            logger.exception("could not commit the batch's outcomes")
            for pending in batch:
                pending.error = exc
                pending.done.set()
            return
        left = {(i["pk"]["S"], i["sk"]["S"]) for i in unwritten}
        for pending in batch:
            if (pending.item["pk"], pending.item["sk"]) in left:
                pending.error = RuntimeError("DynamoDB left the write unprocessed")
            pending.done.set()


class _Working:
    def __init__(self, commits: GroupCommit) -> None:
        self.commits = commits

    def __enter__(self) -> None:
        self.commits._busy_by(1)

    def __exit__(self, *exc: object) -> None:
        self.commits._busy_by(-1)
