"""Make the report page and its screenshot for the README (docs/report.png).

    python scripts/report_screenshot.py [--customers 2000] [--out docs/report.png]

Runs the demo (2,000 reproducible customers, classified, follow-ups planned), lets a month
pass in which some customers' deposits and contributions change, classifies again, writes
`guanxi report --html` and photographs it with headless Chromium (Debian's `chromium`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import tempfile
from pathlib import Path

from guanxi.engine.classify import classify
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.demo import run_demo
from guanxi.engine.plan.transitions import plan_transitions
from guanxi.engine.report import ReportRequest, build_report, render_html
from guanxi.engine.ruleset import load_ruleset
from guanxi.engine.store.sqlite import SQLiteStore

NOW = dt.datetime(2026, 11, 28, 1, 0, tzinfo=dt.UTC)
A_MONTH_LATER = NOW + dt.timedelta(days=30)

# A month passes: every fifth customer's deposits and contribution change by a factor from
# 0.6 to 2.2 (fixed by the customer's number, so the picture is the same every time).
DRIFT = """
UPDATE customers SET
  balance = balance * (0.6 + (CAST(substr(customer_id, 2) AS INTEGER) * 7919 % 97) / 60.0),
  annual_contribution = annual_contribution
    * (0.6 + (CAST(substr(customer_id, 2) AS INTEGER) * 104729 % 89) / 55.0)
WHERE CAST(substr(customer_id, 2) AS INTEGER) % 5 = 0
"""


def build_page(folder: Path, customers: int) -> Path:
    ruleset = load_ruleset(default_rules_path())
    run_demo(folder, ruleset, customers, seed=1, now=NOW)
    store = SQLiteStore(folder / "guanxi.db")
    try:
        store.execute(DRIFT)
        run = classify(store, ruleset, A_MONTH_LATER)
        plan_transitions(store, ruleset, run.run_id, A_MONTH_LATER)
        report = build_report(store, ruleset, ReportRequest())
    finally:
        store.close()
    page = folder / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    return page


def screenshot(page: Path, out: Path, width: int, height: int) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("needs Debian's chromium package: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={out.resolve()}",
                page.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("docs/report.png"))
    parser.add_argument("--html", type=Path, default=None, help="also keep the page here")
    parser.add_argument("--width", type=int, default=1100)
    parser.add_argument("--height", type=int, default=1900)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        page = build_page(Path(tmp) / "demo", args.customers)
        if args.html:
            shutil.copyfile(page, args.html)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        screenshot(page, args.out, args.width, args.height)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
