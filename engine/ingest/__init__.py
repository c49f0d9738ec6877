"""Customers and events from files into the store, by floor:

values   one value of a field: text, numbers, true/false, dates; their limits
formats  files into numbered records: CSV, JSON Lines, Parquet
rows     records checked against the schema: the row to store, or its problems
kinds    a file of another kind (events given to load customers) refused whole
load     rows written and problems quarantined, a batch at a time
addresses  a phone or e-mail address the daemon would refuse, warned of at load
limit    --max-quarantine: a load past it is rolled back whole
quarantine  the quarantined records: listed, shown, cleared
screen   a snapshot's rows checked as load checks them, set-based (DuckDB, Spark)
"""

from guanxi.engine.ingest.load import (
    FileCheck,
    LoadReport,
    Progress,
    check_customer_file,
    load_consents,
    load_customers,
    load_events,
)
from guanxi.engine.ingest.rows import Problem, check_customer, check_event, check_event_record

__all__ = [
    "FileCheck",
    "LoadReport",
    "Problem",
    "Progress",
    "check_customer",
    "check_customer_file",
    "check_event",
    "check_event_record",
    "load_consents",
    "load_customers",
    "load_events",
]
