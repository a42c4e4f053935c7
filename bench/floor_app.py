"""The floor for `make bench`: the least a catalog page can cost on this machine and stack.

A bare Flask app (no storefront code): each request runs one primary-key query on
`DATABASE_URL` and renders a Jinja page of 24 product cards, each with a `url_for` link, an
escaped name, a formatted price and an add form, like the shop's catalog page. Served by the
same gunicorn settings as the shop: `gunicorn 'bench.floor_app:create_app()'`.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask

CARDS = 24
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Floor</title>
<link rel="stylesheet" href="{{ url_for('static', filename='style.css') }}"></head>
<body><header><a href="{{ url_for('index') }}">Storefront</a> <span>{{ greeting }}</span></header>
<main><h1>Catalog</h1><ul class="product-grid">
{% for product in products %}
<li class="product-card" data-product-id="{{ product.id }}" data-stock="{{ product.stock }}">
  <h2><a href="{{ url_for('product', slug=product.slug) }}">{{ product.name }}</a></h2>
  <p class="price">€{{ '{:,.2f}'.format(product.price) }}</p>
  <p><span class="stock">In stock</span></p>
  <form class="add-to-cart" action="{{ url_for('add') }}" method="post">
    <input type="hidden" name="csrf_token" value="{{ token }}">
    <input type="hidden" name="product_id" value="{{ product.id }}">
    <button type="submit">Add to cart<span class="visually-hidden"> {{ product.name }}</span>
    </button>
  </form>
</li>
{% endfor %}
</ul></main></body></html>
"""


def create_app() -> Flask:
    # Each gunicorn worker calls this after the fork, so each has a pool of its own.
    engine = sa.create_engine(os.environ["DATABASE_URL"])
    with engine.connect() as connection:
        products = connection.execute(sa.text(
            "SELECT id, slug, name, price, stock FROM products ORDER BY id LIMIT :cards"
        ), {"cards": CARDS}).all()
    first_id = products[0].id
    app = Flask(__name__, static_folder=None)
    template = app.jinja_env.from_string(PAGE)

    @app.get("/")
    def index() -> str:
        with engine.connect() as connection:
            first = connection.execute(sa.text("SELECT name FROM products WHERE id = :id"),
                                       {"id": first_id}).scalar_one()
        return template.render(products=products, greeting=first, token="x" * 91)

    @app.get("/products/<slug>")
    def product(slug: str) -> str:
        return slug

    @app.post("/cart/add")
    def add() -> str:
        return ""

    @app.get("/static/<path:filename>")
    def static(filename: str) -> str:
        return filename

    return app
