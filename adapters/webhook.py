"""HTTP POST of the message as JSON to an SMS gateway, app push service or CRM API.

The idempotency key travels in the `Idempotency-Key` header (and as `key` in the body), so a
receiver can de-duplicate a send that is retried after a lost answer. Connections are pooled by
one `httpx.Client` per adapter, which is safe to use from several threads: dispatch runs up to
`concurrent_sends` sends at once (at most `max_connections`).

    2xx                     delivered
    408, 429, 5xx           RetryableError (`retry_after` from a Retry-After header in seconds)
    other 3xx/4xx           PermanentError
    timeout, network error  RetryableError
    malformed URL/scheme    PermanentError
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from guanxi.adapters.base import Adapter, Message, PermanentError, Receipt, RetryableError

RETRYABLE_STATUS = frozenset({408, 429})
CONCURRENT_SENDS = 8  # enough to keep a receiver busy; a send is mostly waiting for it


class WebhookAdapter(Adapter):
    """POSTs each message to `url`; `timeout` in seconds bounds connect, read and write."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 20,
        transport: httpx.BaseTransport | None = None,
        address_fields: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(address_fields=address_fields)
        self.url = url
        self.concurrent_sends = min(CONCURRENT_SENDS, max_connections)
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._client = httpx.Client(
            timeout=timeout, headers=dict(headers or {}), limits=limits, transport=transport
        )

    def send(self, message: Message) -> Receipt:
        response = self._post(message)
        _raise_for_status(response)
        return Receipt(message.key, self.name, _external_id(response), str(response.status_code))

    def close(self) -> None:
        self._client.close()

    def _post(self, message: Message) -> httpx.Response:
        headers = {"Idempotency-Key": message.key}
        try:
            return self._client.post(self.url, json=message.as_json(), headers=headers)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
            raise PermanentError(f"webhook {self.url}: {error}") from error
        except httpx.TimeoutException as error:
            raise RetryableError(f"webhook {self.url}: timed out ({error})") from error
        except httpx.TransportError as error:
            raise RetryableError(f"webhook {self.url}: {error}") from error


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    message = f"webhook {response.request.url}: HTTP {status} {response.reason_phrase}"
    if status >= 500 or status in RETRYABLE_STATUS:
        raise RetryableError(message, _retry_after(response))
    raise PermanentError(message)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _external_id(response: httpx.Response) -> str | None:
    """The receiver's id for the delivery: `id` in a JSON answer, else a Location header."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("id") is not None:
        return str(body["id"])
    location = response.headers.get("Location")
    return str(location) if location is not None else None
