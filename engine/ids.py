"""Ids as they are stored and looked up.

A Chinese keyboard in full-width mode types `ＣＵＳＴ００１` for `CUST001`; kept as typed, it
would be a second customer, whose events and follow-ups escape the first one's contact caps.
So every id that enters guanxi (a file's key, an event's, an id given on the command line) is
read in Unicode NFKC, as full-width digits are read as numbers: full-width letters, digits
and punctuation as their ASCII twins, an ideographic space as a space; then spaces around it
are removed.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from guanxi.engine.store.dialect import quoted_name

if TYPE_CHECKING:
    from guanxi.engine.store.base import Store


def same_id(text: str) -> str:
    """`text` as the id it stands for: NFKC, spaces around it removed."""
    return unicodedata.normalize("NFKC", text).strip()


def without_spaces(text: str) -> str:
    """`text` as the id it may stand for, with no space anywhere (`C 0001` for `C0001`)."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def stored_near(store: Store, key: str, customer_id: str) -> list[str]:
    """The stored customers' ids (`key` of the customers table) that are `customer_id` but
    for its spaces or letter case, at most three. Read on a mistake only: a letter case
    ignored reads every id."""
    column = f"CAST({quoted_name(key)} AS TEXT)"
    rows = store.execute(
        f"SELECT {column} AS id FROM customers WHERE {column} = :bare"
        f" OR lower({column}) = lower(:id) ORDER BY 1 LIMIT 4",
        {"id": customer_id, "bare": without_spaces(customer_id)},
    )
    return [str(row["id"]) for row in rows if row["id"] != customer_id][:3]


def is_stored(store: Store, key: str, customer_id: str) -> bool:
    """Whether a customer has this id (`key` of the customers table): one look-up of its
    index."""
    sql = f"SELECT 1 AS found FROM customers WHERE {quoted_name(key)} = :id"
    return bool(store.execute(sql, {"id": customer_id}))


def near_hint(store: Store, key: str, customer_id: str) -> str:
    """'; did you mean C0001?' when a stored id is `customer_id` but for its spaces or letter
    case (`stored_near`), else ''."""
    from guanxi.engine.i18n import _

    near = stored_near(store, key, customer_id)
    return f"; {_('did you mean {values}?').format(values=_(' or ').join(near))}" if near else ""
