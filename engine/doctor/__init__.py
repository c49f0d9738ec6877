"""`guanxi doctor`: is everything a deployment needs there and answering?

run      every check, in order
checks   one function per thing checked: the store, the rule project, the time zone, Java,
         Chromium; each returns Checks with ok, warn or fail and a line saying why
ids      ids the store keeps under several spellings (ＣＵＳＴ００１ and CUST001): customers,
         relationship managers, corporate groups, branches with an overlay
targets  the delivery adapters of guanxi.yaml and whether their servers answer (SMTP host,
         webhook URL, AMQP broker), with a short timeout
"""

from guanxi.engine.doctor.checks import Check
from guanxi.engine.doctor.run import run_checks

__all__ = ["Check", "run_checks"]
