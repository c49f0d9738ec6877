"""How a command ends when the machine fails under it rather than the user: a full disk, a
store that cannot be used just then, or Ctrl-C in the middle of a long command.

SQLite says "database or disk is full", PostgreSQL raises DiskFull, a file write fails with
ENOSPC (or EDQUOT, a quota used up). Whichever command meets one, and wherever it was wrapped
on the way up, the user reads one line saying so and what to do, and the command exits 1.

The store writes in transactions, and one that fails is rolled back whole: nothing is ever
half-written there. Commands that write in several transactions (loading a large file) keep
the ones that finished, and running them again carries on where they stopped. Ctrl-C says
just that and exits 130, as a shell reports a command ended by SIGINT.
"""

from __future__ import annotations

import errno
import sqlite3
import sys
from collections.abc import Callable
from typing import Any

import click

from guanxi.cli.lang import LocalizedGroup
from guanxi.cli.lazy import LazyGroup
from guanxi.engine.i18n import _

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
SIZE_ERRNOS = (errno.EFBIG,)  # past the file-size limit (ulimit -f)
INTERRUPTED = 130  # 128 + SIGINT
READ_ONLY = sqlite3.SQLITE_READONLY  # the primary code of every SQLITE_READONLY_*


class GuanxiGroup(LocalizedGroup, LazyGroup):
    """The `guanxi` command group, in the chosen language (see `guanxi.cli.lang`), its
    commands imported on first use (see `guanxi.cli.lazy`): a full disk ends any command with
    one clear line, and an error message shows control characters as escapes (see
    `guanxi.cli.output`)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as error:  # its message may quote data: shown, not obeyed
            from guanxi.cli.output import printable  # here: rich is slow to import

            error.message = printable(error.message) + _dash_hint(error)
            raise
        except KeyboardInterrupt:
            click.echo(interrupted_message(), err=True)
            raise click.exceptions.Exit(INTERRUPTED) from None
        except Exception as error:
            full = disk_full(error)
            if full is not None:
                raise click.ClickException(disk_full_message(full)) from None
            no_room = out_of_room(error)
            if no_room is not None:
                raise click.ClickException(out_of_room_message(no_room)) from None
            if store_read_only(error) is not None:
                raise click.ClickException(read_only_message()) from None
            unavailable = store_unavailable(error)
            if unavailable is None:
                raise
            raise click.ClickException(store_unavailable_message(unavailable)) from None


def _dash_hint(error: click.ClickException) -> str:
    """How to give a value that begins with a dash (the customer id `-A01`), which click reads
    as an unknown option, to a command that takes one."""
    if not isinstance(error, click.NoSuchOption) or error.option_name.startswith("--"):
        return ""
    context = error.ctx
    if context is None or not any(isinstance(p, click.Argument) for p in context.command.params):
        return ""
    hint = _(
        "A value that begins with a dash (such as the id -A01) goes after --:"
        " {command} [OPTIONS] -- -A01"
    )
    return " " + hint.format(command=context.command_path)


def said_here(error: BaseException) -> bool:
    """Whether the group words this failure itself (a full disk, no room, a read-only store),
    so a command that wraps the store's errors in its own words lets it through."""
    return any(found(error) is not None for found in (disk_full, out_of_room, store_read_only))


def disk_full(error: BaseException) -> BaseException | None:
    """The error, or one it was raised from or while handling, that says the disk is full."""
    return _in_chain(error, _says_disk_full)


def out_of_room(error: BaseException) -> BaseException | None:
    """The error in the chain that says a write found no room, though not that the disk is
    full: a file past the size limit (`ulimit -f`: EFBIG), or SQLite's failed write, which is
    how it reports that limit."""
    return _in_chain(error, _says_out_of_room)


def _says_out_of_room(error: BaseException) -> bool:
    if isinstance(error, OSError):
        return error.errno in SIZE_ERRNOS
    return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_IOERR_WRITE


def out_of_room_message(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename:
        return _(
            "could not write '{file}' (写入失败): it reached the largest file this system allows"
            " (ulimit -f) or the disk is full; make room and run the command again; that file"
            " is incomplete"
        ).format(file=error.filename)
    if isinstance(error, OSError):
        return _(
            "could not write (写入失败): a file reached the largest size this system allows"
            " (ulimit -f) or the disk is full; make room and run the command again; a file it"
            " was writing may be incomplete"
        )
    return _(
        "could not write (写入失败): a file reached the largest size this system allows"
        " (ulimit -f), or the disk is full or failing. The store's unfinished write was rolled"
        " back; make room and run the command again"
    )


def store_unavailable(error: BaseException) -> BaseException | None:
    """The error in the chain that says the store could not be used just then: SQLite busy
    or locked, a PostgreSQL server gone or refusing. Not a mistake in a statement (that is a
    defect, and its traceback is what a bug report needs)."""
    return _in_chain(error, _unavailable)


def _unavailable(error: BaseException) -> bool:
    psycopg = _psycopg()
    if psycopg is not None and isinstance(error, psycopg.OperationalError):
        return True
    return isinstance(error, sqlite3.OperationalError)


def _psycopg() -> Any:
    """psycopg if a store imported it: an error cannot come from a driver never loaded, and
    importing it here would slow every command's start."""
    return sys.modules.get("psycopg")


def store_read_only(error: BaseException) -> BaseException | None:
    """The SQLite error in the chain that says its file (or folder) may not be written: no
    wait makes it writable, so it is not said to be unavailable."""
    return _in_chain(error, _says_read_only)


def _says_read_only(error: BaseException) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(error, sqlite3.Error) and code is not None and code & 0xFF == READ_ONLY


def read_only_message() -> str:
    return _(
        "the store is read-only (数据库只读), so nothing was written: make its file and its"
        " folder writable for this user (a copy from a share or a backup often is not), or"
        " name another store with --store"
    )


def store_unavailable_message(error: BaseException) -> str:
    detail = " ".join(str(error).split())[:300]
    return _(
        "the store could not be used (数据库暂不可用): {detail}. Its unfinished write was"
        " rolled back; run the command again when the store answers"
    ).format(detail=detail)


def _in_chain(error: BaseException, test: Callable[[BaseException], bool]) -> BaseException | None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if test(current):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def interrupted_message() -> str:
    return _(
        "interrupted (已中断): the store keeps what it had finished writing and rolled back"
        " its unfinished write; a file being written may be incomplete. Run the command again"
        " to carry on"
    )


def disk_full_message(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename:
        return _(
            "the disk is full (磁盘已满) writing '{file}': free some space and run the command"
            " again; that file is incomplete"
        ).format(file=error.filename)
    if isinstance(error, OSError):
        return _(
            "the disk is full (磁盘已满): free some space and run the command again; a file it"
            " was writing may be incomplete"
        )
    return _(
        "the disk is full (磁盘已满): free some space and run the command again. The store's"
        " unfinished write was rolled back, so nothing was half-written"
    )


def _says_disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError):
        return error.errno in FULL_ERRNOS
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        return code == sqlite3.SQLITE_FULL or "database or disk is full" in str(error)
    psycopg = _psycopg()
    return psycopg is not None and isinstance(error, psycopg.errors.DiskFull)
