"""Errors raised by the guanxi engine.

    GuanxiError                     base of everything a user can cause
    ├── RuleSetInvalid              a rule project failed validation; carries the diagnostics
    ├── ConditionError              one condition expression is malformed or unsafe
    ├── DataError                   input data (customers, events) cannot be read at all
    │   └── TooManyQuarantined      a load quarantined more rows than --max-quarantine allows
    ├── ReportError                 a report asked for what the store does not have
    ├── UnknownFollowup             a command named a follow-up the store does not have
    ├── StoreError                  the store cannot be reached (a PostgreSQL server down, a
                                    wrong URL)
    ├── EngineUnavailable           an optional engine (Spark) is not installed or cannot start
    ├── SimulationError             a simulation cannot run: no store to copy, a bad period
    ├── ReleaseError                a rule release cannot be proposed, approved or rolled back
    └── DeliveryError               an adapter of guanxi.yaml's `delivery:` cannot be set up

A user's mistake is always one of these and is printed as a message, never as a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guanxi.engine.diagnostics import Diagnostic


class GuanxiError(Exception):
    """Base class of every error a user can cause."""


class RuleSetInvalid(GuanxiError):
    """The rule project has at least one error; `diagnostics` lists all of them."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        errors = sum(1 for d in diagnostics if d.severity == "error")
        super().__init__(f"the rule project has {errors} error(s)")


class ConditionError(GuanxiError):
    """A condition expression is invalid: `code`, `message`, 0-based `offset` and `length`."""

    def __init__(
        self, code: str, message: str, offset: int = 0, length: int = 1, hint: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.offset = offset
        self.length = max(length, 1)
        self.hint = hint


class DataError(GuanxiError):
    """An input file cannot be read at all."""


class UnknownFollowup(GuanxiError):
    """No follow-up has the id a command was given."""


class TooManyQuarantined(DataError):
    """A load quarantined more rows than its limit allows: it was rolled back whole. `report`
    is the LoadReport of what it would have done."""

    def __init__(self, message: str, report: object) -> None:
        super().__init__(message)
        self.report = report


class ReportError(GuanxiError):
    """A report was asked for a run or a field the store or the schema does not have."""


class StoreError(GuanxiError):
    """The store named by `store:` or --store cannot be reached or opened."""


class EngineUnavailable(GuanxiError):
    """An optional engine is not installed, or cannot start; the message says what to do."""


class SimulationError(GuanxiError):
    """A simulation cannot run as asked: no store to copy, a period that is not one."""


class ReleaseError(GuanxiError):
    """A rule release cannot be proposed, approved, rejected or rolled back (see
    engine/releases): the same person approving, a release no longer current, none live."""


class DeliveryError(GuanxiError):
    """An adapter of guanxi.yaml's `delivery:` cannot be set up."""
