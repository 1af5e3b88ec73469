"""A Fake Store API over HTTP, serving a store (normally the synthetic shop) on 127.0.0.1.

Same routes and quirks as https://fakestoreapi.com: a missing id answers 200 `null`,
`enddate` is exclusive, a bad date answers 400. `Faults` injects the failures a client
must survive (503s, 429 with Retry-After, slow and truncated responses), so the client's
retries are tested against a real socket. Built on `http.server`, no extra dependency.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from ecommerce_assets.sources.fakestore import Fetched
from ecommerce_assets.sources.fakestore_local import LocalFakeStore, find_by_id

DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class ServedStore(Protocol):
    def products(self) -> Fetched: ...

    def users(self) -> Fetched: ...

    def all_carts(self) -> list[Any]: ...

    def filed_carts(self) -> list[tuple[date, Any]]: ...


@dataclass
class Faults:
    """Failures to inject. Requests are numbered from 1 across all routes and threads.

    fail_first: requests 1..N answer 503. throttle_every: every Nth answers 429 with
    `Retry-After: retry_after` (seconds). delay: every request waits this long first.
    malformed_every: every Nth answers 200 with its JSON cut in half. trickle: every body is
    sent a byte at a time, this many seconds apart (no read ever waits long, the whole does).
    """

    fail_first: int = 0
    throttle_every: int = 0
    retry_after: float = 1.0
    delay: float = 0.0
    malformed_every: int = 0
    trickle: float = 0.0


class BadRequest(Exception):
    pass


class NotFound(Exception):
    pass


class FakeStoreHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops connections under parallel clients (a 1 s SYN retry each).
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], store: ServedStore, faults: Faults) -> None:
        super().__init__(address, FakeStoreHandler)
        self.store = store
        self.faults = faults
        # Set on shutdown so delayed handlers stop waiting and the server closes at once.
        self.closing = threading.Event()
        self._count_lock = threading.Lock()
        self._count = 0

    def next_request_number(self) -> int:
        with self._count_lock:
            self._count += 1
            return self._count

    @property
    def request_count(self) -> int:
        with self._count_lock:
            return self._count

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class FakeStoreHandler(BaseHTTPRequestHandler):
    server: FakeStoreHTTPServer
    server_version = "FakeStore/1.0"

    def do_GET(self) -> None:
        number = self.server.next_request_number()
        faults = self.server.faults
        if faults.delay > 0 and self.server.closing.wait(faults.delay):
            return
        if number <= faults.fail_first:
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, error("injected fault: service unavailable"))
        elif faults.throttle_every and number % faults.throttle_every == 0:
            headers = {"Retry-After": f"{faults.retry_after:g}"}
            self._send(HTTPStatus.TOO_MANY_REQUESTS, error("injected fault: too many requests"), headers)
        else:
            status, body = self._answer()
            payload = json.dumps(body).encode()
            if status == HTTPStatus.OK and faults.malformed_every and number % faults.malformed_every == 0:
                payload = payload[: len(payload) // 2]
            self._send_bytes(status, payload)

    def _answer(self) -> tuple[HTTPStatus, Any]:
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        segments = [unquote(s) for s in parts.path.strip("/").split("/") if s]
        try:
            return HTTPStatus.OK, route(self.server.store, segments, query)
        except BadRequest as problem:
            return HTTPStatus.BAD_REQUEST, error(str(problem))
        except NotFound:
            return HTTPStatus.NOT_FOUND, error(f"no route for {parts.path}")
        except Exception as problem:  # a broken store: say so rather than drop the connection
            return HTTPStatus.INTERNAL_SERVER_ERROR, error(f"{type(problem).__name__}: {problem}")

    def _send(self, status: HTTPStatus, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(body).encode(), headers)

    def _send_bytes(self, status: HTTPStatus, payload: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self._write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a read timeout): nobody left to answer

    def _write(self, payload: bytes) -> None:
        trickle = self.server.faults.trickle
        if not trickle:
            self.wfile.write(payload)
            return
        for offset in range(len(payload)):
            self.wfile.write(payload[offset:offset + 1])
            if self.server.closing.wait(trickle):
                return

    def log_message(self, format: str, *args: Any) -> None:
        pass


def error(message: str) -> dict[str, str]:
    return {"status": "error", "message": message}


def route(store: ServedStore, segments: list[str], query: dict[str, str]) -> Any:
    match segments:
        case ["products"]:
            return listing(store.products().records, query)
        case ["products", "categories"]:
            return sorted({p["category"] for p in store.products().records if isinstance(p.get("category"), str)})
        case ["products", "category", name]:
            return listing([p for p in store.products().records if p.get("category") == name], query)
        case ["products", id]:
            return find_by_id(store.products().records, parse_id(id))
        case ["users"]:
            return listing(store.users().records, query)
        case ["users", id]:
            return find_by_id(store.users().records, parse_id(id))
        case ["carts"]:
            return listing(dated(store.filed_carts(), query), query)
        case ["carts", "user", id]:
            user_id = parse_id(id)
            carts = [(day, c) for day, c in store.filed_carts()
                     if isinstance(c, dict) and c.get("userId", c.get("user_id")) == user_id]
            return listing(dated(carts, query), query)
        case ["carts", id]:
            return find_by_id(store.all_carts(), parse_id(id))
    raise NotFound


DIGITS = re.compile(r"[0-9]+")


def parse_id(text: str) -> int:
    # Python's int() also reads "+1", "1_0" and non-ASCII digits; a URL's id is plain digits.
    if not DIGITS.fullmatch(text):
        raise BadRequest(f"id must be an integer, got {text!r}")
    return int(text)


def listing(records: list[Any], query: dict[str, str]) -> list[Any]:
    """`sort` (asc/desc by id) then `limit`, as the list endpoints of the Fake Store."""
    sort = query.get("sort")
    if sort not in (None, "asc", "desc"):
        raise BadRequest(f"sort must be asc or desc, got {sort!r}")
    if sort:
        records = sorted(records, key=id_key, reverse=sort == "desc")
    if "limit" in query:
        records = records[: parse_limit(query["limit"])]
    return records


def parse_limit(text: str) -> int:
    limit = int(text) if DIGITS.fullmatch(text) else 0
    if limit < 1:
        raise BadRequest(f"limit must be a positive integer, got {text!r}")
    return limit


def id_key(record: Any) -> tuple[int, float]:
    """Sort key by id; records without a numeric id go last rather than breaking the sort."""
    value = record.get("id") if isinstance(record, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return 0, value
    return 1, 0


def dated(filed_carts: list[tuple[date, Any]], query: dict[str, str]) -> list[Any]:
    """The carts dated in [startdate, enddate).

    A cart without a readable date is served with the day it is filed under, so a client
    receives it and can quarantine it, as it would reading the shop's files.
    """
    start, end = query_day(query, "startdate"), query_day(query, "enddate")
    if start is None and end is None:
        return [cart for _, cart in filed_carts]
    return [cart for day, cart in filed_carts if in_window(cart_time(cart) or day_start(day), start, end)]


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, timezone.utc)


def query_day(query: dict[str, str], name: str) -> datetime | None:
    if name not in query:
        return None
    text = query[name]
    try:
        if not DATE_PATTERN.fullmatch(text):
            raise ValueError
        return day_start(date.fromisoformat(text))
    except ValueError:
        raise BadRequest(f"{name} must be a date as YYYY-MM-DD, got {text!r}") from None


def cart_time(cart: Any) -> datetime | None:
    try:
        value = datetime.fromisoformat(cart["date"])
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def in_window(value: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or start <= value) and (end is None or value < end)


# --- running it -----------------------------------------------------------------------


def make_server(
    store: ServedStore, host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None
) -> FakeStoreHTTPServer:
    """A bound server, not yet serving: run `serve_forever` in a thread; `server_address` has the port."""
    return FakeStoreHTTPServer((host, port), store, faults or Faults())


class ServerURL(str):
    """The base URL of a running server, carrying the server itself (for its `request_count`)."""

    server: FakeStoreHTTPServer


@contextmanager
def running_server(store: ServedStore, faults: Faults | None = None, port: int = 0) -> Iterator[ServerURL]:
    """Serve `store` on 127.0.0.1 in a daemon thread; yields the base URL, shuts down on exit."""
    server = make_server(store, port=port, faults=faults)
    # A short poll interval: shutdown waits for the loop to notice, and tests start many servers.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = ServerURL(server.base_url)
    url.server = server
    try:
        yield url
    finally:
        server.closing.set()
        server.shutdown()
        server.server_close()
        thread.join()


def serve(landing_dir: Path, host: str, port: int, faults: Faults | None = None) -> None:
    """Serve the synthetic shop of `landing_dir` until interrupted (`ecommerce-assets fakestore-server`)."""
    store = LocalFakeStore(landing_dir)
    store.products()  # fail before listening if the shop was never generated
    server = make_server(store, host=host, port=port, faults=faults)
    print(f"Fake Store API listening on {server.base_url} (serving {store.landing_dir})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
