"""The Fake Store sources: the HTTP client against a real local server, and the local store."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from ecommerce_assets.sources.fakestore import (
    REPEATED_KEYS,
    FakeStoreClient,
    FakeStoreError,
    Fetched,
    retry_after_seconds,
)
from ecommerce_assets.sources.fakestore_local import LocalFakeStore
from ecommerce_assets.sources.fakestore_server import Faults, running_server
from ecommerce_assets.sources.landing import carts_dir, carts_path, users_path

DAY = date(2026, 11, 20)
NEXT_DAY = date(2026, 11, 21)


class RawStore(LocalFakeStore):
    """Serves users as the real Fake Store does: with their plaintext passwords."""

    def users(self) -> Fetched:
        path = users_path(self.landing_dir)
        return Fetched(str(path), json.loads(path.read_text()))


class NullProductsStore(LocalFakeStore):
    """A broken service whose product list is `null`."""

    def products(self) -> Fetched:
        return Fetched("nowhere", None)  # type: ignore[arg-type]


def client_for(url: str, **options) -> tuple[FakeStoreClient, list[float]]:
    """A client whose sleeps are recorded instead of slept."""
    sleeps: list[float] = []
    return FakeStoreClient(url, sleep=sleeps.append, **options), sleeps


def ids(records: list[dict]) -> list[int]:
    return [r["id"] for r in records]


def test_client_fetches_lists_as_delivered(fakestore_landing: Path) -> None:
    with running_server(LocalFakeStore(fakestore_landing)) as url:
        client, sleeps = client_for(url)
        products = client.products()
        carts = client.carts(DAY, NEXT_DAY)

    assert products.source == f"{url}/products"
    assert ids(products.records) == [2, 3, 1]
    assert products.records[0]["price"] == 695 and isinstance(products.records[0]["price"], int)
    assert products.records[2]["title"] == "Backpack "
    assert carts.source == f"{url}/carts?startdate=2026-11-20&enddate=2026-11-21"
    assert ids(carts.records) == [2, 3]  # 23:59:59.999 the day before and midnight after are out
    assert sleeps == [] and url.server.request_count == 2


@pytest.mark.parametrize(
    ("start", "end"),
    [(DAY, NEXT_DAY), (date(2026, 11, 19), date(2026, 11, 22)), (date(2026, 11, 22), date(2026, 11, 25)), (DAY, DAY)],
)
def test_client_and_local_store_deliver_the_same(fakestore_landing: Path, start: date, end: date) -> None:
    local = LocalFakeStore(fakestore_landing)
    with running_server(local) as url:
        client, _ = client_for(url)
        assert client.products().records == local.products().records
        assert client.users().records == local.users().records
        assert client.carts(start, end).records == local.carts(start, end).records
        for id in (1, 3, 99):
            assert client.product(id) == local.product(id)
            assert client.cart(id) == local.cart(id)
        assert client.user(2) == local.user(2)


def test_missing_id_is_none_without_retrying(fakestore_landing: Path) -> None:
    with running_server(LocalFakeStore(fakestore_landing)) as url:
        client, sleeps = client_for(url)
        assert requests.get(f"{url}/products/99", timeout=5).text == "null"
        assert (client.product(99), client.user(99), client.cart(99)) == (None, None, None)
        assert client.product(1)["id"] == 1
        assert url.server.request_count == 5 and sleeps == []


def test_bad_date_raises_at_once_with_the_body_message(fakestore_landing: Path) -> None:
    with running_server(LocalFakeStore(fakestore_landing)) as url:
        client, sleeps = client_for(url)
        with pytest.raises(FakeStoreError) as caught:
            client.get_json("/carts", {"startdate": "2026-13-01", "enddate": "2026-11-21"})
        assert url.server.request_count == 1

    error = caught.value
    assert error.status == 400 and error.attempts == 1 and sleeps == []
    assert error.url == f"{url}/carts?startdate=2026-13-01&enddate=2026-11-21"
    assert error.url in str(error) and "400" in str(error)
    assert "startdate must be a date as YYYY-MM-DD" in str(error)


def test_unknown_route_is_not_retried(fakestore_landing: Path) -> None:
    with running_server(LocalFakeStore(fakestore_landing)) as url:
        client, sleeps = client_for(f"{url}/v9/")
        with pytest.raises(FakeStoreError) as caught:
            client.products()
        assert url.server.request_count == 1
    assert caught.value.status == 404 and caught.value.url == f"{url}/v9/products" and sleeps == []


def test_retries_after_503_with_growing_backoff(fakestore_landing: Path) -> None:
    with running_server(LocalFakeStore(fakestore_landing), Faults(fail_first=2)) as url:
        client, sleeps = client_for(url, backoff_base=0.5)
        assert ids(client.products().records) == [2, 3, 1]
        assert url.server.request_count == 3
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0


def test_429_waits_for_retry_after(fakestore_landing: Path) -> None:
    with running_server(LocalFakeStore(fakestore_landing), Faults(throttle_every=2, retry_after=7)) as url:
        client, sleeps = client_for(url)
        client.products()  # request 1 passes, request 2 is throttled
        assert ids(client.users().records) == [1, 2]
        assert url.server.request_count == 3
    assert sleeps == [7.0]


def test_retry_after_is_capped_and_429_gives_up(fakestore_landing: Path) -> None:
    faults = Faults(throttle_every=1, retry_after=120)
    with running_server(LocalFakeStore(fakestore_landing), faults) as url:
        client, sleeps = client_for(url, max_attempts=2, backoff_max=30)
        with pytest.raises(FakeStoreError) as caught:
            client.users()
    assert sleeps == [30.0]
    assert caught.value.status == 429 and "gave up after 2 attempts" in str(caught.value)


def test_gives_up_after_max_attempts_naming_url_and_status(fakestore_landing: Path) -> None:
    with running_server(LocalFakeStore(fakestore_landing), Faults(fail_first=100)) as url:
        client, sleeps = client_for(url, max_attempts=3)
        with pytest.raises(FakeStoreError) as caught:
            client.carts(DAY, NEXT_DAY)
        assert url.server.request_count == 3

    error = caught.value
    assert (error.status, error.attempts, len(sleeps)) == (503, 3, 2)
    assert error.url == f"{url}/carts?startdate=2026-11-20&enddate=2026-11-21"
    assert str(error) == f"GET {error.url}: HTTP 503 Service Unavailable; gave up after 3 attempts"


def test_read_timeout_gives_up_after_bounded_attempts(fakestore_landing: Path) -> None:
    with running_server(LocalFakeStore(fakestore_landing), Faults(delay=5)) as url:
        client, sleeps = client_for(url, read_timeout=0.2, max_attempts=2)
        with pytest.raises(FakeStoreError) as caught:
            client.products()
        assert url.server.request_count == 2
    assert caught.value.status is None and len(sleeps) == 1
    assert "ReadTimeout" in str(caught.value) and "gave up after 2 attempts" in str(caught.value)


def test_connection_refused_gives_up(fakestore_landing: Path) -> None:
    with running_server(LocalFakeStore(fakestore_landing)) as url:
        pass  # the port is closed again once the server has stopped
    client, sleeps = client_for(url, max_attempts=3)
    with pytest.raises(FakeStoreError) as caught:
        client.product(1)
    assert caught.value.status is None and len(sleeps) == 2
    assert f"{url}/products/1" in str(caught.value) and "ConnectionError" in str(caught.value)


def test_malformed_json_is_not_retried(fakestore_landing: Path) -> None:
    with running_server(LocalFakeStore(fakestore_landing), Faults(malformed_every=1)) as url:
        client, sleeps = client_for(url)
        with pytest.raises(FakeStoreError) as caught:
            client.products()
        assert url.server.request_count == 1
    assert caught.value.status == 200 and sleeps == []
    assert f"{url}/products" in str(caught.value) and "not valid JSON" in str(caught.value)


def test_list_endpoint_answering_null_raises(fakestore_landing: Path) -> None:
    with running_server(NullProductsStore(fakestore_landing)) as url:
        client, _ = client_for(url)
        with pytest.raises(FakeStoreError, match="expected a JSON array, got NoneType"):
            client.products()


def test_passwords_never_leave_either_source(fakestore_landing: Path) -> None:
    with running_server(RawStore(fakestore_landing)) as url:
        on_the_wire = requests.get(f"{url}/users", timeout=5).json()
        client, _ = client_for(url)
        from_client = [client.users().records, client.user(1)]
    local = LocalFakeStore(fakestore_landing)
    from_local = [local.users().records, local.user(1)]

    assert all("password" in user for user in on_the_wire)  # the test would notice a leak
    for delivered in from_client + from_local:
        assert delivered and "password" not in json.dumps(delivered)
    assert from_client[0] == from_local[0] and len(from_client[0]) == 2


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    in_ten_seconds = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=10), usegmt=True)
    assert 8 <= retry_after_seconds(in_ten_seconds) <= 10
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_local_carts_read_the_day_files_of_the_window(fakestore_landing: Path) -> None:
    local = LocalFakeStore(fakestore_landing)
    fetched = local.carts(date(2026, 11, 19), date(2026, 11, 23))  # 2026-11-22 has no file
    days = [date(2026, 11, 19), DAY, NEXT_DAY]

    assert ids(fetched.records) == [1, 2, 3, 4]
    assert fetched.source == ",".join(str(carts_path(fakestore_landing, d)) for d in days)
    assert ids(local.carts(DAY, NEXT_DAY).records) == [2, 3]
    empty = local.carts(date(2026, 12, 1), date(2026, 12, 3))
    assert empty == Fetched(str(carts_dir(fakestore_landing)), [])
    assert ids(local.all_carts()) == [1, 2, 3, 4]


def test_local_store_without_a_generated_shop(tmp_path: Path) -> None:
    local = LocalFakeStore(tmp_path / "nothing")
    for read in (local.products, local.users):
        with pytest.raises(FileNotFoundError, match="run `ecommerce-assets generate` first"):
            read()
    assert local.carts(DAY, NEXT_DAY).records == [] and local.all_carts() == []


@contextmanager
def scripted_server(answer: Callable[[int, str], tuple[int, dict[str, str], bytes]],
                    received: list[dict[str, str]] | None = None,
                    peers: set[tuple[str, int]] | None = None) -> Iterator[str]:
    """A server on 127.0.0.1 answering request N for `path` with `answer(N, path)`: what a
    broken or hostile service might send, which the Fake Store server never does (a
    Content-Length of its own announces a body longer than the one sent). The headers of each
    request are appended to `received`; with `peers`, connections are kept alive (HTTP/1.1)
    and each request's client address is added to it."""
    count = itertools.count(1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if peers is not None else "HTTP/1.0"

        def do_GET(self) -> None:
            if received is not None:
                received.append(dict(self.headers))
            if peers is not None:
                peers.add(self.client_address)
            status, headers, body = answer(next(count), self.path)
            self.send_response(status)
            for name, value in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_retry_after_of_zero_in_the_past_or_below_the_backoff_keeps_the_backoff() -> None:
    """Retry-After is the least a server asks for, never a reason to come back sooner."""
    past = "Wed, 21 Oct 2015 07:28:00 GMT"
    headers = {1: {"Retry-After": "0"}, 2: {"Retry-After": past}, 3: {"Retry-After": "-5"}, 4: {"Retry-After": "1"}}

    def answer(n: int, path: str):
        return (429, headers[n], b"{}") if n in headers else (200, {}, b"[]")

    with scripted_server(answer) as url:
        client, sleeps = client_for(url, backoff_base=1.0)
        assert client.products().records == []
    assert len(sleeps) == 4
    assert 0.5 <= sleeps[0] <= 1 and 1 <= sleeps[1] <= 2 and 2 <= sleeps[2] <= 4 and 4 <= sleeps[3] <= 8


def test_each_request_carries_the_connect_and_the_read_timeout(fakestore_landing: Path) -> None:
    timeouts = []

    class RecordingSession(requests.Session):
        def get(self, url, **options):
            timeouts.append(options.get("timeout"))
            return super().get(url, **options)

    with running_server(LocalFakeStore(fakestore_landing)) as url:
        FakeStoreClient(url, connect_timeout=1.5, read_timeout=9.0, session=RecordingSession()).products()
    assert timeouts == [(1.5, 9.0)]


def test_a_body_trickling_past_the_total_timeout_gives_up(fakestore_landing: Path) -> None:
    """A byte every 50 ms never trips the read timeout; the total timeout ends each attempt."""
    whole = len(json.dumps(LocalFakeStore(fakestore_landing).products().records))
    assert whole * 0.05 > 10  # trickled whole, the body would take this long
    with running_server(LocalFakeStore(fakestore_landing), Faults(trickle=0.05)) as url:
        client, sleeps = client_for(url, read_timeout=2.0, total_timeout=0.3, max_attempts=2)
        started = time.monotonic()
        with pytest.raises(FakeStoreError) as caught:
            client.products()
        assert time.monotonic() - started < 3
        assert url.server.request_count == 2
    assert caught.value.status is None and len(sleeps) == 1
    assert "TotalTimeout" in str(caught.value) and "total timeout of 0.3 s" in str(caught.value)
    assert "gave up after 2 attempts" in str(caught.value)


def test_a_body_trickled_within_the_total_timeout_is_read_whole(fakestore_landing: Path) -> None:
    with running_server(LocalFakeStore(fakestore_landing)) as url:
        expected = FakeStoreClient(url).product(3)
    with running_server(LocalFakeStore(fakestore_landing), Faults(trickle=0.001)) as url:
        assert FakeStoreClient(url, read_timeout=2.0, total_timeout=30).product(3) == expected
    assert expected is not None and expected["id"] == 3


def test_a_gzip_encoded_body_is_decoded() -> None:
    body = json.dumps([{"id": n, "title": f"product {n}"} for n in range(1, 2001)]).encode()

    def answer(n: int, path: str):
        return 200, {"Content-Encoding": "gzip"}, gzip.compress(body)

    with scripted_server(answer) as url:
        assert FakeStoreClient(url).products().records == json.loads(body)


def test_a_body_read_whole_leaves_its_connection_for_the_next_request() -> None:
    """Reading bodies as they arrive must not cost keep-alive: one connection serves every request."""
    connections: set[tuple[str, int]] = set()
    with scripted_server(lambda n, path: (200, {}, b'[{"id": 1}]'), peers=connections) as url:
        with FakeStoreClient(url) as client:
            assert [client.products().records for _ in range(5)] == [[{"id": 1}]] * 5
    assert len(connections) == 1


def test_a_body_cut_off_mid_way_is_retried() -> None:
    """The connection broke while the body came (requests' ChunkedEncodingError)."""
    def answer(n: int, path: str):
        return (200, {"Content-Length": "400"}, b'[{"id": 1, "ti') if n == 1 else (200, {}, b"[]")

    with scripted_server(answer) as url:
        client, sleeps = client_for(url)
        assert client.products().records == []
    assert len(sleeps) == 1


def test_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="max_attempts must be at least 1, got 0"):
        FakeStoreClient("http://127.0.0.1:1", max_attempts=0)


def test_a_redirect_loop_or_a_3xx_without_a_target_is_a_clear_error() -> None:
    def answer(n: int, path: str):
        if path.startswith("/products"):
            return 302, {"Location": "/products"}, b""
        return 300, {}, b'[{"id": 1}]'

    with scripted_server(answer) as url:
        client, sleeps = client_for(url)
        with pytest.raises(FakeStoreError, match=r"GET .*/products: TooManyRedirects") as looped:
            client.products()
        with pytest.raises(FakeStoreError) as multiple:
            client.users()
    assert looped.value.url == f"{url}/products" and looped.value.attempts == 1
    assert multiple.value.status == 300 and f"GET {url}/users: HTTP 300" in str(multiple.value)
    assert sleeps == []


def test_a_body_nested_too_deeply_is_a_clear_error_not_a_crash() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000

    with scripted_server(lambda n, path: (200 if path == "/products" else 400, {}, deep)) as url:
        client, _ = client_for(url)
        with pytest.raises(FakeStoreError, match="not valid JSON \\(nested too deeply to decode\\)"):
            client.products()
        with pytest.raises(FakeStoreError, match="HTTP 400") as refused:
            client.users()
    assert len(str(refused.value)) < 400


def test_an_error_body_never_carries_a_password_into_the_message() -> None:
    bodies = {"/users": [{"id": 1, "Password": "hunter2"}], "/products": {"message": "x" * 5000}}

    with scripted_server(lambda n, path: (422, {}, json.dumps(bodies[path]).encode())) as url:
        client, _ = client_for(url)
        with pytest.raises(FakeStoreError) as users:
            client.users()
        with pytest.raises(FakeStoreError) as products:
            client.products()
    assert "hunter2" not in str(users.value) and '"id": 1' in str(users.value)
    assert "x" * 200 in str(products.value) and "x" * 201 not in str(products.value)


def test_a_repeated_key_is_delivered_noted_not_resolved() -> None:
    body = b'[{"id": 1, "title": "a", "title": "b"}]'

    with scripted_server(lambda n, path: (200, {}, body)) as url:
        client, _ = client_for(url)
        [product] = client.products().records
    assert product[REPEATED_KEYS] == {"title": ["a", "b"]}


def test_carts_without_a_readable_date_reach_the_client_as_they_reach_the_local_store(fakestore_landing: Path) -> None:
    undatable = [{"id": 5, "userId": 1}, {"id": 6, "userId": 1, "date": 1795000000},
                 {"id": 7, "userId": 1, "date": "soon"}, "not a cart", [8]]
    carts = json.loads(carts_path(fakestore_landing, DAY).read_text()) + undatable
    carts_path(fakestore_landing, DAY).write_text(json.dumps(carts))
    local = LocalFakeStore(fakestore_landing)

    with running_server(local) as url:
        client, _ = client_for(url)
        that_day = client.carts(DAY, NEXT_DAY).records
        next_day = client.carts(NEXT_DAY, date(2026, 11, 22)).records
        of_user_1 = requests.get(f"{url}/carts/user/1?startdate=2026-11-20", timeout=5)

    assert that_day == local.carts(DAY, NEXT_DAY).records and that_day[2:] == undatable
    assert ids(next_day) == [4]
    assert of_user_1.status_code == 200 and ids(of_user_1.json()) == [2, 5, 6, 7]


def test_credentials_in_the_base_url_are_sent_as_auth_and_recorded_nowhere() -> None:
    received: list[dict[str, str]] = []
    answers = {"/products": (200, {}, b"[]"), "/users": (503, {}, b'{"message": "down"}')}
    with scripted_server(lambda n, path: answers[path], received) as url:
        client, _ = client_for(url.replace("http://", "http://analyst:s%40cret@"), max_attempts=1)
        fetched = client.products()
        with pytest.raises(FakeStoreError) as caught:
            client.users()
    assert received[0]["Authorization"] == "Basic " + base64.b64encode(b"analyst:s@cret").decode()
    assert fetched.source == f"{url}/products"
    recorded = f"{fetched.source} {caught.value} {caught.value.url}"
    assert "cret" not in recorded and "analyst" not in recorded
