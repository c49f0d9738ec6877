"""Credentials masked out of text that is stored or shown: error messages, the follow-ups'
`reason`, the deliveries ledger, logs.

A channel's URL often carries its credentials (`https://user:pass@host/…`, `?token=…`), and
an adapter's error message names the URL so people know which receiver failed. The message is
kept, the credentials are not: `https://user:***@host/send?token=***`.
"""

from __future__ import annotations

import re

MASK = "***"
# user:password@ (or a token alone as the user) after a scheme
USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#]+)@")
# a query or fragment parameter whose name says it holds a credential: token, key, secret,
# signature, password, auth … (access_token, api_key, X-Amz-Signature, client_secret)
CREDENTIAL = re.compile(
    r"(?P<name>[?&;#][^\s=&#;]*?"
    r"(?:token|key|secret|sig|signature|password|passwd|pwd|auth|credential|session)"
    r"[^\s=&#;]*=)(?P<value>[^\s&#;'\"]+)",
    re.IGNORECASE,
)


def mask_secrets(text: str) -> str:
    """`text` with the credentials of every URL in it masked; the rest unchanged."""
    if "@" not in text and "=" not in text:
        return text  # the common case: no URL credentials can be in it
    text = USERINFO.sub(_masked_userinfo, text)
    return CREDENTIAL.sub(lambda m: m["name"] + MASK, text)


def _masked_userinfo(match: re.Match[str]) -> str:
    user, colon, _ = match["userinfo"].partition(":")
    shown = f"{user}:{MASK}" if colon else MASK  # a user alone is often a token
    return f"{match['scheme']}{shown}@"
