"""The daemon: one tick plans what is new and dispatches what is due."""

from guanxi.engine.daemon.tick import HORIZON, TickReport, tick

__all__ = ["HORIZON", "TickReport", "tick"]
