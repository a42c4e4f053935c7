"""`flask catalog import` and `flask catalog demo` as an operator runs them."""

import pytest
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


HEADER = "sku,name,price,stock\n"
GOOD_ROW = "OK1,Fine Tea,2.50,4\n"  # valid, and still not written when another line is bad


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("sku,name,price,stock,price\nT1,Tea,1,1,2\n", "line 1: repeated column(s): price"),
        ("sku,Name,price,stock,NAME \nT1,Tea,1,1,Tea\n", "line 1: repeated column(s): name"),
        (HEADER + GOOD_ROW + "T1,Tea,\u0663,1\n",
         "line 3: price '\u0663' is not a decimal >= 0 with at most 2 places"),
        (HEADER + GOOD_ROW + "T1,Tea,\uff13.50,1\n",
         "line 3: price '\uff13.50' is not a decimal >= 0 with at most 2 places"),
        (HEADER + GOOD_ROW + "T1,Tea,1,\uff13\n",
         "line 3: stock '\uff13' is not a whole number >= 0"),
        (HEADER + GOOD_ROW + "T1,Tea,1,1\u0663\n",
         "line 3: stock '1\u0663' is not a whole number >= 0"),
    ],
    ids=["repeated column", "repeated column in another case", "Arabic-Indic price",
         "full-width price", "full-width stock", "Arabic-Indic stock"],
)
def test_import_refuses_repeated_columns_and_non_ascii_digits(runner, tmp_path, text, problem):
    path = tmp_path / "products.csv"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(args=["catalog", "import", str(path)])
    assert result.exit_code == 1
    assert problem in result.output.splitlines()
    assert "nothing was imported" in result.output
    assert count() == 0


@pytest.mark.parametrize(
    "hidden", ["\u202e", "\u2066", "\u2069", "\u200f", "\x00", "\x1b", "\x07", "\x7f", "\x85"],
    ids=["RLO override", "LRI isolate", "PDI", "RLM mark", "NUL", "ESC", "BEL", "DEL", "NEL"],
)
def test_import_refuses_control_and_bidi_characters_in_names(runner, tmp_path, hidden):
    path = tmp_path / "products.csv"
    path.write_text(HEADER + GOOD_ROW + f"T1,Tea{hidden}gpj.exe,1,1\n", encoding="utf-8")
    result = runner.invoke(args=["catalog", "import", str(path)])
    assert result.exit_code == 1
    assert "line 3: sku or name holds a control or bidirectional-override character" in (
        result.output.splitlines())
    assert count() == 0


def test_import_refuses_a_bidi_override_in_a_sku(runner, tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(HEADER + "T\u202e1,Tea,1,1\n", encoding="utf-8")
    result = runner.invoke(args=["catalog", "import", str(path)])
    assert result.exit_code == 1
    assert "line 2: sku or name holds a control or bidirectional-override character" in (
        result.output.splitlines())
    assert count() == 0


def test_import_takes_names_in_any_script(runner, tmp_path):
    """What is refused is hidden characters, not languages: Arabic and Japanese names, with
    ASCII digits, are imported."""
    path = tmp_path / "products.csv"
    path.write_text(HEADER + "A1,\u0634\u0627\u064a \u0623\u062e\u0636\u0631,1.50,3\n"
                    "J1,\u65e5\u672c\u8336,2,1\n", encoding="utf-8")
    result = runner.invoke(args=["catalog", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert count() == 2
