"""Synthetic landing files for the demo tenant (Acme Outfitters) plus the ground truth of who is who.

`generate_demo_data` writes, for each day of a window, the files the demo catalog's couriers pick up:
web-shop customers (CSV, full load then deltas), loyalty members (gzip TSV, snapshot then deltas),
in-store order lines (one CSV per store) and web orders (NDJSON, missing on some days). People carry
realistic noise (nicknames, typos, formatting, missing and junk values, changed emails, moves) and live
in households, so the output exercises identity resolution; `ground_truth.csv` says which records
belong to the same person and household.

The files tell the demo's story (README, "What the demo shows"):
- order history: the first day's order files also carry the year before the window (`orders-history.csv` among
  the first day's store files, and the past web orders in the first day's NDJSON file). A share of the people
  stopped buying long ago, so the segment `lapsed_customers` (last order more than LAPSED_AFTER_DAYS days ago)
  and the campaign that reads it have an audience;
- a missing optional file: the web orders of one day inside the window are never written (the courier
  `ecommerce_orders` is `optional`, so its load warns and goes on);
- a late file (on request, `late_day`): that day's web-shop customer extract is written to `late_dir` instead of
  the landing folder; `deliver_late` moves it in later, and the courier group's sensor loads it in a catch-up run.

Everything derives from `random.Random(seed)` and the dates, so the same arguments give byte-identical
files.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import functools
import gzip
import io
import itertools
import json
import os
import random
import re
import shutil
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from rich.progress import Progress

from workflow_platform.catalog.models import StitchSettings

T = TypeVar("T")

WEB = "ecommerce_customers"
LOYALTY = "loyalty_members"
POS = "pos_orders"
WEB_ORDERS = "ecommerce_orders"

WEB_COLUMNS = ("customer_id", "first_name", "last_name", "email", "phone", "address", "city", "state", "zip",
               "birth_date", "gender", "updated_at")
LOYALTY_COLUMNS = ("member_id", "given_name", "surname", "email", "mobile", "street", "city", "state",
                   "postal_code", "dob", "tier", "joined_on")
POS_COLUMNS = ("order_line_id", "order_id", "member_id", "store_id", "order_ts", "product_id", "quantity",
               "revenue", "is_return")
TRUTH_COLUMNS = ("source", "pk", "person_id", "household_id")
# feed -> its (given name, surname, email, phone, birthdate) columns and birthdate format
IDENTITY_COLUMNS = {
    WEB: (("first_name", "last_name", "email", "phone", "birth_date"), "%Y-%m-%d"),
    LOYALTY: (("given_name", "surname", "email", "mobile", "dob"), "%m/%d/%Y"),
}

# --------------------------------------------------------------------------- rates
WEB_SHARE, LOYALTY_SHARE, DUPLICATE_SHARE = 0.70, 0.50, 0.03  # of people
HOUSEHOLD_GROUP_SHARE = 0.0614  # chance a new address is a 2-4 person household: ~15% of people
HARD_CASE_SHARE = 0.04  # of people with several records: deliberately unlinkable
NEW_SHARE, UPDATE_SHARE = 0.01, 0.02  # of a source's records, per delta day
MISSING_EMAIL, JUNK_EMAIL, MISSING_PHONE, JUNK_PHONE, MISSING_BIRTHDATE = 0.03, 0.02, 0.05, 0.02, 0.05
GIVEN_TYPO, SURNAME_TYPO, LOYALTY_NICKNAME = 0.02, 0.015, 0.30
TYPO_FIX_SHARE = 0.15  # chance per day that a web account with a typo gets corrected
POS_ORDERS_PER_PERSON, WEB_ORDERS_PER_ACCOUNT = 0.15, 0.05  # per day
MEMBER_ORDER_SHARE, RETURN_SHARE, BAD_VALUE_SHARE = 0.70, 0.03, 0.002

# --------------------------------------------------------------------------- order history (the lapsed audience)
# The demo catalog's segment lapsed_customers selects customers whose last order is more than 90 days old
# (`last_order_date < current_date - INTERVAL 90 DAY`); the history reaches four such periods back, and a share of
# the people stopped buying somewhere in it before that cutoff. Who is lapsed follows from each person's orders
# (churned people, and the occasional shopper whose last order happens to be that old), not from a count.
LAPSED_AFTER_DAYS = 90
HISTORY_DAYS = 4 * LAPSED_AFTER_DAYS
CHURN_SHARE = 0.20  # of the people with an account or a membership on the first day
HISTORY_ORDERS_PER_YEAR = 1.5  # per person, times their activity
HISTORY_STORE_SHARE = 0.65  # of the past orders of a person with a web account and a membership: in a store
HISTORY_FILE = "orders-history.csv"  # among the first day's store files

# --------------------------------------------------------------------------- reference data
MALE_NAMES = ["James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas", "Charles", "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Paul", "Andrew", "Joshua", "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald", "Edward", "Jason", "Jeffrey", "Ryan", "Jacob", "Gary", "Nicholas", "Eric", "Jonathan", "Stephen", "Lawrence", "Justin", "Scott", "Brandon", "Benjamin", "Samuel", "Gregory", "Alexander", "Frank", "Patrick", "Raymond", "Dennis", "Gerald", "Tyler", "Aaron", "Jose", "Adam", "Nathan", "Henry", "Douglas", "Zachary", "Peter", "Kyle", "Ethan", "Walter", "Noah", "Jeremy", "Christian", "Keith", "Roger", "Harold", "Sean", "Austin", "Carl", "Arthur", "Dylan", "Jesse", "Jordan", "Bryan", "Bruce", "Gabriel", "Logan", "Albert", "Alan", "Juan", "Wayne", "Elijah", "Randy", "Roy", "Vincent", "Ralph", "Eugene", "Russell", "Mason", "Philip", "Louis", "Frederick", "Nathaniel", "Theodore", "Marcus", "Luis", "Carlos", "Miguel", "Oscar", "Victor", "Martin", "Howard"]
FEMALE_NAMES = ["Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen", "Lisa", "Nancy", "Betty", "Margaret", "Sandra", "Ashley", "Kimberly", "Emily", "Donna", "Michelle", "Carol", "Amanda", "Dorothy", "Melissa", "Deborah", "Stephanie", "Rebecca", "Sharon", "Laura", "Cynthia", "Kathleen", "Amy", "Angela", "Shirley", "Anna", "Brenda", "Pamela", "Emma", "Nicole", "Helen", "Samantha", "Katherine", "Christine", "Debra", "Rachel", "Carolyn", "Janet", "Catherine", "Maria", "Heather", "Diane", "Ruth", "Julie", "Olivia", "Joyce", "Virginia", "Victoria", "Kelly", "Lauren", "Christina", "Joan", "Evelyn", "Judith", "Megan", "Andrea", "Cheryl", "Hannah", "Jacqueline", "Martha", "Gloria", "Teresa", "Ann", "Sara", "Madison", "Frances", "Kathryn", "Janice", "Jean", "Abigail", "Alice", "Sophia", "Grace", "Denise", "Amber", "Doris", "Marilyn", "Danielle", "Beverly", "Isabella", "Theresa", "Diana", "Natalie", "Brittany", "Charlotte", "Marie", "Kayla", "Alexis", "Lori", "Alexandra", "Rosa", "Yolanda", "Lucia"]
NICKNAMES = {
    "Robert": "Bob", "William": "Bill", "Elizabeth": "Liz", "Katherine": "Kate", "James": "Jim", "John": "Johnny",
    "Michael": "Mike", "Richard": "Rick", "Joseph": "Joe", "Thomas": "Tom", "Charles": "Chuck",
    "Christopher": "Chris", "Daniel": "Dan", "Matthew": "Matt", "Anthony": "Tony", "Donald": "Don",
    "Steven": "Steve", "Andrew": "Andy", "Joshua": "Josh", "Kenneth": "Ken", "Timothy": "Tim", "Ronald": "Ron",
    "Edward": "Ed", "Jeffrey": "Jeff", "Nicholas": "Nick", "Jonathan": "Jon", "Benjamin": "Ben",
    "Samuel": "Sam", "Gregory": "Greg", "Alexander": "Alex", "Patrick": "Pat", "Raymond": "Ray",
    "Gerald": "Jerry", "Douglas": "Doug", "Zachary": "Zach", "Lawrence": "Larry", "Frederick": "Fred",
    "Nathaniel": "Nate", "Theodore": "Ted", "Philip": "Phil", "Vincent": "Vince", "Eugene": "Gene",
    "Russell": "Russ", "Walter": "Walt", "Patricia": "Patty", "Jennifer": "Jen", "Susan": "Sue",
    "Jessica": "Jess", "Margaret": "Peggy", "Kimberly": "Kim", "Deborah": "Deb", "Rebecca": "Becky",
    "Cynthia": "Cindy", "Kathleen": "Kathy", "Pamela": "Pam", "Samantha": "Sam", "Christine": "Chris",
    "Catherine": "Cathy", "Victoria": "Vicky", "Jacqueline": "Jackie", "Abigail": "Abby", "Theresa": "Terri",
    "Alexandra": "Alex", "Judith": "Judy", "Barbara": "Barb", "Stephanie": "Steph", "Madison": "Maddie",
    "Christina": "Tina", "Kathryn": "Katie", "Danielle": "Dani", "Isabella": "Bella", "Natalie": "Nat",
    "Melissa": "Missy", "Amanda": "Mandy", "Virginia": "Ginny", "Frances": "Fran", "Dorothy": "Dot",
}
SURNAMES = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson", "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez", "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler", "Henderson", "Barnes", "Gonzales", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan", "Patterson", "Alexander", "Hamilton", "Graham", "Reynolds", "Griffin", "Wallace", "Moreno", "West", "Cole", "Hayes", "Bryant", "Herrera", "Gibson", "Ellis", "Tran", "Medina", "Aguilar", "Stevens", "Murray", "Ford", "Castro", "Marshall", "Owens", "Harrison", "Fernandez", "McDonald", "Woods", "Washington", "Kennedy", "Wells", "Vargas", "Henry", "Chen", "Freeman", "Webb", "Tucker", "Guzman", "Burns", "Crawford", "Olson", "Simpson", "Porter", "Hunter", "Gordon", "Mendez", "Silva", "Shaw", "Snyder", "Mason", "Dixon", "Munoz", "Hunt", "Hicks", "Holmes", "Palmer", "Wagner", "Black", "Robertson", "Boyd", "Rose", "Stone", "Salazar", "Fox", "Warren", "Mills", "Meyer", "Rice", "Schmidt", "Garza", "Daniels", "Ferguson", "Nichols", "Stephens", "Soto", "Weaver", "Ryan", "Gardner", "Payne", "Grant", "Dunn", "Kelley", "Spencer", "Hawkins", "Arnold", "Pierce", "Hansen", "Peters", "Santos", "Hart", "Bradley", "Knight", "Elliott", "Cunningham", "Duncan", "Armstrong", "Hudson", "Carroll", "Lane", "Riley", "Andrews", "O'Brien", "O'Connor"]
CITIES = [  # city, state, ZIP, area code
    ("Seattle", "WA", "98101", "206"), ("Tacoma", "WA", "98402", "253"), ("Portland", "OR", "97205", "503"),
    ("San Francisco", "CA", "94103", "415"), ("Los Angeles", "CA", "90012", "213"), ("San Diego", "CA", "92101", "619"),
    ("Sacramento", "CA", "95814", "916"), ("Phoenix", "AZ", "85004", "602"), ("Denver", "CO", "80202", "303"),
    ("Salt Lake City", "UT", "84101", "801"), ("Las Vegas", "NV", "89101", "702"), ("Boise", "ID", "83702", "208"),
    ("Austin", "TX", "78701", "512"), ("Dallas", "TX", "75201", "214"), ("Houston", "TX", "77002", "713"),
    ("Chicago", "IL", "60601", "312"), ("Minneapolis", "MN", "55401", "612"), ("Kansas City", "MO", "64105", "816"),
    ("St. Louis", "MO", "63101", "314"), ("Detroit", "MI", "48226", "313"), ("Columbus", "OH", "43215", "614"),
    ("Indianapolis", "IN", "46204", "317"), ("Nashville", "TN", "37203", "615"), ("Atlanta", "GA", "30303", "404"),
    ("Miami", "FL", "33130", "305"), ("Orlando", "FL", "32801", "407"), ("Charlotte", "NC", "28202", "704"),
    ("Raleigh", "NC", "27601", "919"), ("Philadelphia", "PA", "19103", "215"), ("New York", "NY", "10001", "212"),
    ("Boston", "MA", "02108", "617"), ("Baltimore", "MD", "21201", "410"),
]
STREETS = ["Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Sunset", "Lincoln", "Jackson", "Church", "Highland", "Ridge", "River", "Spring", "Meadow", "Forest", "Willow", "Chestnut", "Walnut", "Franklin", "Madison", "Jefferson", "Adams", "Lakeview", "Cherry", "Hickory", "Birch", "Magnolia", "Valley", "Center", "Mill", "Union", "Prospect", "Summit", "Broad", "Railroad"]
SUFFIXES = [("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd"), ("Boulevard", "Blvd"), ("Drive", "Dr"),
            ("Lane", "Ln"), ("Court", "Ct"), ("Place", "Pl")]
EMAIL_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "comcast.net",
                 "att.net", "protonmail.com"]
EMAIL_DOMAIN_CUM = [35, 50, 62, 72, 82, 87, 92, 97, 100]  # *_CUM: cumulative weights for _pick
JUNK_EMAILS = ["test@test.com", "noemail@acme.com", "none@none.com"]
JUNK_PHONES = ["0000000000", "1234567890", "5555555555"]
STORES = ["S01", "S02", "S03", "S04", "S05"]
STORE_WEIGHTS = [35, 25, 20, 12, 8]
CLOSED_ON_SUNDAY = "S05"
TIERS, TIER_CUM = ["bronze", "silver", "gold"], [60, 90, 100]
WEB_PHONE_STYLES, WEB_PHONE_CUM = ["paren", "dash", "plain"], [60, 85, 100]
LOYALTY_PHONE_STYLES, LOYALTY_PHONE_CUM = ["dot", "intl", "one"], [50, 90, 100]
BASKET_SIZES, BASKET_CUM = [1, 2, 3, 4], [45, 75, 90, 100]
QUANTITIES, QUANTITY_CUM = [1, 2, 3], [75, 93, 100]


@dataclass(frozen=True)
class DemoSummary:
    """What `generate_demo_data` wrote: landing files relative to `out`, rows per feed (the held-back files
    included), the number of people with at least one customer or member record, and where the ground truth is;
    the story: files held back for late delivery (relative to `late_dir`), optional files left out on purpose
    (relative paths never written), and the people whose last order is more than LAPSED_AFTER_DAYS days before
    the day after the window."""

    files: list[str]
    rows: dict[str, int]
    people: int
    truth_path: Path
    start: dt.date
    end: dt.date
    late: list[str] = field(default_factory=list)
    late_dir: Path | None = None
    left_out: list[str] = field(default_factory=list)
    lapsed: int = 0


@dataclass(frozen=True, slots=True)
class Address:
    """A street address (`city` indexes CITIES); `line` spells the street suffix out or abbreviates it."""

    number: int
    street: str
    suffix: int
    unit: str
    city: int
    plus4: str

    def line(self, abbreviate: bool) -> str:
        full, short = SUFFIXES[self.suffix]
        text = f"{self.number} {self.street} {short if abbreviate else full}"
        return f"{text} Apt {self.unit}" if self.unit else text


@dataclass(slots=True)
class Person:
    """One real person. A `hard` person's web and loyalty records share no exact key on purpose."""

    pid: str
    hid: str
    household_size: int
    given: str
    surname: str
    gender: str
    birth: dt.date
    email: str
    phone: str
    address: Address
    activity: float
    hard: bool = False
    alt_phone: str = ""
    churned: bool = False  # stopped buying before the window (no orders in the daily files)
    last_order: dt.date | None = None  # of the orders written for them (history and daily files)

    @property
    def nickname(self) -> str | None:
        return NICKNAMES.get(self.given)


@dataclass(slots=True)
class Record:
    """One customer account or loyalty membership and every version of its row, by day index."""

    feed: str
    person: Person
    day: int
    pk: str = ""
    typo: bool = False
    versions: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    @property
    def row(self) -> dict[str, str]:
        return self.versions[-1][1]


# --------------------------------------------------------------------------- normalization (as Stitch does it)
_SETTINGS = StitchSettings()
_EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@functools.cache
def clean_name(value: str) -> str | None:
    """Uppercase, accents and punctuation removed, spaces collapsed (feeds.semantics.clean_text)."""
    text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().upper()
    text = re.sub(r"\s+", " ", re.sub(r"[^A-Z0-9 ]+", " ", re.sub(r"['.]", "", text))).strip()
    return text or None


def clean_email(value: str) -> str | None:
    """Trimmed and lowercased; None when empty, blocklisted or not shaped like an email."""
    text = value.strip(" ").lower()
    if not text or not _EMAIL_SHAPE.fullmatch(text):
        return None
    for entry in _SETTINGS.email_blocklist:
        if text.endswith(entry) if entry.startswith("@") else text.startswith(entry):
            return None
    return text


def clean_phone(value: str) -> str | None:
    """The last 10 digits; None when shorter, blocklisted or one repeated digit."""
    digits = re.sub(r"[^0-9]", "", value)[-10:]
    if len(digits) < 10 or digits in _SETTINGS.phone_blocklist or len(set(digits)) == 1:
        return None
    return digits


def link_keys(feed: str, row: dict[str, str]) -> list[str]:
    """The exact keys the deterministic Stitch rules link a customer or member row on."""
    (given_col, surname_col, email_col, phone_col, birth_col), birth_format = IDENTITY_COLUMNS[feed]
    given, surname = clean_name(row[given_col]), clean_name(row[surname_col])
    email, phone = clean_email(row[email_col]), clean_phone(row[phone_col])
    keys = []
    if email:
        keys.append(f"email:{email}")
    if phone and surname:
        keys.append(f"phone_surname:{phone}|{surname}")
    if given and surname and row[birth_col]:
        birth = dt.datetime.strptime(row[birth_col], birth_format).date()
        keys.append(f"name_birthdate:{given}|{surname}|{birth.isoformat()}")
    return keys


def all_linked(records: list[Record]) -> bool:
    """Whether the latest rows of `records` form one cluster under the exact-key rules."""
    joined, *pending = (set(link_keys(r.feed, r.row)) for r in records)
    while pending:
        rest = []
        for keys in pending:
            if joined & keys:
                joined |= keys
            else:
                rest.append(keys)
        if len(rest) == len(pending):
            return False
        pending = rest
    return True


# --------------------------------------------------------------------------- formatting
def _phone_text(digits: str, style: str) -> str:
    a, b, c = digits[:3], digits[3:6], digits[6:]
    return {"paren": f"({a}) {b}-{c}", "dash": f"{a}-{b}-{c}", "plain": digits, "dot": f"{a}.{b}.{c}",
            "intl": f"+1 {a} {b} {c}", "one": f"1{digits}"}[style]


def _time(day: str, seconds: int) -> str:
    """`yyyy-MM-dd HH:mm:ss` for `seconds` after midnight of the ISO date `day`."""
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{day} {hour:02d}:{minute:02d}:{second:02d}"


def _pick(rng: random.Random, items: Sequence[T], cumulative_weights: list[float]) -> T:
    """One weighted random item (what `rng.choices(...)[0]` does, without its overhead)."""
    return items[bisect.bisect(cumulative_weights, rng.random() * cumulative_weights[-1], 0, len(items) - 1)]


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


class _Demo:
    """The generator's state: people, their records with every version, and the uniqueness registries."""

    def __init__(self, rng: random.Random, customers: int, days: int, start: dt.date):
        self.rng = rng
        self.customers = customers
        self.dates = [start + dt.timedelta(days=i) for i in range(days)]
        self.days = [d.isoformat() for d in self.dates]
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.addresses: set[tuple] = set()
        self.name_keys: dict[tuple, str] = {}  # (GIVEN, SURNAME, birthdate) -> person id
        self.rows: dict[str, list[list[dict[str, str]]]] = {WEB: [[] for _ in range(days)],
                                                            LOYALTY: [[] for _ in range(days)]}
        self.male_weights = list(itertools.accumulate(1 / (i + 10) for i in range(len(MALE_NAMES))))
        self.female_weights = list(itertools.accumulate(1 / (i + 10) for i in range(len(FEMALE_NAMES))))
        self.surname_weights = list(itertools.accumulate(1 / (i + 20) for i in range(len(SURNAMES))))
        self.products = [(f"P{1001 + i}", rng.randrange(499, 12999)) for i in range(120)]
        self.people: list[Person] = []
        self.web: list[Record] = []
        self.loyalty: list[Record] = []
        self.email_changes: dict[int, list[Record]] = {}  # day -> hard-case web accounts changing email
        self.store_cum = list(itertools.accumulate(STORE_WEIGHTS))
        self.history_lines: list[list[str]] = []  # POS lines of the orders before the window
        self.history_web: list[str] = []  # NDJSON lines of the web orders before the window

    # ----------------------------------------------------------------------- people
    def make_people(self) -> None:
        """People in households of 1-4 that share surname and address; emails, phones and name + birthdate
        keys are unique per person."""
        rng = self.rng
        households = 0
        while len(self.people) < self.customers:
            size = rng.choices((2, 3, 4), weights=(50, 30, 20))[0] if rng.random() < HOUSEHOLD_GROUP_SHARE else 1
            size = min(size, self.customers - len(self.people))
            households += 1
            surname = _pick(rng, SURNAMES, self.surname_weights)
            address = self._new_address(rng.randrange(len(CITIES)))
            members: list[Person] = []
            for _ in range(size):
                members.append(self._new_person(f"H{households:07d}", size, surname, address, members))
            self.people.extend(members)

    def _new_person(self, hid: str, size: int, surname: str, address: Address, housemates: list[Person]) -> Person:
        rng = self.rng
        pid = f"P{len(self.people) + len(housemates) + 1:07d}"
        taken = {p.given for p in housemates} | {p.nickname for p in housemates if p.nickname}
        while True:
            gender = rng.choice("FM")
            names, weights = (FEMALE_NAMES, self.female_weights) if gender == "F" else (MALE_NAMES, self.male_weights)
            given = _pick(rng, names, weights)
            if given not in taken and NICKNAMES.get(given) not in taken:
                break
        forms = [given] + ([NICKNAMES[given]] if given in NICKNAMES else [])
        births = {p.birth for p in housemates}
        while True:
            birth = self.dates[0] - dt.timedelta(days=rng.randint(18 * 365, 85 * 365))
            keys = [(clean_name(g), clean_name(surname), birth) for g in forms]
            if birth not in births and all(k not in self.name_keys for k in keys):
                break
        for key in keys:
            self.name_keys[key] = pid
        return Person(pid, hid, size, given, surname, gender, birth, self._new_email(given, surname, birth),
                      self._new_phone(CITIES[address.city][3]), address, rng.lognormvariate(0, 1))

    def _new_email(self, given: str, surname: str, birth: dt.date) -> str:
        rng = self.rng
        g, s = re.sub("[^a-z]", "", given.lower()), re.sub("[^a-z]", "", surname.lower())
        local = rng.choice([f"{g}.{s}", f"{g}{s}", f"{g[0]}{s}", f"{g}_{s}", f"{g}.{s}{birth.year % 100:02d}",
                            f"{s}.{g}", f"{g}{s}{rng.randint(1, 99)}", f"{g[0]}.{s}{rng.randint(1, 99)}"])
        domain = _pick(rng, EMAIL_DOMAINS, EMAIL_DOMAIN_CUM)
        email = f"{local}@{domain}"
        while email in self.emails:
            email = f"{local}{rng.randint(100, 9999)}@{domain}"
        self.emails.add(email)
        return email

    def _new_phone(self, area: str) -> str:
        rng = self.rng
        while True:
            exchange = rng.randint(200, 999)
            phone = f"{area}{exchange}{rng.randrange(10000):04d}"
            if exchange != 555 and phone not in self.phones:
                self.phones.add(phone)
                return phone

    def _new_address(self, city: int) -> Address:
        rng = self.rng
        while True:
            unit = f"{rng.randint(1, 40)}{rng.choice('ABCD')}" if rng.random() < 0.15 else ""
            address = Address(rng.randint(100, 9999), rng.choice(STREETS), rng.randrange(len(SUFFIXES)), unit, city,
                              f"{rng.randrange(10000):04d}")
            key = (address.number, address.street, address.suffix, address.unit, address.city)
            if key not in self.addresses:
                self.addresses.add(key)
                return address

    # ----------------------------------------------------------------------- records
    def make_records(self) -> None:
        """Decide who has which records, when each appears, and their first rows."""
        rng = self.rng
        web_slots: list[Record] = []
        loyalty_slots: list[Record] = []
        for person in self.people:
            if rng.random() < WEB_SHARE:
                web_slots.append(Record(WEB, person, 0))
            if rng.random() < LOYALTY_SHARE:
                loyalty_slots.append(Record(LOYALTY, person, 0))
        members = {r.person.pid for r in loyalty_slots}
        both = [r.person for r in web_slots if r.person.pid in members]
        candidates = [p for p in both if p.nickname]
        for person in rng.sample(candidates, min(len(candidates), round(HARD_CASE_SHARE * len(both)))):
            person.hard = True
            person.alt_phone = self._new_phone(CITIES[person.address.city][3])
        duplicates = [Record(WEB, r.person, 0) for r in web_slots
                      if not r.person.hard and rng.random() < DUPLICATE_SHARE / WEB_SHARE]
        self.web = self._schedule(web_slots + duplicates, "E", 7)
        self.loyalty = self._schedule(loyalty_slots, "L", 6)
        first_account: dict[str, Record] = {}
        for record in self.web:
            duplicate = first_account.setdefault(record.person.pid, record) is not record
            self._add_version(record, record.day, self._web_row(record, duplicate))
            if record.person.hard and record.day == 0 and len(self.dates) > 1:  # its email changes later
                self.email_changes.setdefault(rng.randint(1, len(self.dates) - 1), []).append(record)
        for record in self.loyalty:
            self._add_version(record, record.day, self._loyalty_row(record))

    def _schedule(self, slots: list[Record], prefix: str, width: int) -> list[Record]:
        """Give each record its first day (most on day 0, ~1% per later day) and a pk in order of appearance."""
        rng = self.rng
        later = len(self.dates) - 1
        if later:
            new = min(round(NEW_SHARE * len(slots)) * later, len(slots) // 2)
            for i, index in enumerate(sorted(rng.sample(range(len(slots)), new))):
                slots[index].day = 1 + i % later
        rng.shuffle(slots)
        ordered = sorted(slots, key=lambda r: r.day)
        for number, record in enumerate(ordered, 1):
            record.pk = f"{prefix}{number:0{width}d}"
        return ordered

    def _add_version(self, record: Record, day: int, row: dict[str, str]) -> None:
        record.versions.append((day, row))
        self.rows[record.feed][day].append(row)

    def _names(self, record: Record, nickname_share: float) -> tuple[str, str]:
        """Given name and surname as this record shows them: as is, a nickname, or a one-letter typo."""
        person, rng = record.person, self.rng
        given, surname = person.given, person.surname
        r = rng.random()
        if person.nickname and (person.hard and record.feed == LOYALTY or r < nickname_share):
            return person.nickname, surname
        if r > 1 - GIVEN_TYPO:
            given = self._typo(given)
        elif r > 1 - GIVEN_TYPO - SURNAME_TYPO:
            surname = self._typo(surname)
        key = (clean_name(given), clean_name(surname), person.birth)
        if self.name_keys.setdefault(key, person.pid) != person.pid:
            return person.given, person.surname
        record.typo = (given, surname) != (person.given, person.surname)
        return given, surname

    def _typo(self, name: str) -> str:
        rng = self.rng
        for _ in range(10):
            i = rng.randrange(1, len(name))
            kind = rng.randrange(3)
            if kind == 0 and len(name) > 3:
                typo = name[:i] + name[i + 1:]
            elif kind == 1 and i < len(name) - 1:
                typo = name[:i] + name[i + 1] + name[i] + name[i + 2:]
            else:
                typo = name[:i] + rng.choice("aeioulnrst") + name[i + 1:]
            if clean_name(typo) and clean_name(typo) != clean_name(name):
                return typo
        return name

    def _email(self, email: str, feed: str) -> str:
        rng = self.rng
        r = rng.random()
        if r < MISSING_EMAIL:
            return ""
        if r < MISSING_EMAIL + JUNK_EMAIL:
            return rng.choice(JUNK_EMAILS)
        r = rng.random()
        if feed == LOYALTY and r < 0.15:
            return email.upper()
        if r < 0.07:
            return email.title()
        if r < 0.10:
            return f" {email} " if feed == LOYALTY else f"{email} "
        return email

    def _phone(self, phone: str, feed: str) -> str:
        rng = self.rng
        r = rng.random()
        if r < MISSING_PHONE:
            return ""
        if r < MISSING_PHONE + JUNK_PHONE:
            phone = rng.choice(JUNK_PHONES)
        return _phone_text(phone, self._phone_style(feed))

    def _phone_style(self, feed: str) -> str:
        if feed == WEB:
            return _pick(self.rng, WEB_PHONE_STYLES, WEB_PHONE_CUM)
        return _pick(self.rng, LOYALTY_PHONE_STYLES, LOYALTY_PHONE_CUM)

    def _web_row(self, record: Record, duplicate: bool) -> dict[str, str]:
        rng, person = self.rng, record.person
        given, surname = self._names(record, 0.0)
        if rng.random() < 0.03:
            given, surname = given.lower(), surname.lower()
        email, phone = person.email, person.phone
        if person.hard:
            phone = person.alt_phone
            if record.day > 0 or len(self.dates) == 1:
                email = self._new_email(person.given, person.surname, person.birth)
        elif duplicate and rng.random() < 0.5:
            email = self._new_email(person.given, person.surname, person.birth)
        city, state, zip5, _ = CITIES[person.address.city]
        gender = person.gender if rng.random() < 0.9 else ""
        return {
            "customer_id": record.pk, "first_name": given, "last_name": surname,
            "email": self._email(email, WEB), "phone": self._phone(phone, WEB),
            "address": person.address.line(rng.random() < 0.7), "city": city, "state": state, "zip": zip5,
            "birth_date": "" if rng.random() < MISSING_BIRTHDATE else person.birth.isoformat(),
            "gender": gender, "updated_at": _time(self.days[record.day], rng.randrange(86400)),
        }

    def _loyalty_row(self, record: Record) -> dict[str, str]:
        rng, person = self.rng, record.person
        given, surname = self._names(record, LOYALTY_NICKNAME)
        if rng.random() < 0.05:
            given, surname = given.upper(), surname.upper()
        day = self.dates[record.day]
        joined = day if record.day else day - dt.timedelta(days=rng.randint(1, 6 * 365))
        return {
            "member_id": record.pk, "given_name": given, "surname": surname,
            "email": self._email(person.email, LOYALTY), "mobile": self._phone(person.phone, LOYALTY),
            **self._loyalty_address(person.address),
            "dob": "" if rng.random() < MISSING_BIRTHDATE else person.birth.strftime("%m/%d/%Y"),
            "tier": _pick(rng, TIERS, TIER_CUM), "joined_on": joined.isoformat(),
        }

    def _loyalty_address(self, address: Address) -> dict[str, str]:
        city, state, zip5, _ = CITIES[address.city]
        street = address.line(False)
        return {"street": street.upper() if self.rng.random() < 0.2 else street, "city": city, "state": state,
                "postal_code": f"{zip5}-{address.plus4}" if self.rng.random() < 0.3 else zip5}

    # ----------------------------------------------------------------------- deltas
    def make_updates(self) -> None:
        """Re-send ~2% of each source's existing records per later day: new email, move, typo fix, tier."""
        rng = self.rng
        web_days = [r.day for r in self.web]
        loyalty_days = [r.day for r in self.loyalty]
        for day in range(1, len(self.dates)):
            existing = self.web[:bisect.bisect_left(web_days, day)]
            forced = self.email_changes.get(day, [])
            done = {r.pk for r in forced}
            chosen = [r for r in rng.sample(existing, min(len(existing), round(UPDATE_SHARE * len(self.web))))
                      if r.pk not in done]
            done.update(r.pk for r in chosen)
            fixes = [r for r in existing if r.typo and r.pk not in done and rng.random() < TYPO_FIX_SHARE]
            for record in forced:
                self._update_web(record, day, "email")
            for record in chosen + fixes:
                self._update_web(record, day, "fix" if record.typo else rng.choice(["email", "move"]))
            existing = self.loyalty[:bisect.bisect_left(loyalty_days, day)]
            for record in rng.sample(existing, min(len(existing), round(UPDATE_SHARE * len(self.loyalty)))):
                self._update_loyalty(record, day, rng.choices(["email", "move", "tier"], weights=[40, 30, 30])[0])

    def _move(self, person: Person) -> bool:
        """Move a person who lives alone to a new address in another city; False for household members."""
        if person.household_size > 1:
            return False
        city = self.rng.randrange(len(CITIES) - 1)
        person.address = self._new_address(city + (city >= person.address.city))
        return True

    def _update_web(self, record: Record, day: int, kind: str) -> None:
        rng, person = self.rng, record.person
        row = dict(record.row)
        if kind == "fix":
            row["first_name"], row["last_name"] = person.given, person.surname
            record.typo = False
        elif kind == "move" and self._move(person):
            city, state, zip5, _ = CITIES[person.address.city]
            row.update(address=person.address.line(rng.random() < 0.7), city=city, state=state, zip=zip5)
        else:
            person.email = self._new_email(person.given, person.surname, person.birth)
            row["email"] = person.email
        row["updated_at"] = _time(self.days[day], rng.randrange(86400))
        self._add_version(record, day, row)

    def _update_loyalty(self, record: Record, day: int, kind: str) -> None:
        person = record.person
        row = dict(record.row)
        if kind == "tier" and row["tier"] != "gold":
            row["tier"] = TIERS[TIERS.index(row["tier"]) + 1]
        elif kind == "move" and self._move(person):
            row.update(self._loyalty_address(person.address))
        else:
            person.email = self._new_email(person.given, person.surname, person.birth)
            row["email"] = person.email
        self._add_version(record, day, row)

    def repair_links(self) -> None:
        """Make every person with several records linkable on phone + surname, except the hard cases."""
        by_person: dict[str, list[Record]] = {}
        for record in self.web + self.loyalty:
            by_person.setdefault(record.person.pid, []).append(record)
        for records in by_person.values():
            person = records[0].person
            if len(records) < 2 or person.hard or all_linked(records):
                continue
            for record in records:
                _, surname_col, _, phone_col, _ = IDENTITY_COLUMNS[record.feed][0]
                style = "paren" if record.feed == WEB else "dot"
                for _, row in record.versions:
                    row[surname_col] = person.surname
                    row[phone_col] = _phone_text(person.phone, style)

    # ----------------------------------------------------------------------- order history
    def make_history(self) -> None:
        """The orders of the HISTORY_DAYS before the window of everyone with an account or a membership on the
        first day, at their activity's rate (a Poisson process). CHURN_SHARE of them stopped at a last order before
        the lapsed cutoff and buy nothing in the window. A member's store orders start when they joined; store
        orders without a member keep their daily share (1 - MEMBER_ORDER_SHARE)."""
        rng, first = self.rng, self.dates[0]
        begin = first - dt.timedelta(days=HISTORY_DAYS)
        cutoff = self.dates[-1] + dt.timedelta(days=1 - LAPSED_AFTER_DAYS)  # a last order before it is lapsed
        accounts: dict[str, Record] = {}
        for record in self.web:
            if record.day == 0:
                accounts.setdefault(record.person.pid, record)  # a duplicate account's orders go to the first one
        members = {r.person.pid: r for r in self.loyalty if r.day == 0}
        in_store: list[tuple[dt.date, int, str, str]] = []  # (day, seconds, store, member id)
        online: list[tuple[dt.date, int, str]] = []  # (day, seconds, customer id)
        for person in self.people:
            account, member = accounts.get(person.pid), members.get(person.pid)
            if not (account or member):
                continue
            joined = dt.date.fromisoformat(member.row["joined_on"]) if member else first
            earliest = begin if account else max(begin, joined)
            last = first
            if rng.random() < CHURN_SHARE and earliest < cutoff:
                person.churned = True
                last = earliest + dt.timedelta(days=rng.randrange((cutoff - earliest).days))
            rate = HISTORY_ORDERS_PER_YEAR * person.activity / 365  # orders per day
            span, days, elapsed = (last - earliest).days, [], rng.expovariate(rate)
            while elapsed < span:
                days.append(earliest + dt.timedelta(days=int(elapsed)))
                elapsed += rng.expovariate(rate)
            if person.churned:
                days.append(last)  # the last order they placed
            for day in days:
                if member and day >= joined and (account is None or rng.random() < HISTORY_STORE_SHARE):
                    in_store.append((day, 9 * 3600 + rng.randrange(12 * 3600), self._store(day), member.pk))
                else:
                    online.append((day, rng.randrange(86400), account.pk))
                person.last_order = max(person.last_order or day, day)
        anonymous = round(len(in_store) * (1 - MEMBER_ORDER_SHARE) / MEMBER_ORDER_SHARE)
        for _ in range(anonymous):
            day = begin + dt.timedelta(days=rng.randrange(HISTORY_DAYS))
            in_store.append((day, 9 * 3600 + rng.randrange(12 * 3600), self._store(day), ""))
        self.history_lines = self._store_lines(sorted(in_store))
        self._spoil([self.history_lines])
        self.history_web = self._web_lines(sorted(online))

    def _store(self, day: dt.date) -> str:
        """A store open on `day`, by the stores' weights."""
        while (store := _pick(self.rng, STORES, self.store_cum)) == CLOSED_ON_SUNDAY and day.weekday() == 6:
            pass
        return store

    def _store_lines(self, orders: list[tuple[dt.date, int, str, str]]) -> list[list[str]]:
        """POS lines of past orders (sorted by day): ids numbered per store and day, as the daily files do."""
        rng, rows, seqs = self.rng, [], Counter()
        for day, seconds, store, member in orders:
            seqs[store, day] += 1
            order_id, ordered = f"{store}-{day:%Y%m%d}-{seqs[store, day]:06d}", _time(day.isoformat(), seconds)
            is_return = "true" if rng.random() < RETURN_SHARE else "false"
            for line, (product, quantity, cents) in enumerate(self._basket(), 1):
                rows.append([f"{order_id}-{line}", order_id, member, store, ordered, product, str(quantity),
                             _money(cents), is_return])
        return rows

    def _web_lines(self, orders: list[tuple[dt.date, int, str]]) -> list[str]:
        """NDJSON lines of past web and app orders (sorted by day), numbered per day as the daily files do."""
        rng, lines, seqs = self.rng, [], Counter()
        for day, seconds, customer in orders:
            seqs[day] += 1
            cents = sum(cents for _, _, cents in self._basket())
            lines.append(json.dumps({"order_id": f"W{day:%Y%m%d}{seqs[day]:06d}", "customer_id": customer,
                                     "ordered_at": _time(day.isoformat(), seconds), "total": cents / 100,
                                     "channel": "web" if rng.random() < 0.6 else "app"}))
        return lines

    # ----------------------------------------------------------------------- orders
    def pos_files(self, day: int) -> list[tuple[str, list[list[str]]]]:
        """(store, rows) for each store with orders on `day`, including a few values that fail typing."""
        rng, date = self.rng, self.dates[day]
        stamp = date.strftime("%Y%m%d")
        stores = [s for s in STORES if not (s == CLOSED_ON_SUNDAY and date.weekday() == 6)]
        weights = [STORE_WEIGHTS[STORES.index(s)] for s in stores]
        members, cum = self._active(self.loyalty, day)
        factor = 1.3 if date.weekday() >= 5 else 1.0
        count = round(self.customers * POS_ORDERS_PER_PERSON * factor * rng.uniform(0.9, 1.1))
        orders: dict[str, list[tuple[int, str, bool, list[tuple[str, int, int]]]]] = {s: [] for s in stores}
        for store in rng.choices(stores, weights=weights, k=count):
            member = ""
            if members and rng.random() < MEMBER_ORDER_SHARE:
                record = _pick(rng, members, cum)
                record.person.last_order = date
                member = record.pk
            orders[store].append((9 * 3600 + rng.randrange(12 * 3600), member, rng.random() < RETURN_SHARE,
                                  self._basket()))
        files = []
        for store in stores:
            rows = []
            orders[store].sort(key=lambda order: order[0])
            for seq, (seconds, member, is_return, basket) in enumerate(orders[store], 1):
                order_id, ordered = f"{store}-{stamp}-{seq:06d}", _time(self.days[day], seconds)
                for line, (product, quantity, cents) in enumerate(basket, 1):
                    rows.append([f"{order_id}-{line}", order_id, member, store, ordered, product, str(quantity),
                                 _money(cents), "true" if is_return else "false"])
            if rows:
                files.append((store, rows))
        self._spoil([rows for _, rows in files])
        return files

    def _basket(self) -> list[tuple[str, int, int]]:
        """(product id, quantity, revenue in cents) per line of one order."""
        rng = self.rng
        lines = []
        for _ in range(_pick(rng, BASKET_SIZES, BASKET_CUM)):
            product, price = self.products[rng.randrange(len(self.products))]
            quantity = _pick(rng, QUANTITIES, QUANTITY_CUM)
            lines.append((product, quantity, quantity * price))
        return lines

    def _spoil(self, files: list[list[list[str]]]) -> None:
        """Break revenue or quantity on ~0.2% of the day's lines, never on more than 1% of any file."""
        rng = self.rng
        room = [len(rows) // 100 for rows in files]
        wanted = min(int(sum(map(len, files)) * BAD_VALUE_SHARE + rng.random()), sum(room))
        ends = list(itertools.accumulate(len(rows) for rows in files))
        while wanted:
            position = rng.randrange(ends[-1])
            index = bisect.bisect_right(ends, position)
            row = files[index][position - (ends[index - 1] if index else 0)]
            if room[index] and "N/A" not in row and "two" not in row:
                room[index] -= 1
                wanted -= 1
                if rng.random() < 0.5:
                    row[7] = "N/A"
                else:
                    row[6] = "two"

    def web_orders(self, day: int) -> list[str]:
        """NDJSON lines of the day's web and app orders from accounts that exist by then."""
        rng, date = self.rng, self.dates[day]
        accounts, cum = self._active(self.web, day)
        count = round(len(accounts) * WEB_ORDERS_PER_ACCOUNT * rng.uniform(0.9, 1.1))
        buyers = [_pick(rng, accounts, cum) for _ in range(count)]
        for record in buyers:
            record.person.last_order = date
        orders = sorted(
            (rng.randrange(86400), record.pk, sum(cents for _, _, cents in self._basket()),
             "web" if rng.random() < 0.6 else "app")
            for record in buyers
        )
        stamp = date.strftime("%Y%m%d")
        return [json.dumps({"order_id": f"W{stamp}{seq:06d}", "customer_id": customer,
                            "ordered_at": _time(self.days[day], seconds), "total": cents / 100, "channel": channel})
                for seq, (seconds, customer, cents, channel) in enumerate(orders, 1)]

    def _active(self, records: list[Record], day: int) -> tuple[list[Record], list[float]]:
        """Records that exist on `day`, of people who still shop, and the cumulative weights of their activity."""
        count = bisect.bisect_right([r.day for r in records], day)
        active = [r for r in records[:count] if not r.person.churned]
        return active, list(itertools.accumulate(r.person.activity for r in active))


def _csv(header: tuple[str, ...], rows: list[list[str]], delimiter: str = ",") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def default_end() -> dt.date:
    """Yesterday in UTC: the last day the courier groups' scheduled windows reach (their days are UTC days)."""
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def generate_demo_data(out: Path, days: int = 7, customers: int = 1000, seed: int = 42, end: dt.date | None = None,
                       truth_path: Path | None = None, progress: bool = False, late_day: dt.date | None = None,
                       late_dir: Path | None = None) -> DemoSummary:
    """Write the demo tenant's landing files for the `days` days ending at `end` (default: yesterday in UTC)
    under `out`, and the ground truth to `truth_path` (default: `out/ground_truth.csv`).

    The web orders of one inner day (chosen by the seed, never `late_day`) are left out: the optional courier's
    missing file. With `late_day`, that day's web-shop customer extract goes to `late_dir` (default: `late/`
    beside `out`) instead of `out`, to be delivered later with `deliver_late`."""
    if days < 1 or customers < 1:
        raise ValueError("days and customers must be at least 1")
    out = Path(out)
    end = end or default_end()
    start = end - dt.timedelta(days=days - 1)
    if late_day is not None and not start <= late_day <= end:
        raise ValueError(f"the late day {late_day} is outside the demo days {start} .. {end}")
    truth_path = Path(truth_path) if truth_path else out / "ground_truth.csv"
    late_dir = Path(late_dir) if late_dir else out.parent / "late"
    files: list[str] = []
    late: list[str] = []
    rows = {WEB: 0, LOYALTY: 0, POS: 0, WEB_ORDERS: 0}

    def write(relative: str, data: bytes, folder: Path = out) -> None:
        (files if folder == out else late).append(relative)
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    with Progress(disable=not progress) as bar:
        task = bar.add_task(f"Creating {customers:,} people", total=days)
        rng = random.Random(seed)
        demo = _Demo(rng, customers, days, start)
        demo.make_people()
        demo.make_records()
        demo.make_updates()
        demo.repair_links()
        demo.make_history()
        # the optional courier's missing file: one inner day's web orders (the next inner day when the seed picks
        # the late day, so holding a file back changes nothing else)
        late_index = (late_day - start).days if late_day else None
        inner = list(range(1, days - 1))
        skipped = {rng.choice(inner)} if inner else set()
        if late_index in skipped:
            skipped = {inner[(inner.index(late_index) + 1) % len(inner)]} if len(inner) > 1 else set()
        left_out = []
        for day, date in enumerate(demo.dates):
            bar.update(task, description=f"Writing {date}")
            web_rows = sorted(demo.rows[WEB][day], key=lambda r: (r["updated_at"], r["customer_id"]))
            customers_csv = _csv(WEB_COLUMNS, [[r[c] for c in WEB_COLUMNS] for r in web_rows])
            write(f"ecommerce/customers_{date:%Y%m%d}.csv", customers_csv, late_dir if day == late_index else out)
            rows[WEB] += len(web_rows)

            loyalty_rows = sorted(demo.rows[LOYALTY][day], key=lambda r: r["member_id"])
            tsv = _csv(LOYALTY_COLUMNS, [[r[c] for c in LOYALTY_COLUMNS] for r in loyalty_rows], "\t")
            write(f"loyalty/members_{date:%Y-%m-%d}.tsv.gz", gzip.compress(tsv, mtime=0))
            rows[LOYALTY] += len(loyalty_rows)

            for store, lines in demo.pos_files(day):
                write(f"pos/{date:%Y/%m/%d}/orders-{store}.csv", _csv(POS_COLUMNS, lines))
                rows[POS] += len(lines)
            if day == 0 and demo.history_lines:
                write(f"pos/{date:%Y/%m/%d}/{HISTORY_FILE}", _csv(POS_COLUMNS, demo.history_lines))
                rows[POS] += len(demo.history_lines)

            if day in skipped:  # never the first day, which holds the web order history
                left_out.append(f"ecommerce/orders_{date:%Y%m%d}.ndjson")
            else:
                orders = (demo.history_web if day == 0 else []) + demo.web_orders(day)
                write(f"ecommerce/orders_{date:%Y%m%d}.ndjson", "".join(f"{o}\n" for o in orders).encode())
                rows[WEB_ORDERS] += len(orders)
            bar.advance(task)

    truth = sorted([r.feed, r.pk, r.person.pid, r.person.hid] for r in demo.web + demo.loyalty)
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    truth_path.write_bytes(_csv(TRUTH_COLUMNS, truth))
    cutoff = end + dt.timedelta(days=1 - LAPSED_AFTER_DAYS)
    lapsed = sum(1 for p in demo.people if p.last_order and p.last_order < cutoff)
    return DemoSummary(files, rows, len({row[2] for row in truth}), truth_path, start, end, late,
                       late_dir if late else None, left_out, lapsed)


def deliver_late(late_dir: Path, out: Path) -> list[str]:
    """Move the files held back in `late_dir` into the landing folder `out` (same relative paths; a rename, so a
    courier never sees half a file) and stamp them with the time they arrived; the moved paths, sorted."""
    late_dir, out = Path(late_dir), Path(out)
    if not late_dir.is_dir():
        return []
    moved = []
    for path in sorted(p for p in late_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(late_dir).as_posix()
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
        os.utime(target)
        moved.append(relative)
    for folder in sorted((p for p in late_dir.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return moved
