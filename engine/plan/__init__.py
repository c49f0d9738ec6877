"""Planning: playbook steps become dated follow-ups, exactly once each.

followups.py   the follow-up row, idempotency keys, inserting with ON CONFLICT DO NOTHING
events.py      event steps (`on:`): one event and the customer's profile at a time
recurring.py   recurring steps (`every:`): set-based INSERT … SELECT for all customers
transitions.py tier and level changes (`on_enter:` / `on_leave:`), set-based
policy.py      contact policy over a planned batch: consent, caps, quiet hours, capacity
"""
