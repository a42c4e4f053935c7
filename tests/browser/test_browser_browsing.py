"""Browsing in Chromium (issue 16): the demo catalog with its pictures, a category, a search,
a product page and the cart, at 1280 and 390 px wide. Each page is saved as a screenshot in
tests/artifacts/ (git-ignored) and checked for layout facts: pictures of the size their
attributes say, the grid's columns, the product page's two columns on a desktop, no sideways
scroll; and adding from a card updates the header's count and shows the mini-cart in place."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from storefront import catalog, create_app
from tests.browser.conftest import ARTIFACTS
from tests.support import base_config

pytestmark = pytest.mark.browser

WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
COLUMNS = {"desktop": 4, "phone": 2}

GRID_COLUMNS = """() => {
  const cards = [...document.querySelectorAll('.product-grid > .product-card')];
  const top = cards[0].getBoundingClientRect().top;
  return cards.filter(card => Math.abs(card.getBoundingClientRect().top - top) < 2).length;
}"""
NO_SIDEWAYS = "() => document.documentElement.scrollWidth <= window.innerWidth"
IMAGES_SIZED = """() => [...document.querySelectorAll('img.product-image')].every(
  image => image.getAttribute('width') && image.getAttribute('height') && image.srcset)"""


@pytest.fixture(scope="module")
def demo_shop(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
              ) -> Iterator[str]:
    """A live server over the demo catalog, its pictures in a media folder of its own."""
    from tests.support import LIVE_KIND, new_live_database, start_server

    folder = tmp_path_factory.mktemp("browsing-shop")
    media = folder / "media"
    template = request.getfixturevalue("sqlite_template") if LIVE_KIND == "sqlite" else ""
    database = new_live_database(LIVE_KIND, template, folder)
    app = create_app(base_config(database.url, MEDIA_ROOT=str(media)))
    with app.app_context():
        catalog.load_demo_catalog()
        from storefront.extensions import db

        db.session.remove()
        db.engine.dispose()
    server = start_server(database.url, folder, env={"MEDIA_ROOT": str(media)})
    yield server.url
    server.stop()
    database.drop()


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"browsing-{name}.png"), full_page=True)


def wait_for_pictures(page: Page) -> None:
    page.evaluate("""() => Promise.all([...document.images].map(image => {
      image.loading = 'eager';
      return image.complete ? null : new Promise(done => { image.onload = image.onerror = done; });
    }))""")


@pytest.mark.parametrize("device", list(WIDTHS))
def test_catalog_category_search_product_and_cart_look_like_a_shop(new_page, demo_shop, device):
    page = new_page(viewport=WIDTHS[device])
    page.goto(demo_shop + "/")
    wait_for_pictures(page)
    assert page.evaluate(GRID_COLUMNS) == COLUMNS[device]
    assert page.evaluate(IMAGES_SIZED)
    assert page.evaluate(NO_SIDEWAYS)
    first = page.locator(".product-grid img.product-image").first
    box = first.bounding_box()
    assert box and abs(box["width"] - box["height"]) < 2  # square, as width/height say
    assert page.evaluate("() => document.querySelector('.product-grid img').naturalWidth") > 0
    shoot(page, f"catalog-{device}")

    if device == "desktop":
        page.locator(".category-bar").get_by_role("link", name="Coffee").click()
    else:
        page.locator(".category-menu summary").click()
        page.locator(".category-list").get_by_role("link", name="Coffee", exact=True).click()
    expect(page.get_by_role("heading", name="Coffee", level=1)).to_be_visible()
    wait_for_pictures(page)
    assert page.evaluate(NO_SIDEWAYS)
    shoot(page, f"category-{device}")

    page.goto(demo_shop + "/?q=espresso&sort=price_asc")
    wait_for_pictures(page)
    expect(page.locator(".product-card mark").first).to_be_visible()
    prices = [float(price) for price in page.locator(".product-card").evaluate_all(
        "cards => cards.map(card => card.dataset.price)")]
    assert prices == sorted(prices) and prices
    assert page.evaluate(NO_SIDEWAYS)
    shoot(page, f"search-{device}")

    page.locator(".product-card .card-name a").first.click()
    wait_for_pictures(page)
    media = page.locator(".product-media").bounding_box()
    info = page.locator(".product-info").bounding_box()
    assert media and info
    if device == "desktop":
        assert info["x"] >= media["x"] + media["width"] - 1  # two columns
    else:
        assert info["y"] >= media["y"] + media["height"] - 1  # one column
    assert page.evaluate(NO_SIDEWAYS)
    shoot(page, f"product-{device}")

    page.goto(demo_shop + "/cart")
    assert page.evaluate(NO_SIDEWAYS)
    shoot(page, f"cart-{device}")


def test_adding_from_a_card_stays_on_the_page_and_shows_the_mini_cart(new_page, demo_shop):
    page = new_page(viewport=WIDTHS["desktop"])
    page.goto(demo_shop + "/?sort=name")
    card = page.locator(".product-card").filter(has=page.locator("form")).first
    name = card.locator(".card-name").inner_text()
    card.get_by_role("button", name="Add to cart").click()
    mini_cart = page.locator("#mini-cart .mini-cart-panel")
    expect(mini_cart).to_be_visible()
    expect(mini_cart).to_contain_text(name)
    expect(page.locator("header [data-cart-count]")).to_have_attribute("data-cart-count", "1")
    assert page.url.endswith("/?sort=name")
    shoot(page, "mini-cart-desktop")


def test_without_javascript_an_add_comes_back_to_the_page(new_page, demo_shop):
    page = new_page(viewport=WIDTHS["phone"], java_script_enabled=False)
    page.goto(demo_shop + "/c/tea?sort=price_desc")
    page.locator(".product-card").filter(has=page.locator("form")).first.get_by_role(
        "button", name="Add to cart").click()
    page.wait_for_url("**/c/tea?sort=price_desc")
    expect(page.locator(".flash[data-category=success]")).to_contain_text("Added 1")
    expect(page.locator("header [data-cart-count]")).to_have_attribute("data-cart-count", "1")
    page.locator(".category-menu summary").click()  # the phone menu needs no script
    expect(page.locator(".category-list").get_by_role("link", name="Coffee", exact=True)
           ).to_be_visible()
