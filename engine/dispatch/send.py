"""Sending a batch of rendered messages through one adapter: one after the other, or on a few
threads when the adapter says it is safe to (`Adapter.concurrent_sends` above 1).

An adapter raises `RetryableError` or `PermanentError`. Anything else it raises is a fault of
the adapter, not of the message: it counts as a retryable failure with the error in the
ledger, so one faulty send neither stops the batch nor loses the follow-up, and it is
dead-lettered once its attempts are used up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from guanxi.adapters.base import Adapter, AdapterError, Message, Receipt, RetryableError


class Unsent:
    """Not sent: the claim's lease was about to run out, so another dispatcher may take the
    follow-up over; it is left claimed and sent after the lease lapses, by whoever claims it."""


UNSENT = Unsent()
Result = Receipt | AdapterError | Unsent


def send_all(
    adapter: Adapter, messages: Sequence[Message], in_time: Callable[[], bool] = lambda: True
) -> Iterator[Result]:
    """The result of sending each of `messages`, in their order; a message whose turn comes
    when `in_time()` is false is not sent (UNSENT). Lazy: a caller that stops early leaves
    the rest unsent (on threads, those not started yet)."""
    workers = min(adapter.concurrent_sends, len(messages))
    if workers <= 1:
        yield from (_send(adapter, message, in_time) for message in messages)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix=f"guanxi-{adapter.name}")
    try:
        futures = [pool.submit(_send, adapter, message, in_time) for message in messages]
        yield from (future.result() for future in futures)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _send(adapter: Adapter, message: Message, in_time: Callable[[], bool]) -> Result:
    if not in_time():
        return UNSENT
    try:
        return adapter.send(message)
    except AdapterError as error:
        return error
    except Exception as error:  # a fault of the adapter: retried, never lost
        return RetryableError(f"{adapter.name}: {type(error).__name__}: {error}")
