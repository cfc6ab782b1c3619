"""The web console in a real browser (Playwright driving Debian's Chromium, headless)
against the running system: real Kafka, Elasticsearch and PostgreSQL, the three worker
roles and both HTTP APIs as their own processes.

A shopper types a query with a typo and picks a facet; a buyer opens a product and
sees its price history drawn point by point, with the Omnibus prior price beside the
sale; a price sent from the page's form appears without a reload (read-your-writes);
an operator sees a projection fall behind. Each page is screenshotted and checked
with axe-core for serious accessibility violations.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from producers import commands as c
from producers.client import CommandClient
from schemas.config.connections import kafka_config
from schemas.config.settings import Settings
from schemas.topics import Topics
from tests.fixtures.console import RunningApis, start_apis
from tests.fixtures.read_models import wait_for_versions
from tests.fixtures.workers import ALL_ROLES, Worker

AXE = Path(__file__).resolve().parents[2] / "fixtures" / "axe" / "axe-4.14.1.min.js"
NOW = datetime.now(UTC)
WAIT_MS = 60_000  # generous: two cores shared with other stacks


def days_ago(n: int) -> datetime:
    return NOW - timedelta(days=n)


@pytest.fixture(scope="module")
def roles(module_settings: Settings, make_worker: Any) -> dict[str, Worker]:
    return {role: make_worker(role) for role in ALL_ROLES}


@pytest.fixture(scope="module")
def catalog(module_settings: Settings, roles: dict[str, Worker]) -> Iterator[CommandClient]:
    """Four products; the red running shoe has a regular price, a rise, a cut and a sale."""
    with CommandClient(module_settings) as client:
        products = [
            ("CB-1", "Red running shoe", "Acme", ["Shoes", "Running"], "red"),
            ("CB-2", "Red running shoe", "Trailco", ["Shoes", "Running"], "red"),
            ("CB-3", "Blue trail shoe", "Trailco", ["Shoes", "Trail"], "blue"),
            ("CB-4", "Green kettle", "Potter", ["Home", "Kitchen"], "green"),
        ]
        for sku, name, brand, path, colour in products:
            client.send(
                c.register_product(
                    sku,
                    name,
                    brand=brand,
                    category_path=path,
                    description=f"A {name.lower()} by {brand}.",
                    attributes={"colour": colour},
                    occurred_at=days_ago(60),
                ),
                timeout_s=120,
            )
            client.send(c.change_price(sku, "70.00", "EUR", occurred_at=days_ago(59)))
            client.send(c.adjust_stock(sku, 7, occurred_at=days_ago(59)))
        # in time order: a product's history never runs backwards
        history = [
            c.change_price("CB-1", "100.00", "EUR", occurred_at=days_ago(40)),
            c.change_price("CB-1", "120.00", "USD", occurred_at=days_ago(39)),
            c.change_price("CB-1", "80.00", "EUR", occurred_at=days_ago(20)),
            c.change_price("CB-1", "59.90", "EUR", price_type="sale", occurred_at=days_ago(5)),
        ]
        for command in history:
            assert client.send(command).accepted
        wait_for_versions(module_settings, {"CB-1": 7, "CB-2": 3, "CB-3": 3, "CB-4": 3})
        yield client


@pytest.fixture(scope="module")
def apis(module_settings: Settings, catalog: CommandClient) -> Iterator[RunningApis]:
    yield from start_apis(module_settings)


@pytest.fixture
def page(chromium: Any, apis: RunningApis) -> Iterator[Any]:
    context = chromium.new_context(base_url=apis.query_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield tab
    context.close()
    assert errors == [], errors  # no script error, no CSP violation, no missing asset


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    page.evaluate(AXE.read_text())  # evaluated over CDP: the page's CSP does not apply
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
    )
    return list(found)


def test_a_typo_a_facet_and_a_product(page: Any, screenshots: Path) -> None:
    page.goto("/")
    box = page.get_by_role("combobox", name="Search products")
    # autocomplete as you type, driven by the keyboard
    box.press_sequentially("red r", delay=40)
    page.wait_for_selector("#suggestions [role=option][data-value='Red running shoe']")
    assert box.get_attribute("aria-expanded") == "true"
    box.press("ArrowDown")
    active = box.get_attribute("aria-activedescendant")
    assert active and page.get_attribute(f"#{active}", "aria-selected") == "true"
    box.press("Escape")
    assert box.get_attribute("aria-expanded") == "false"

    # a typo, and still the shoes, with highlights
    box.fill("red runing shoe")
    box.press("Enter")
    page.wait_for_function("() => Number(document.body.dataset.searches) >= 1")
    hits = page.locator(".hit")
    assert set(hits.evaluate_all("els => els.map(e => e.dataset.sku)")[:2]) == {"CB-1", "CB-2"}
    assert page.locator(".hit h3 em").count() >= 2
    assert "q=red+runing+shoe" in page.url

    # a facet filters (and the page says so in its URL)
    page.get_by_role("checkbox", name="Acme").check()
    page.wait_for_function("() => Number(document.body.dataset.searches) >= 2")
    assert hits.evaluate_all("els => els.map(e => e.dataset.sku)") == ["CB-1"]
    assert "brand=Acme" in page.url
    assert page.get_by_role("checkbox", name="Acme").is_checked()
    page.screenshot(path=str(screenshots / "catalog.png"))
    assert serious_violations(page) == []

    # the back button gives the result before the facet back
    page.go_back()
    page.wait_for_url("**/?q=red+runing+shoe")
    page.wait_for_selector(".hit[data-sku=CB-2]")
    assert not page.get_by_role("checkbox", name="Acme").is_checked()

    # each product links to its page
    page.get_by_role("link", name="Red running shoe").first.click()
    page.wait_for_url("**/catalog/CB-1")
    assert page.get_by_role("heading", level=1).inner_text() == "Red running shoe"


def test_the_product_page_draws_the_history_and_shows_the_omnibus_price(
    page: Any, screenshots: Path
) -> None:
    page.goto("/catalog/CB-1")
    canvas = page.locator("canvas[data-price-chart]")
    page.wait_for_selector("canvas[data-price-chart][data-drawn]")
    # EUR: 70, 100, 80, sale 59.90; USD: 120 -> five prices in force, five points
    assert canvas.get_attribute("data-drawn-points") == "5"
    points = page.evaluate(
        "() => Chart.getChart(document.querySelector('canvas[data-price-chart]')).data.datasets"
        ".map(d => [d.label, d.data.filter(p => !p.end).length])"
    )
    assert points == [["EUR", 4], ["USD", 1]]
    eur = page.locator("tr[data-currency=EUR]")
    assert eur.locator("[data-amount]").get_attribute("data-amount") == "59.9"
    assert "Sale" in eur.inner_text()
    # the lowest price in the 30 days before the sale: 80 (100 ended 20 days ago)
    assert eur.locator("[data-omnibus]").get_attribute("data-omnibus") == "80"
    assert "not reduced" in page.locator("tr[data-currency=USD]").inner_text()
    page.screenshot(path=str(screenshots / "product.png"), full_page=True)
    assert serious_violations(page) == []


def test_a_price_change_from_the_page_appears_without_a_reload(page: Any) -> None:
    page.goto("/catalog/CB-3")
    page.wait_for_selector("canvas[data-price-chart][data-drawn]")
    assert page.locator("canvas[data-price-chart]").get_attribute("data-drawn-points") == "1"
    page.evaluate("() => { window.notReloaded = true; }")
    page.get_by_label("Amount").fill("54.50")
    page.get_by_label("Currency").select_option("EUR")
    page.get_by_role("radio", name="Sale").check()
    page.get_by_role("button", name="Send price change").click()
    page.wait_for_selector("#change-result .ok")
    page.wait_for_selector("#prices[data-waiting=false] tr[data-currency=EUR] [data-amount='54.5']")
    page.wait_for_selector("canvas[data-price-chart][data-drawn-points='2']")
    assert page.evaluate("() => window.notReloaded") is True
    assert "Sale" in page.locator("tr[data-currency=EUR]").inner_text()


def test_no_form_without_a_command_token(
    chromium: Any, module_settings: Settings, catalog: CommandClient
) -> None:
    for read_only in start_apis(module_settings, console_token=None):
        context = chromium.new_context(base_url=read_only.query_url)
        tab = context.new_page()
        tab.goto("/catalog/CB-3")
        assert tab.get_by_role("heading", name="Prices").is_visible()
        assert tab.locator("#change-price").count() == 0
        context.close()


def test_the_operations_page_shows_a_projection_falling_behind(
    page: Any,
    roles: dict[str, Worker],
    catalog: CommandClient,
    screenshots: Path,
    module_settings: Settings,
) -> None:
    page.goto("/operations")
    page.wait_for_selector("section[data-role=pricing-projection]")
    pricing = roles["pricing-projection"]
    pricing.stop()
    try:
        # a record that is no event, in partition 1: the search projection dead-letters it
        producer = Producer(kafka_config(module_settings))
        events = Topics.from_settings(module_settings).events
        producer.produce(events, key=b"CB-X", value=b"not an event", partition=1)
        assert producer.flush(30) == 0
        page.wait_for_selector(
            "section[data-role=search-projection] tr[data-partition='1'] td[data-dead-letters='1']"
        )
        for i in range(10):
            assert catalog.send(c.adjust_stock("CB-4", 1 + i)).accepted
        # no reload: the page refreshes itself until it shows the lag
        page.wait_for_function(
            "() => Number(document.querySelector("
            "'section[data-role=pricing-projection]').dataset.lag) >= 10"
        )
        behind = page.locator("section[data-role=pricing-projection] tr.behind")
        lags = behind.evaluate_all("rows => rows.map(r => Number(r.dataset.lag))")
        assert max(lags) >= 10  # CB-4's partition
        # behind and nobody consuming: stalled, as `eventcart status` says it
        assert "stalled" in page.locator("section[data-role=pricing-projection] h2").inner_text()
        assert "schema pricing_" in page.locator("tr[data-model=pricing]").inner_text()
        page.screenshot(path=str(screenshots / "operations.png"), full_page=True)
        assert serious_violations(page) == []
    finally:
        pricing.start()
    # and catches up once restarted (a Faust worker's start is slow on a busy machine)
    page.wait_for_selector("section[data-role=pricing-projection][data-lag='0']", timeout=180_000)


def test_the_json_api_is_unchanged_and_the_form_answers_only_the_page(apis: RunningApis) -> None:
    api = apis.query_url
    assert httpx.get(f"{api}/search", params={"q": "kettle"}).json()["hits"][0]["sku"] == "CB-4"
    paths = httpx.get(f"{api}/openapi.json").json()["paths"]
    assert "/search" in paths and not any(p.startswith(("/catalog", "/operations")) for p in paths)
    form = {"amount": "1.00", "currency": "EUR", "price_type": "regular"}
    # a cross-site form cannot send htmx's header: refused before anything is sent
    assert httpx.post(f"{api}/catalog/CB-4/change-price", data=form).status_code == 403
    page = {"HX-Request": "true"}
    bad = httpx.post(
        f"{api}/catalog/CB-4/change-price", data=form | {"amount": "1e3"}, headers=page
    )
    assert bad.status_code == 200 and "give an amount" in bad.text
    huge = httpx.post(
        f"{api}/catalog/CB-4/change-price", data=form | {"x": "y" * 5000}, headers=page
    )
    assert huge.status_code == 413
    assert httpx.get(f"{api}/catalog/NOPE").status_code == 404
    assert "default-src 'self'" in httpx.get(f"{api}/").headers["Content-Security-Policy"]


def test_a_search_store_that_cannot_answer_is_said_in_the_page(
    chromium: Any, module_settings: Settings, catalog: CommandClient
) -> None:
    down = module_settings.model_copy(update={"elasticsearch_url": "http://127.0.0.1:1"})
    for broken in start_apis(down, console_token=None):
        assert httpx.get(f"{broken.query_url}/").status_code == 503
        context = chromium.new_context(base_url=broken.query_url)
        tab = context.new_page()
        tab.set_default_timeout(WAIT_MS)
        tab.goto("/")
        assert "cannot answer" in tab.get_by_role("alert").inner_text()
        tab.get_by_role("combobox", name="Search products").fill("shoe")
        tab.get_by_role("button", name="Search").click()
        tab.wait_for_url("**/?q=shoe")  # the swap happened, and says so again
        assert "cannot answer" in tab.get_by_role("alert").inner_text()
        # the pricing read model still answers on the product page's price panel
        tab.goto("/catalog/CB-4/prices")
        assert (
            tab.locator("tr[data-currency=EUR] [data-amount]").get_attribute("data-amount") == "70"
        )
        context.close()
