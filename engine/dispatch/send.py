"""Sending a batch of rendered messages through one adapter: one after the other, or on a few
threads when the adapter says it is safe to (`Adapter.concurrent_sends` above 1).

Each message passes a `gate` right before it is handed to the adapter, in the caller's
thread (the gate may read the store, whose connection belongs to that thread): with threads,
a message is handed over only when a thread is free to send it at once, so what the gate
decided still holds when the send starts. A message the gate stops is not sent; the gate's
answer stands in for its result.

An adapter raises `RetryableError` or `PermanentError`. Anything else it raises is a fault of
the adapter, not of the message: it counts as a retryable failure with the error in the
ledger, so one faulty send neither stops the batch nor loses the follow-up, and it is
dead-lettered once its attempts are used up.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from guanxi.adapters.base import Adapter, AdapterError, Message, Receipt, RetryableError


class Unsent:
    """Not sent: the claim's lease was about to run out, so another dispatcher may take the
    follow-up over; it is left claimed and sent after the lease lapses, by whoever claims it."""


UNSENT = Unsent()
Result = Receipt | AdapterError
Stop = TypeVar("Stop")  # what a gate answers for a message it stops


def send_all(
    adapter: Adapter,
    messages: Sequence[Message],
    gate: Callable[[int], Stop | None] = lambda index: None,
) -> Iterator[Result | Stop]:
    """The result of sending each of `messages`, in their order; for the message at `index`
    that `gate(index)`, asked right before it would be sent, stops, the gate's answer instead.
    Lazy: a caller that stops early leaves the rest unsent (on threads, those not started)."""
    workers = min(adapter.concurrent_sends, len(messages))
    if workers <= 1:
        for index, message in enumerate(messages):
            stopped = gate(index)
            yield _send(adapter, message) if stopped is None else stopped
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix=f"guanxi-{adapter.name}")
    try:
        yield from _on_threads(pool, workers, adapter, messages, gate)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _on_threads(
    pool: ThreadPoolExecutor,
    workers: int,
    adapter: Adapter,
    messages: Sequence[Message],
    gate: Callable[[int], Stop | None],
) -> Iterator[Result | Stop]:
    """Hand each message over when one of `workers` threads is free, after its gate; the
    results in the messages' order, each as soon as it and those before it are known."""
    free = threading.Semaphore(workers)  # released by each send as it ends
    queued: deque[Future[Result] | Stop] = deque()
    for index, message in enumerate(messages):
        free.acquire()
        yield from _known(queued)
        stopped = gate(index)
        if stopped is None:
            future = pool.submit(_send, adapter, message)
            future.add_done_callback(lambda _done: free.release())
            queued.append(future)
        else:
            free.release()
            queued.append(stopped)
    yield from (item.result() if isinstance(item, Future) else item for item in queued)


def _known(queued: deque[Future[Result] | Stop]) -> Iterator[Result | Stop]:
    """Take from the head of `queued` what is known: gate answers and finished sends."""
    while queued and (not isinstance(queued[0], Future) or queued[0].done()):
        item = queued.popleft()
        yield item.result() if isinstance(item, Future) else item


def _send(adapter: Adapter, message: Message) -> Result:
    try:
        return adapter.send(message)
    except AdapterError as error:
        return error
    except Exception as error:  # a fault of the adapter: retried, never lost
        return RetryableError(f"{adapter.name}: {type(error).__name__}: {error}")
