"""Rule releases: a rule change goes live only when a second person approves it (四眼原则).

    files.py     a rule project's files as a release keeps them (JSON in the store), written
                 back out to a folder, and diffed
    ledger.py    the `releases` table: propose, approve (not by the proposer), reject, roll
                 back; each step written to the audit log
    proposal.py  the checks a proposal must pass (validation and scenarios, run on the files
                 the release keeps) and the simulate summary against the live release
    impact.py    how much a release moves, read from that summary, and whether approving it
                 takes an explicit confirmation
    live.py      the live release's rules, as a daemon in `rules: {mode: releases}` runs them

Nothing is imported here: the daemon uses ledger and live, which must not pull in simulate.
"""
