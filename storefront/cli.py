"""The `flask` commands of CONTRACT.md. Each parses options, calls one service, echoes."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from storefront import catalog
from storefront.exceptions import CatalogImportError

catalog_cli = AppGroup("catalog", help="Load products into the catalog.")


@catalog_cli.command("import")
@click.argument("file", type=click.File("rb"))
def import_command(file: click.utils.LazyFile) -> None:
    """Upsert products by sku from FILE.csv (columns sku,name,price,stock,description).

    Every row is checked first; if any is bad, each problem is printed as `line N: reason`,
    nothing is written and the command exits 1.
    """
    try:
        result = catalog.import_products(file.read())
    except CatalogImportError as error:
        for line, reason in error.problems:
            click.echo(f"line {line}: {reason}", err=True)
        raise click.ClickException(
            f"{file.name}: {len(error.problems)} bad line(s); nothing was imported"
        ) from None
    click.echo(f"Imported {file.name}: {result.created} created, {result.updated} updated.")


@catalog_cli.command("demo")
def demo_command() -> None:
    """Load the demo catalog (about 30 products); safe to run again."""
    result = catalog.load_demo_catalog()
    click.echo(f"Demo catalog: {result.created} created, {result.updated} updated.")


def register(app: Flask) -> None:
    app.cli.add_command(catalog_cli)
