"""Amperity-style file patterns: quoted literals, date tokens, and `*` that never crosses `/`."""

import datetime as dt

import pytest

from workflow_platform.formats.patterns import FilePattern

DOC_PATTERN = "'files/'yyyy'/'MM'/'dd'/customers-*.csv'"
DAY = dt.date(2020, 4, 10)


@pytest.mark.parametrize("name", ["customers-.csv", "customers-1.csv", "customers-hello-world.csv"])
def test_documented_matches(name):
    assert FilePattern.parse(DOC_PATTERN).matches(f"files/2020/04/10/{name}", DAY)


@pytest.mark.parametrize("name", ["customers.csv", "customers-0.json", "customers-.csv.0", "customers-0/1/file.csv"])
def test_documented_non_matches(name):
    assert not FilePattern.parse(DOC_PATTERN).matches(f"files/2020/04/10/{name}", DAY)


def test_date_tokens_resolve_to_the_run_day_only():
    pattern = FilePattern.parse(DOC_PATTERN)
    assert pattern.glob(DAY) == "files/2020/04/10/customers-*.csv"
    assert not pattern.matches("files/2020/04/11/customers-1.csv", DAY)
    assert pattern.dated


def test_unquoted_separators_and_compact_dates():
    pattern = FilePattern.parse("'exports/orders_'yyyyMMdd'.csv.gz'")
    assert pattern.matches("exports/orders_20201231.csv.gz", dt.date(2020, 12, 31))
    assert FilePattern.parse("'a/'yyyy-MM-dd'.csv'").matches("a/2021-02-03.csv", dt.date(2021, 2, 3))


def test_undated_pattern_matches_any_day():
    pattern = FilePattern.parse("'static/customers*.csv'")
    assert not pattern.dated
    assert pattern.matches("static/customers_all.csv")
    assert not pattern.matches("static/sub/customers.csv")


def test_doubled_quote_is_a_literal_quote():
    assert FilePattern.parse("'it''s_'yyyy'.csv'").matches("it's_2020.csv", DAY)


@pytest.mark.parametrize(
    "text, message",
    [
        ("'files/'yyyy'/customers.csv", "unclosed quote"),
        ("files/yyyy/customers.csv", "unexpected 'f'"),
        ("'../'yyyy'.csv'", "must stay inside"),
        ("'/etc/'yyyy'.csv'", "must stay inside"),
        ("", "empty"),
    ],
)
def test_bad_patterns_are_explained(text, message):
    with pytest.raises(ValueError, match=message):
        FilePattern.parse(text)
