"""`flask catalog import` and `flask catalog demo` as an operator runs them."""

from sqlalchemy import func, select

from storefront.extensions import db
from storefront.models import Product


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Product))


def test_import_command_reports_what_it_did(runner, tmp_path):
    path = tmp_path / "products.csv"
    path.write_text("sku,name,price,stock,description\nT1,Tea,2.50,4,Nice\n", encoding="utf-8")
    result = runner.invoke(args=["catalog", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 created, 0 updated" in result.output
    assert count() == 1


def test_import_command_lists_each_bad_line_and_exits_non_zero(runner, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "sku,name,price,stock,description\nT1,Tea,abc,4,\nT2,Cup,1,-3,\nT3,Fine,1,1,\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["catalog", "import", str(path)])
    assert result.exit_code != 0
    assert "line 2: price 'abc'" in result.output
    assert "line 3: stock '-3'" in result.output
    assert "Traceback" not in result.output
    assert count() == 0


def test_import_command_refuses_a_file_that_is_not_utf8(runner, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("sku,name,price,stock\nC,Caf\u00e9,1,1\n".encode("latin-1"))
    result = runner.invoke(args=["catalog", "import", str(path)])
    assert result.exit_code != 0
    assert "line 2: the file is not UTF-8 text" in result.output
    assert count() == 0


def test_demo_command_is_idempotent(runner):
    first = runner.invoke(args=["catalog", "demo"])
    second = runner.invoke(args=["catalog", "demo"])
    assert first.exit_code == second.exit_code == 0
    assert "0 created" in second.output
    assert count() >= 30
