"""The Fake Store source: one interface, and its HTTP client.

`FakeStoreClient` talks to anything with the routes of https://fakestoreapi.com (the real
service, a shop's compatible service, or `fakestore_server`). `LocalFakeStore` in
`fakestore_local` reads the synthetic shop from the landing directory instead. Both hand
back records as delivered, with passwords removed at the edge: validation is the
caller's job, secrets are never anyone's.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Protocol
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

import requests
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError

from ecommerce_assets.contracts import without_secrets
from ecommerce_assets.json_text import REPEATED_KEYS, decode_json  # noqa: F401 - part of the sources' interface


@dataclass(frozen=True)
class Fetched:
    """Decoded JSON items as delivered (not validated), and the URL or file they came from."""

    source: str
    records: list[Any]


class FakeStoreError(RuntimeError):
    """The Fake Store could not deliver: `status` is the last HTTP status, None for a network error."""

    def __init__(self, message: str, *, url: str, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.attempts = attempts


class FakeStoreSource(Protocol):
    def products(self) -> Fetched: ...

    def users(self) -> Fetched: ...

    def carts(self, start: date, end: date) -> Fetched:
        """The carts dated in the half-open window [start, end)."""
        ...

    def product(self, id: int) -> dict | None: ...

    def user(self, id: int) -> dict | None: ...

    def cart(self, id: int) -> dict | None: ...

    def close(self) -> None:
        """Release connections (the HTTP session); the source is not used after."""
        ...


def retry_after_seconds(value: str | None) -> float | None:
    """A `Retry-After` header (seconds or an HTTP date) as seconds from now, None if absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def is_retryable(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


def body_message(response: requests.Response, limit: int = 200) -> str:
    """The error message a server put in its body, else the start of the body (secrets removed)."""
    try:
        body = without_secrets(decode_json(response.content))
    except ValueError:
        return response.text[:limit].strip()
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            if body.get(key):
                return str(body[key])[:limit]
    return json.dumps(body)[:limit]


def split_credentials(base_url: str) -> tuple[str, tuple[str, str] | None]:
    """The base URL without its `user:password@`, and those credentials (None when it has none).

    The client sends them as HTTP basic auth, so the URLs it records (each record's source,
    error messages) never carry them.
    """
    parts = urlsplit(base_url)
    if parts.username is None and parts.password is None:
        return base_url, None
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host)), (unquote(parts.username or ""), unquote(parts.password or ""))


class TotalTimeout(requests.Timeout):
    """A response not whole within the total timeout, though no single read waited past the read timeout."""


# Transport failures worth another attempt; anything else from requests is a bug or a bad URL.
RETRYABLE_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
BODY_PIECE = 64 * 1024


class FakeStoreClient:
    """`FakeStoreSource` over HTTP, with bounded retries on 429, 5xx and network errors."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 30.0,
        total_timeout: float = 120.0,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        base_url, credentials = split_credentials(base_url)
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        # The read timeout bounds each wait for bytes: a server sending a byte now and then
        # would hold an attempt forever without this bound on the whole body.
        self.total_timeout = total_timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._owns_session = session is None
        self._session = session or requests.Session()
        if credentials:
            self._session.auth = credentials
        self._sleep = sleep
        self._random = random.Random()

    def __enter__(self) -> FakeStoreClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    # --- FakeStoreSource --------------------------------------------------------------

    def products(self) -> Fetched:
        return self._list("/products")

    def users(self) -> Fetched:
        fetched = self._list("/users")
        return Fetched(fetched.source, without_secrets(fetched.records))

    def carts(self, start: date, end: date) -> Fetched:
        if end < start:
            raise ValueError(f"empty window: end {end} is before start {start}")
        return self._list("/carts", {"startdate": start.isoformat(), "enddate": end.isoformat()})

    def product(self, id: int) -> dict | None:
        return self._item(f"/products/{int(id)}")

    def user(self, id: int) -> dict | None:
        return without_secrets(self._item(f"/users/{int(id)}"))

    def cart(self, id: int) -> dict | None:
        return self._item(f"/carts/{int(id)}")

    # --- HTTP -------------------------------------------------------------------------

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        query = f"?{urlencode(params)}" if params else ""
        return f"{self.base_url}/{path.lstrip('/')}{query}"

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET any route and decode its JSON body, retrying what is worth retrying."""
        url = self.url(path, params)
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self._get_whole(url)
            except RETRYABLE_ERRORS as error:
                status, problem, wait = None, f"{type(error).__name__}: {error}", self._backoff(attempt)
            except requests.RequestException as error:  # a redirect loop, an undecodable encoding
                raise FakeStoreError(
                    f"GET {url}: {type(error).__name__}: {error} (not retried; attempt {attempt} of {self.max_attempts})",
                    url=url,
                    attempts=attempt,
                ) from error
            else:
                if not is_retryable(response.status_code):
                    return self._decode(response, url, attempt)
                status, problem = response.status_code, self._describe_status(response)
                # Retry-After is the least a server asks for: 0 or a past date never ends the backoff.
                retry_after = retry_after_seconds(response.headers.get("Retry-After")) or 0.0
                wait = max(self._backoff(attempt), retry_after)
            if attempt < self.max_attempts:
                self._sleep(min(wait, self.backoff_max))
        raise FakeStoreError(
            f"GET {url}: {problem}; gave up after {self.max_attempts} attempts",
            url=url,
            status=status,
            attempts=self.max_attempts,
        )

    def _get_whole(self, url: str) -> requests.Response:
        """GET `url` with its body read whole, or TotalTimeout once `total_timeout` has passed since
        the request began (checked as each piece arrives, so at most one read timeout late)."""
        deadline = time.monotonic() + self.total_timeout
        response = self._session.get(url, timeout=self.timeout, stream=True)
        body = bytearray()
        try:
            # read1 returns what has arrived, so the deadline is checked as the bytes come.
            while piece := response.raw.read1(BODY_PIECE, decode_content=True):
                body += piece
                if time.monotonic() > deadline:
                    raise TotalTimeout(f"the body was not whole within the total timeout of {self.total_timeout:g} s "
                                       f"({len(body):,} bytes read)")
            # As requests keeps a body it read itself.
            response._content, response._content_consumed = bytes(body), True
        # What requests' own body read raises for the same urllib3 errors.
        except ReadTimeoutError as error:
            raise requests.ConnectionError(error) from error
        except ProtocolError as error:
            raise requests.exceptions.ChunkedEncodingError(error) from error
        except DecodeError as error:
            raise requests.exceptions.ContentDecodingError(error) from error
        finally:
            response.close()
        return response

    def _decode(self, response: requests.Response, url: str, attempt: int) -> Any:
        status = response.status_code
        if status >= 300:  # redirects are followed, so a 3xx here has nowhere to go
            raise FakeStoreError(
                f"GET {url}: {self._describe_status(response)}: {body_message(response)}"
                f" (not retried; attempt {attempt} of {self.max_attempts})",
                url=url,
                status=status,
                attempts=attempt,
            )
        try:
            return decode_json(response.content)
        except ValueError as error:
            # A truncated or garbled body is the server's bug, not load: retrying would hide it.
            raise FakeStoreError(
                f"GET {url}: HTTP {status} with a body that is not valid JSON ({error})"
                f" (not retried; attempt {attempt} of {self.max_attempts})",
                url=url,
                status=status,
                attempts=attempt,
            ) from error

    @staticmethod
    def _describe_status(response: requests.Response) -> str:
        return f"HTTP {response.status_code} {response.reason or ''}".rstrip()

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with equal jitter, so clients thrown off together spread out."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)

    def _list(self, path: str, params: Mapping[str, Any] | None = None) -> Fetched:
        url = self.url(path, params)
        body = self.get_json(path, params)
        if not isinstance(body, list):
            raise FakeStoreError(
                f"GET {url}: expected a JSON array, got {type(body).__name__}", url=url, status=200
            )
        return Fetched(source=url, records=body)

    def _item(self, path: str) -> dict | None:
        body = self.get_json(path)
        # The Fake Store answers a missing id with HTTP 200 and `null`.
        if body is None or isinstance(body, dict):
            return body
        url = self.url(path)
        raise FakeStoreError(
            f"GET {url}: expected a JSON object or null, got {type(body).__name__}", url=url, status=200
        )
