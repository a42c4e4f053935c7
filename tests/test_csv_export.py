"""CSV cells that a spreadsheet would run as formulas are made inert."""

import csv
import io

import pytest

from storefront.csv_export import neutralise, to_csv


@pytest.mark.parametrize("cell, expected", [
    ("=HYPERLINK(\"http://evil.example\",\"x\")", "'=HYPERLINK(\"http://evil.example\",\"x\")"),
    ("+1+1", "'+1+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tcmd", "'\tcmd"), ("\rcmd", "'\rcmd"),
    ("plain", "plain"), ("", ""), (None, ""), (12, "12"), ("a=b", "a=b"), (" =x", " =x"),
])
def test_neutralise(cell, expected):
    assert neutralise(cell) == expected


def test_to_csv_neutralises_every_cell_and_stays_valid_csv():
    text = to_csv(["name", "=total"], [["=cmd|' /C calc'!A0", "12.50"], ['say "hi"', "@x"]])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["name", "'=total"], ["'=cmd|' /C calc'!A0", "12.50"],
                    ['say "hi"', "'@x"]]
