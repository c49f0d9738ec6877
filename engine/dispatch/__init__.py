"""Dispatch: claim due follow-ups under a lease, render and send them, keep every attempt."""

from guanxi.engine.dispatch.claim import claim
from guanxi.engine.dispatch.dispatch import Backoff, DispatchReport, dispatch_once, retry_dead

__all__ = ["Backoff", "DispatchReport", "claim", "dispatch_once", "retry_dead"]
