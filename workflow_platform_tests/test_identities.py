"""The identity-resolution evaluation set: deterministic, truthful, loadable, and noisy at the documented rates."""

from __future__ import annotations

import csv
import datetime as dt
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from workflow_platform.catalog.loader import load_catalog
from workflow_platform.demo.identities import (
    COLUMNS,
    EVAL_SOURCES,
    JUNK_EMAILS,
    JUNK_NAMES,
    JUNK_PHONES,
    EvalSet,
    _typo,
    eval_catalog,
    generate_identities,
)
from workflow_platform.formats.patterns import FilePattern

DAY = "20260105"
NAME_COLUMNS = {"ecommerce": ("first_name", "last_name"), "loyalty": ("given_name", "surname"),
                "pos": ("first_name", "last_name"), "email_list": ("first_name", "last_name")}
POSTAL_COLUMN = {"ecommerce": "zip", "loyalty": "postal_code", "pos": "zip", "email_list": "zip"}
BIRTHDATE_COLUMN = {"ecommerce": ("birth_date", "%Y-%m-%d"), "loyalty": ("dob", "%m/%d/%Y")}


@dataclass
class Generated:
    ev: EvalSet
    rows: dict[str, list[dict[str, str]]]  # source -> rows
    truth: list[dict[str, str]]
    person_of: dict[tuple[str, str], str]  # (source, pk) -> person_id
    household_of: dict[str, str]  # person_id -> household_id ('' alone)

    def person_rows(self) -> dict[str, list[tuple[str, dict[str, str]]]]:
        """person_id -> [(source, row)]"""
        out: dict[str, list[tuple[str, dict[str, str]]]] = defaultdict(list)
        for source, rows in self.rows.items():
            for row in rows:
                out[self.person_of[(source, row[COLUMNS[source][0]])]].append((source, row))
        return out


def read(ev: EvalSet) -> Generated:
    rows = {}
    for source in EVAL_SOURCES:
        with (ev.landing / f"{source}_{DAY}.csv").open(newline="") as f:
            rows[source] = list(csv.DictReader(f))
    with ev.truth_path.open(newline="") as f:
        truth = list(csv.DictReader(f))
    person_of = {(t["source"], t["pk"]): t["person_id"] for t in truth}
    household_of = {t["person_id"]: t["household_id"] for t in truth}
    return Generated(ev, rows, truth, person_of, household_of)


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Generated:
    return read(generate_identities(tmp_path_factory.mktemp("ident") / "landing", 20_000, seed=7))


def share(values: list[bool]) -> float:
    return sum(values) / len(values)


def test_catalog_loads_and_describes_the_files(big: Generated, tmp_path: Path):
    (tmp_path / "catalog.yaml").write_text(big.ev.catalog_yaml)
    assert big.ev.catalog_yaml == eval_catalog(DAY)
    catalog = load_catalog(tmp_path)
    assert [c.name for c in catalog.couriers] == list(EVAL_SOURCES)
    assert [g.name for g in catalog.courier_groups] == ["full"]
    assert catalog.courier_groups[0].run_type == "full"
    assert [d.name for d in catalog.databases] == ["c360"]
    feeds = {f.name: f for f in catalog.feeds}
    assert {s: feeds[s].priority for s in EVAL_SOURCES} == {"loyalty": 1, "ecommerce": 2, "pos": 3, "email_list": 4}
    for courier in catalog.couriers:
        assert FilePattern.parse(courier.pattern).matches(f"{courier.name}_{DAY}.csv", dt.date(2026, 1, 5))
        with (big.ev.landing / f"{courier.name}_{DAY}.csv").open() as f:
            header = next(csv.reader(f))
        assert header == [c.name for c in feeds[courier.feed].columns]
    assert "fk-loyalty" in next(c.tag for c in feeds["pos"].columns if c.name == "loyalty_number")


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path):
    def files(folder: Path, seed: int) -> dict[str, bytes]:
        ev = generate_identities(folder / "landing", 3000, seed=seed)
        return {p.name: p.read_bytes() for p in [*sorted(ev.landing.iterdir()), ev.truth_path]}

    first = files(tmp_path / "a", 7)
    assert first == files(tmp_path / "b", 7)
    assert sorted(first) == sorted([f"{s}_{DAY}.csv" for s in EVAL_SOURCES] + ["truth.csv"])
    other = files(tmp_path / "c", 8)
    assert all(first[name] != other[name] for name in first)


@pytest.mark.parametrize("records", [200, 5_000])
def test_record_count_is_close_to_the_request(tmp_path: Path, records: int):
    ev = generate_identities(tmp_path / "landing", records, truth_path=tmp_path / "elsewhere" / "t.csv")
    written = sum(len(list(csv.reader((ev.landing / f"{s}_{DAY}.csv").open()))) - 1 for s in EVAL_SOURCES)
    assert written == ev.records
    assert abs(ev.records - records) <= 0.03 * records
    assert ev.truth_path == tmp_path / "elsewhere" / "t.csv" and ev.truth_path.exists()
    assert 1.9 <= ev.records / ev.people <= 2.4


def test_truth_covers_every_record_once_with_unique_keys(big: Generated):
    ev = big.ev
    assert ev.truth_path == ev.landing.parent / "truth.csv"
    assert abs(ev.records - 20_000) <= 600
    keys = [(t["source"], t["pk"]) for t in big.truth]
    assert len(keys) == len(set(keys)) == ev.records
    rows = {(s, r[COLUMNS[s][0]]) for s, rs in big.rows.items() for r in rs}
    assert rows == set(keys)
    assert len({t["person_id"] for t in big.truth}) == ev.people
    for source, prefix in zip(EVAL_SOURCES, "ELPM"):
        assert all(re.fullmatch(prefix + r"\d{7}", r[COLUMNS[source][0]]) for r in big.rows[source])
    # shuffled: the first rows of a file are not one person's records in a row
    first = [big.person_of[("pos", r["pos_customer_id"])] for r in big.rows["pos"][:200]]
    assert first != sorted(first)


def test_people_sources_and_presence_are_at_their_rates(big: Generated):
    people = big.person_rows()
    assert 2.0 <= big.ev.records / big.ev.people <= 2.25
    assert 0.30 <= share([bool(h) for h in big.household_of.values()]) <= 0.40
    for source, expected in zip(EVAL_SOURCES, (0.55, 0.45, 0.50, 0.35)):
        in_source = share([any(s == source for s, _ in records) for records in people.values()])
        assert expected - 0.02 <= in_source <= expected + 0.07  # people in no source are added to one
    assert max(sum(s == "loyalty" for s, _ in records) for records in people.values()) == 1

    def present(source: str, column: str) -> float:
        return share([r[column] != "" for r in big.rows[source]])

    expected = {("ecommerce", "birth_date"): 0.30, ("ecommerce", "email"): 1.0, ("ecommerce", "phone"): 0.85,
                ("loyalty", "dob"): 0.90, ("loyalty", "email"): 0.85, ("loyalty", "gender"): 0.95,
                ("pos", "email"): 0.60, ("pos", "phone"): 0.89, ("pos", "zip"): 0.85,
                ("email_list", "email"): 1.0, ("email_list", "first_name"): 0.85,
                ("email_list", "last_name"): 0.77, ("email_list", "zip"): 0.70}
    for (source, column), rate in expected.items():
        assert abs(present(source, column) - rate) <= 0.03, (source, column, present(source, column))
    # the till finds a customer by phone, email or loyalty card: every till record carries one
    assert all(r["phone"] or r["email"] or r["loyalty_number"] for r in big.rows["pos"])

    # the loyalty number on till records: only for members, their member id, about half the time
    member_of = {big.person_of[("loyalty", r["member_id"])]: r["member_id"] for r in big.rows["loyalty"]}
    linked = []
    for row in big.rows["pos"]:
        person = big.person_of[("pos", row["pos_customer_id"])]
        if person in member_of:
            linked.append(row["loyalty_number"] != "")
            assert row["loyalty_number"] in ("", member_of[person])
        else:
            assert row["loyalty_number"] == ""
    assert 0.45 <= share(linked) <= 0.55


def test_junk_values_are_present_at_small_rates(big: Generated):
    emails = [r["email"] for rs in big.rows.values() for r in rs if r.get("email")]
    phones = [r[c] for s, c in (("ecommerce", "phone"), ("loyalty", "mobile"), ("pos", "phone"))
              for r in big.rows[s] if r[c]]
    names = [(r[g], r[s]) for source, (g, s) in NAME_COLUMNS.items() for r in big.rows[source]]
    junk_email = [e in JUNK_EMAILS for e in emails]
    assert 0.01 <= share(junk_email) <= 0.02
    assert {e for e in emails if e in JUNK_EMAILS} == set(JUNK_EMAILS)
    assert 0.006 <= share([p in JUNK_PHONES for p in phones]) <= 0.014
    junk_names = sum(n in JUNK_NAMES or n in [(g.upper(), s.upper()) for g, s in JUNK_NAMES] for n in names)
    assert 0.001 <= junk_names / len(names) <= 0.006
    # apart from junk, no email address is shared by two people
    owners: dict[str, set[str]] = defaultdict(set)
    for source, rows in big.rows.items():
        for r in rows:
            email = r.get("email", "").strip().lower()
            if email and email not in JUNK_EMAILS:
                owners[re.sub(r"\+[a-z]+@", "@", email)].add(big.person_of[(source, r[COLUMNS[source][0]])])
    assert max(len(p) for p in owners.values()) == 1


def test_names_are_noisy_but_mostly_true(big: Generated):
    # a person's most common given name stands for the true one; ~10% of records differ from it (ignoring case)
    differs = []
    for records in big.person_rows().values():
        givens = [row[NAME_COLUMNS[s][0]].lower() for s, row in records if row[NAME_COLUMNS[s][0]]]
        if len(givens) >= 3:
            mode, count = Counter(givens).most_common(1)[0]
            if count >= 2:
                differs += [g != mode for g in givens]
    assert 0.06 <= share(differs) <= 0.15


def test_households_share_surname_and_address_but_not_given_name_or_birthdate(big: Generated):
    def mode(values: list[str]) -> str | None:
        values = [v for v in values if v]
        return Counter(values).most_common(1)[0][0] if values else None

    members: dict[str, list[dict[str, str | None]]] = defaultdict(list)
    for person, records in big.person_rows().items():
        household = big.household_of[person]
        if not household:
            continue
        members[household].append({
            "given": mode([row[NAME_COLUMNS[s][0]].upper() for s, row in records]),
            "surname": mode([row[NAME_COLUMNS[s][1]].upper() for s, row in records]),
            "postal": mode([row[POSTAL_COLUMN[s]][:5] for s, row in records]),
            "birthdate": mode([dt.datetime.strptime(row[BIRTHDATE_COLUMN[s][0]], BIRTHDATE_COLUMN[s][1]).date()
                               .isoformat() for s, row in records if s in BIRTHDATE_COLUMN
                               and row[BIRTHDATE_COLUMN[s][0]]]),
        })
    households = [m for m in members.values() if len(m) >= 2]
    assert len(households) > 500
    assert Counter(len(m) for m in households).most_common(1)[0][0] == 2

    def agree(field: str) -> float:  # share of members holding their household's most common value
        hits = total = 0
        for people in households:
            values = [p[field] for p in people if p[field]]
            if len(values) >= 2:
                hits += Counter(values).most_common(1)[0][1]
                total += len(values)
        return hits / total

    def distinct(field: str) -> float:  # share of households whose members' values all differ
        flags = []
        for people in households:
            values = [p[field] for p in people if p[field]]
            if len(values) >= 2:
                flags.append(len(set(values)) == len(values))
        return share(flags)

    assert agree("postal") >= 0.9
    assert 0.75 <= agree("surname") <= 0.95
    assert distinct("given") >= 0.97
    assert distinct("birthdate") >= 0.99


def test_typo_is_one_edit():
    def osa(a: str, b: str) -> int:  # optimal string alignment distance
        d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
                if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
        return d[-1][-1]

    rnd = random.Random(3).random
    for word in ["Jennifer", "Smith", "Christopher", "Li", "Oak", "Anna", "Washington"] * 30:
        typo = _typo(word, rnd)
        assert typo[0] == word[0]
        assert osa(word, typo) == (0 if len(word) < 3 else 1), (word, typo)
