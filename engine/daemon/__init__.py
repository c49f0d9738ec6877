"""The daemon: one tick plans what is new and dispatches what is due; `Daemon` runs ticks,
the recurring steps and the nightly classification on their schedules."""

from guanxi.engine.daemon.tick import HORIZON, DispatchSettings, TickReport, plan_ahead, tick

__all__ = ["HORIZON", "DispatchSettings", "TickReport", "plan_ahead", "tick"]
