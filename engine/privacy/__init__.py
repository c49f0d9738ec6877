"""Keeping secrets and personal data out of what people and log collectors read.

secrets     credentials in URLs (`user:pass@`, `?token=…`) masked in error messages, the
            follow-ups' reasons and the deliveries ledger
personal    customer ids, names, phones, ID-card and bank-card numbers, e-mail addresses
            masked in log lines
"""
