"""Natural batching of database work: whatever callers ask for while one batch is at the database goes in the
next batch. Under light load a call waits for nobody; under heavy load one statement serves many calls, so the
round trip and the driver's fixed cost are paid per batch instead of per call."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from .telemetry import spans

T = TypeVar("T")
R = TypeVar("R")
# Told of each batch: its items, how long its oldest call waited for it to start, how long processing took (s).
BatchObserver = Callable[[int, float, float], None]


class Coalescer(Generic[T, R]):
    """Runs ``process`` on batches of submitted items (at most ``max_batch`` each, one batch at a time) and hands
    each caller the results for its own items. ``process`` returns one result per item, in order.

    ``linger``: when items kept arriving while a batch was being processed, wait this many seconds before taking
    the next batch, so that more join it, unless a whole batch is already waiting. A batch that starts from idle
    never waits, so light load pays nothing (like PostgreSQL's commit_delay, which applies only while other
    transactions are active).

    ``traced_as``: with tracing on, each call's wait and each batch are spans named after it (``<name>.wait``,
    ``<name>.batch``; telemetry/spans.py says how they connect). Without a name a batch's work still goes in
    the trace of the call its first item came from.

    ``on_batch`` (the metrics) is told of every batch processed, failed ones included."""

    def __init__(
        self,
        process: Callable[[list[T]], Awaitable[list[R]]],
        *,
        max_batch: int,
        linger: float = 0.0,
        traced_as: str | None = None,
        on_batch: BatchObserver | None = None,
    ) -> None:
        self._process = process
        self._max_batch = max_batch
        self._linger = linger
        self._traced_as = traced_as
        self._on_batch = on_batch
        # Each submission: its items, its caller's future, its trace (if any), when it arrived (time.monotonic()).
        self._pending: list[tuple[Sequence[T], asyncio.Future[list[R]], spans.Joined | None, float]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, items: Sequence[T]) -> list[R]:
        """The results for ``items``, once the batch they joined is done (or what ``process`` raised)."""
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        joined = spans.join(self._traced_as)
        self._pending.append((items, future, joined, time.monotonic()))
        if self._runner is None:
            # A context of its own: the batch serves many calls, so its log lines and spans must not carry the
            # trace, method and principal of the call that happened to start it (its span is joined to the calls'
            # explicitly).
            self._runner = asyncio.create_task(self._run(), name="coalescer", context=contextvars.Context())
        with spans.waiting(joined):
            return await future

    async def drain(self) -> None:
        """Wait until everything submitted so far is processed."""
        if self._runner is not None:
            await self._runner

    def _full(self) -> bool:
        """Whether a whole batch is already waiting (then lingering would only delay it)."""
        return sum(len(items) for items, *_ in self._pending) >= self._max_batch

    def _take(self) -> list[tuple[Sequence[T], asyncio.Future[list[R]], spans.Joined | None, float]]:
        taken, size = 0, 0
        for items, *_ in self._pending:
            if taken and size + len(items) > self._max_batch:
                break
            taken, size = taken + 1, size + len(items)
        batch, self._pending = self._pending[:taken], self._pending[taken:]
        return batch

    async def _run(self) -> None:
        try:
            following = False  # this runner started from idle: its first batch goes at once
            while self._pending:
                lingered = 0.0
                if following and self._linger > 0 and not self._full():
                    lingering = time.monotonic()
                    await asyncio.sleep(self._linger)
                    lingered = time.monotonic() - lingering
                following = True
                batch = self._take()
                taken = [item for items, *_ in batch for item in items]
                started = time.monotonic()
                try:
                    with spans.batch(self._traced_as, [joined for _, _, joined, _ in batch], len(taken), lingered):
                        results = await self._process(taken)
                except Exception as error:  # every caller of this batch gets the error; later batches go on
                    for _, future, *_ in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                finally:
                    if self._on_batch is not None:
                        self._on_batch(len(taken), started - batch[0][3], time.monotonic() - started)
                start = 0
                for items, future, *_ in batch:
                    if not future.done():
                        future.set_result(results[start : start + len(items)])
                    start += len(items)
        finally:
            self._runner = None
