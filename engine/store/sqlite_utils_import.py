"""sqlite-utils, imported without pandas.

sqlite_utils.db imports pandas whenever it is installed (statsmodels brings it), only to map a
pandas Timestamp to a TEXT column when it creates a table from Python values. guanxi never
writes a pandas value, and that import costs about 0.15 s of every command that opens a
store (a third of `guanxi classify`'s imports). So, unless pandas is already imported, it is
hidden while sqlite_utils loads: sqlite_utils then takes it as not installed. Anything
importing pandas afterwards gets it as usual.
"""

from __future__ import annotations

import sys

if "pandas" in sys.modules or "sqlite_utils.db" in sys.modules:
    import sqlite_utils
else:
    sys.modules["pandas"] = None  # type: ignore[assignment]  # `import pandas` fails
    try:
        import sqlite_utils
    finally:
        del sys.modules["pandas"]

__all__ = ["sqlite_utils"]
