"""The local Fake Store API server, spoken to over HTTP on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from ecommerce_assets.sources.fakestore_local import LocalFakeStore
from ecommerce_assets.sources.fakestore_server import Faults, make_server, running_server, serve


def get(url: str) -> requests.Response:
    return requests.get(url, timeout=5)


def ids(url: str) -> list[int]:
    response = get(url)
    assert response.status_code == 200, response.text
    return [record["id"] for record in response.json()]


@pytest.fixture
def store_url(fakestore_landing: Path):
    with running_server(LocalFakeStore(fakestore_landing)) as url:
        yield url


def test_lists_sort_and_limit(store_url: str) -> None:
    assert ids(f"{store_url}/products") == [2, 3, 1]
    assert ids(f"{store_url}/products?sort=asc") == [1, 2, 3]
    assert ids(f"{store_url}/products?sort=desc&limit=2") == [3, 2]
    assert ids(f"{store_url}/users?limit=1") == [1]
    assert ids(f"{store_url}/carts?sort=desc&limit=3") == [4, 3, 2]


@pytest.mark.parametrize("query", ["limit=0", "limit=-1", "limit=two", "limit=+1_0", "limit=\u0661", "sort=up"])
def test_bad_list_parameters_answer_400(store_url: str, query: str) -> None:
    response = get(f"{store_url}/products?{query}")
    assert response.status_code == 400
    assert response.json()["status"] == "error" and query.split("=")[0] in response.json()["message"]


def test_items_and_missing_ids(store_url: str) -> None:
    assert get(f"{store_url}/products/1").json()["title"] == "Backpack "
    assert get(f"{store_url}/users/2/").json()["username"] == "mor_2314"
    assert get(f"{store_url}/carts/4").json()["date"] == "2026-11-21T00:00:00.000Z"
    for missing in ("products/99", "users/0", "carts/99"):
        response = get(f"{store_url}/{missing}")
        assert (response.status_code, response.text) == (200, "null")
    for not_an_id in ("abc", "+1", "1_0", "%D9%A1"):  # the last is an Arabic-Indic 1, which int() reads
        assert get(f"{store_url}/products/{not_an_id}").status_code == 400
    assert get(f"{store_url}/carts/user").status_code == 400


def test_categories(store_url: str) -> None:
    assert get(f"{store_url}/products/categories").json() == ["electronics", "jewelery", "men's clothing"]
    assert ids(f"{store_url}/products/category/men's%20clothing") == [1]
    assert ids(f"{store_url}/products/category/jewelry") == []


def test_carts_window_is_start_inclusive_end_exclusive(store_url: str) -> None:
    assert ids(f"{store_url}/carts") == [1, 2, 3, 4]
    assert ids(f"{store_url}/carts?startdate=2026-11-20&enddate=2026-11-21") == [2, 3]
    assert ids(f"{store_url}/carts?startdate=2026-11-20") == [2, 3, 4]
    assert ids(f"{store_url}/carts?enddate=2026-11-20") == [1]
    assert ids(f"{store_url}/carts?startdate=2026-11-20&enddate=2026-11-20") == []
    assert ids(f"{store_url}/carts/user/2") == [3, 4]
    assert ids(f"{store_url}/carts/user/2?enddate=2026-11-21") == [3]


@pytest.mark.parametrize(
    "query", ["startdate=2026-11-5", "startdate=20261120", "startdate=2026-02-30", "enddate=tomorrow", "enddate="]
)
def test_malformed_dates_answer_400_with_a_json_error(store_url: str, query: str) -> None:
    response = get(f"{store_url}/carts?{query}")
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["message"].startswith(f"{query.split('=')[0]} must be a date as YYYY-MM-DD")


@pytest.mark.parametrize("path", ["orders", "products/1/reviews", "carts/user/1/items", ""])
def test_unknown_routes_answer_404(store_url: str, path: str) -> None:
    response = get(f"{store_url}/{path}")
    assert response.status_code == 404 and "no route" in response.json()["message"]


def test_injected_faults_follow_the_request_count(fakestore_landing: Path) -> None:
    faults = Faults(fail_first=1, throttle_every=3, retry_after=2.5, malformed_every=4)
    with running_server(LocalFakeStore(fakestore_landing), faults) as url:
        responses = [get(f"{url}/products") for _ in range(6)]
        assert url.server.request_count == 6

    assert [r.status_code for r in responses] == [503, 200, 429, 200, 200, 429]
    assert responses[2].headers["Retry-After"] == "2.5"
    assert len(responses[1].json()) == 3
    with pytest.raises(ValueError):
        responses[3].json()  # the 4th answer is cut short
    assert responses[3].text == responses[4].text[: len(responses[4].text) // 2]


def test_request_count_is_thread_safe(fakestore_landing: Path) -> None:
    with running_server(LocalFakeStore(fakestore_landing)) as url:
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda n: get(f"{url}/products/{n % 4}").status_code, range(40)))
        assert statuses == [200] * 40 and url.server.request_count == 40


def test_delay_slows_every_response(fakestore_landing: Path) -> None:
    with running_server(LocalFakeStore(fakestore_landing), Faults(delay=0.3)) as url:
        started = time.monotonic()
        assert get(f"{url}/users/1").status_code == 200
        assert time.monotonic() - started >= 0.3


def test_a_broken_store_answers_500(tmp_path: Path) -> None:
    with running_server(LocalFakeStore(tmp_path / "never-generated")) as url:
        response = get(f"{url}/products")
    assert response.status_code == 500 and "ecommerce-assets generate" in response.json()["message"]


def test_make_server_binds_an_ephemeral_port_on_loopback(fakestore_landing: Path) -> None:
    server = make_server(LocalFakeStore(fakestore_landing))
    host, port = server.server_address
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        assert (host, port != 0) == ("127.0.0.1", True)
        assert ids(f"http://127.0.0.1:{port}/products") == [2, 3, 1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_serve_prints_its_url_and_serves(fakestore_landing: Path) -> None:
    code = (
        "import sys; from pathlib import Path;"
        "from ecommerce_assets.sources.fakestore_server import Faults, serve;"
        "serve(Path(sys.argv[1]), '127.0.0.1', 0, Faults())"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(fakestore_landing)], stdout=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("Fake Store API listening on http://127.0.0.1:")
        url = line.split()[5]
        assert ids(f"{url}/carts?startdate=2026-11-21&enddate=2026-11-22") == [4]
    finally:
        process.terminate()
        process.wait(timeout=5)
        process.stdout.close()


def test_serve_refuses_a_landing_without_a_shop(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="ecommerce-assets generate"):
        serve(tmp_path, "127.0.0.1", 0, Faults())
