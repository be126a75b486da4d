"""A seeded, labelled evaluation set for identity resolution (record linkage).

`generate_identities(landing, records, seed)` invents a population of US adults, some of them living in
households, and writes the records four sources hold about them as CSV files in `landing`, one per
source (`<source>_<day>.csv`), plus a ground-truth CSV (`source,pk,person_id,household_id`, one row per
record) outside the landing folder. `eval_catalog(day)` returns the catalog YAML that loads the four files
through the platform's normal pipeline (couriers, feeds, Stitch, the `c360` database), so the customer ids
Stitch assigns can be scored against the truth (pairwise precision / recall, cluster purity...).

    from workflow_platform.demo.identities import generate_identities
    ev = generate_identities(Path("/tmp/ideval/landing"), records=100_000, seed=7)
    Path("/tmp/ideval/catalog").mkdir(exist_ok=True)
    Path("/tmp/ideval/catalog/catalog.yaml").write_text(ev.catalog_yaml)
    # WORKFLOW_PLATFORM_DATA=/tmp/ideval workflow-platform run --catalog /tmp/ideval/catalog \
    #     --group full --date 2026-01-05

Names come from Faker's en_US frequency lists (`first_names_female`, `first_names_male`, `last_names`,
sampled by weight), places from its address pieces (city prefixes and suffixes, street suffixes, each
state's ZIP range); Faker's per-call API is not used. Everything is driven by one `random.Random(seed)`,
so the same arguments write byte-identical files. One million records take well under a minute.

The rates below are the generator's knobs (the constants further down). Presence and noise rates are
per record unless marked "per person" / "per household"; noise happens before a field is blanked.

People and households

| What | Rate |
| --- | --- |
| age | 18-85, weighted by age band like the US adult population |
| sex / given name | 50/50; given name from the sex's weighted Faker list |
| second email address | 25% of people (per person) |
| moved (has an older previous address) | 15% of people (per household: members move together) |
| lives in a household of 2-5 | ~35% of people; sizes 2/3/4/5 weighted 55/22/15/8 |
| household member shares the household surname | 78% of non-first members (~86% of all members) |
| household landline | 30% of households |
| household members | same address, own given name (distinct), own birthdate (distinct), own email and mobile |
| mobile area code | the home state's (75%) or another state's (25%) |
| uniqueness | no two people share an email or a mobile; household landlines and junk values are shared |

Records per person. Each person is in each source independently; a person drawn into none goes to one
source picked by the same weights. Within-source duplicates get new primary keys.

| Source | Share of people | Duplicates | Records per member |
| --- | --- | --- | --- |
| ecommerce | 55% | 8% have a second account (with their other email when they have one) | 1.08 |
| loyalty | 45% | none (one member id per person) | 1.00 |
| pos | 50% | 12% have 2-3 till records (70% two, 30% three) | 1.16 |
| email_list | 35% | 5% of those with a second email signed up again with it | 1.01 |

This gives ~2.08 records per person. The population grows household by household until the requested
number of records is reached, so the files hold `records` plus at most one household's records.

Field presence (empty string when missing)

| Field | ecommerce | loyalty | pos | email_list |
| --- | --- | --- | --- | --- |
| given name | 99% | 99.5% | 93% | 85% |
| surname | 99% | 99.5% | 93% | 90% of records with a given name, 2.5% without (~77%) |
| email | 100% (the account login) | 85% | 60% (e-receipts) | 100% |
| phone | 85% | 92% | 85%; a till record always has a phone, email or loyalty id | - |
| street, city, state | 75% (city, state: 99% of those) | 88% (same) | - | - |
| postal | 98% of records with a street, 25% without | same | 85% | 70% |
| birthdate | 30% | 90% | - | - |
| gender (F/M) | - | 95% | - | - |
| loyalty id (fk-loyalty) | - | the pk | 50% of records of loyalty members | - |

Noise, relative to the person's true values

| Field | Noise | Rate |
| --- | --- | --- |
| names | junk pair (Test Test, Valued Customer, Guest Unknown...) | 0.3% |
| given name | nickname (Robert -> Bob/Rob/Bobby; map of ~130 names) | 10% of records of names that have one |
| given name | typo: one keyboard-neighbour substitution, deletion, insertion or adjacent transposition | 3% |
| given name | initial only (J / J.) | 1% |
| surname | typo (as above) | 2% |
| surname | other surname (maiden / married name, weighted draw; fixed per person) | 2% of women's records |
| names | given and surname swapped | 1% |
| names | upper or lower case | pos 10%, email_list 5%, ecommerce 3%, loyalty 2% |
| email | the person's other address (people with two) | 10% of their records |
| email | junk (test@test.com, none@none.com, noemail@noemail.com, na@na.com, asdf@asdf.com, no@no.com) | 1.5% |
| email | `+tag` sub-address (jane.doe+shop@gmail.com) | 2% |
| email | case / surrounding whitespace | 5% |
| phone | household landline instead of the mobile (members of a household with one) | 20% |
| phone | another number of the person's (old / work phone, fixed per person) | 3% |
| phone | junk (0000000000, 1234567890, 5555555555, 9999999999) | 1% |
| phone | format (the six styles below) | per-source mix |
| address | the previous address (people who moved) | 12% |
| address | format: spelled-out suffix/direction, periods, case, `#` unit, comma before unit | 30% |
| address | typo in the street name (or swapped house-number digits) | 2% |
| postal | ZIP+4 (12345-6789) | 10% |
| birthdate | day and month swapped (only when day <= 12 and day != month: ~0.4% of all) | 1% |
| birthdate | one digit changed (still a valid date) | 1% |

Phone styles (PHONE_STYLES): ecommerce `(555) 123-4567` 50%, `555-123-4567` 20%, `5551234567` 15%,
`+1 555 123 4567` 7%, `555.123.4567` 5%, `1-555-123-4567` 3%; loyalty `555-123-4567` 70%, `(555) 123-4567`
10%, `5551234567` 10%, `555.123.4567` 5%, `+1 ...` 3%, `1-...` 2%; pos `5551234567` 80%, `555-123-4567` 10%,
`(555) 123-4567` 5%, `555.123.4567` 3%, `1-...` 2%. Address styles (ADDRESS_STYLES, of the 30%): spelled out
40%, periods 15%, upper case 20%, lower case 5%, `#` unit 12%, comma before the unit 8% (the last two spell
out the suffix instead when there is no unit). The true street line uses USPS abbreviations (`12 N Oak St
Apt 4`).

Addresses: house number, optional direction (8%), a street from a pool of 4,000 names (Faker surnames
and given names, trees, landmarks, ordinals) with a common suffix, optional unit (20%); city names are
built from Faker's city pieces, ~1,800 cities spread over the states by population, each with 1-6 ZIP codes
from its state's range. Files are written in a seeded shuffled order with sequential keys (`E0000001`,
`L...`, `P...`, `M...`), so neither order nor key reveals who is who.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import itertools
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from faker.providers.address.en_US import Provider as _FakerAddress
from faker.providers.person.en_US import Provider as _FakerPerson

EVAL_SOURCES: tuple[str, ...] = ("ecommerce", "loyalty", "pos", "email_list")

# --------------------------------------------------------------------------- rates (see the module docstring)
SOURCE_SHARE = (0.55, 0.45, 0.50, 0.35)  # in EVAL_SOURCES order
ECOMMERCE_SECOND_ACCOUNT = 0.08
POS_REPEAT, POS_THIRD = 0.12, 0.30
EMAIL_LIST_RESIGNUP = 0.05

HOUSEHOLD_PEOPLE_SHARE = 0.35
HOUSEHOLD_SIZES, HOUSEHOLD_SIZE_WEIGHTS = (2, 3, 4, 5), (55, 22, 15, 8)
HOUSEHOLD_SURNAME_KEEP = 0.78
HOUSEHOLD_LANDLINE, LANDLINE_USE = 0.30, 0.20
PARTNER_OPPOSITE_SEX = 0.90
MOVED, PREVIOUS_ADDRESS_USE, MOVE_SAME_CITY = 0.15, 0.12, 0.50
SECOND_EMAIL, OTHER_EMAIL_USE = 0.25, 0.10
MOBILE_OUT_OF_STATE = 0.25

JUNK_NAME, NICKNAME, GIVEN_TYPO, GIVEN_INITIAL = 0.003, 0.10, 0.03, 0.01
SURNAME_TYPO, SURNAME_OTHER, NAME_SWAP = 0.02, 0.02, 0.01
NAME_CASE = {"ecommerce": 0.03, "loyalty": 0.02, "pos": 0.10, "email_list": 0.05}
EMAIL_JUNK, EMAIL_PLUS, EMAIL_CASE = 0.015, 0.02, 0.05
PHONE_JUNK, PHONE_OTHER = 0.01, 0.03
ADDRESS_FORMAT, ADDRESS_TYPO, ZIP_PLUS4 = 0.30, 0.02, 0.10
BIRTHDATE_SWAP, BIRTHDATE_TYPO = 0.01, 0.01

PRESENCE = {  # share of records that carry the field
    "ecommerce": {"given": 0.99, "surname": 0.99, "email": 1.0, "phone": 0.85, "street": 0.75, "birthdate": 0.30},
    "loyalty": {"given": 0.995, "surname": 0.995, "email": 0.85, "phone": 0.92, "street": 0.88, "birthdate": 0.90,
                "gender": 0.95},
    "pos": {"given": 0.93, "surname": 0.93, "email": 0.60, "phone": 0.85, "postal": 0.85, "loyalty_id": 0.50},
    "email_list": {"given": 0.85, "postal": 0.70},
}
CITY_STATE_PRESENT, POSTAL_WITH_STREET, POSTAL_WITHOUT_STREET = 0.99, 0.98, 0.25
EMAIL_LIST_SURNAME_WITH_GIVEN, EMAIL_LIST_SURNAME_WITHOUT_GIVEN = 0.90, 0.025

# --------------------------------------------------------------------------- files
COLUMNS = {
    "ecommerce": ("account_id", "first_name", "last_name", "email", "phone", "address", "city", "state", "zip",
                  "birth_date"),
    "loyalty": ("member_id", "given_name", "surname", "email", "mobile", "street", "city", "state", "postal_code",
                "dob", "gender"),
    "pos": ("pos_customer_id", "loyalty_number", "first_name", "last_name", "phone", "email", "zip"),
    "email_list": ("subscriber_id", "email", "first_name", "last_name", "zip"),
}
PK_PREFIX = {"ecommerce": "E", "loyalty": "L", "pos": "P", "email_list": "M"}
TRUTH_COLUMNS = ("source", "pk", "person_id", "household_id")
BIRTHDATE_FORMAT = {"ecommerce": ("%Y-%m-%d", "yyyy-MM-dd"), "loyalty": ("%m/%d/%Y", "MM/dd/yyyy")}

# --------------------------------------------------------------------------- reference data
AGE_BANDS = ((18, 24, 11), (25, 34, 18), (35, 44, 17), (45, 54, 16), (55, 64, 16), (65, 74, 13), (75, 85, 9))

NICKNAMES: dict[str, tuple[str, ...]] = {
    # men
    "Robert": ("Bob", "Rob", "Bobby"), "William": ("Bill", "Will", "Billy"), "James": ("Jim", "Jimmy", "Jamie"),
    "John": ("Johnny", "Jack"), "Michael": ("Mike", "Mikey"), "Richard": ("Rick", "Rich", "Dick"),
    "Joseph": ("Joe", "Joey"), "Thomas": ("Tom", "Tommy"), "Charles": ("Charlie", "Chuck"), "Christopher": ("Chris",),
    "Daniel": ("Dan", "Danny"), "Matthew": ("Matt",), "Anthony": ("Tony",), "Donald": ("Don", "Donnie"),
    "Steven": ("Steve",), "Stephen": ("Steve",), "Andrew": ("Andy", "Drew"), "Joshua": ("Josh",),
    "Kenneth": ("Ken", "Kenny"), "Timothy": ("Tim", "Timmy"), "Ronald": ("Ron", "Ronnie"),
    "Edward": ("Ed", "Eddie", "Ted"), "Jeffrey": ("Jeff",), "Jeffery": ("Jeff",), "Nicholas": ("Nick",),
    "Jonathan": ("Jon",), "Johnathan": ("John", "Jon"), "Benjamin": ("Ben",), "Samuel": ("Sam",),
    "Gregory": ("Greg",), "Alexander": ("Alex", "Xander"), "Patrick": ("Pat",), "Raymond": ("Ray",),
    "Gerald": ("Jerry",), "Douglas": ("Doug",), "Zachary": ("Zach", "Zack"), "Lawrence": ("Larry",),
    "Frederick": ("Fred",), "Nathaniel": ("Nate", "Nathan"), "Nathan": ("Nate",), "Theodore": ("Ted", "Teddy"),
    "Philip": ("Phil",), "Phillip": ("Phil",), "Vincent": ("Vince",), "Eugene": ("Gene",), "Russell": ("Russ",),
    "Walter": ("Walt",), "David": ("Dave",), "Peter": ("Pete",), "Jacob": ("Jake",), "Bradley": ("Brad",),
    "Francis": ("Frank",), "Harold": ("Hal",), "Leonard": ("Len", "Leo"), "Mitchell": ("Mitch",),
    "Randall": ("Randy",), "Stanley": ("Stan",), "Terrence": ("Terry",), "Terrance": ("Terry",),
    "Albert": ("Al", "Bert"), "Alfred": ("Al", "Fred"), "Allen": ("Al",), "Clifford": ("Cliff",),
    "Herbert": ("Herb",), "Kristopher": ("Kris",), "Gabriel": ("Gabe",), "Jeremiah": ("Jerry",),
    "Maxwell": ("Max",), "Frank": ("Frankie",),
    # women
    "Elizabeth": ("Liz", "Beth", "Betty", "Lizzie"), "Katherine": ("Kate", "Kathy", "Katie"),
    "Kathleen": ("Kathy", "Kate"), "Catherine": ("Cathy", "Cate"), "Kathryn": ("Kate", "Katie"),
    "Jennifer": ("Jen", "Jenny"), "Jessica": ("Jess", "Jessie"), "Patricia": ("Pat", "Patty", "Trish"),
    "Margaret": ("Maggie", "Peggy", "Meg"), "Susan": ("Sue", "Susie"), "Suzanne": ("Sue",),
    "Kimberly": ("Kim",), "Samantha": ("Sam", "Sammy"), "Deborah": ("Deb", "Debbie"), "Debra": ("Deb", "Debbie"),
    "Rebecca": ("Becky", "Becca"),
    "Cynthia": ("Cindy",), "Pamela": ("Pam",), "Christine": ("Chris", "Chrissy"), "Christina": ("Tina", "Chris"),
    "Victoria": ("Vicky", "Tori"), "Jacqueline": ("Jackie",), "Abigail": ("Abby",), "Theresa": ("Terri", "Tess"),
    "Teresa": ("Terri",), "Alexandra": ("Alex", "Lexi"), "Judith": ("Judy",), "Barbara": ("Barb",),
    "Stephanie": ("Steph",), "Madison": ("Maddie",), "Danielle": ("Dani",), "Isabella": ("Bella",),
    "Natalie": ("Nat",), "Melissa": ("Missy", "Mel"), "Amanda": ("Mandy",), "Virginia": ("Ginny",),
    "Frances": ("Fran",), "Dorothy": ("Dot", "Dottie"), "Allison": ("Ali",), "Alison": ("Ali",),
    "Jillian": ("Jill",), "Gabrielle": ("Gabby",), "Gabriella": ("Gabby",), "Valerie": ("Val",),
    "Sandra": ("Sandy",), "Angela": ("Angie",), "Cassandra": ("Cassie",), "Veronica": ("Ronnie",),
    "Michelle": ("Shelly",), "Nicole": ("Nikki",), "Ashley": ("Ash",), "Kristina": ("Kris", "Tina"),
    "Kristen": ("Kris",), "Rachel": ("Rach",), "Tamara": ("Tammy",), "Melanie": ("Mel",), "Vanessa": ("Nessa",),
    "Joanna": ("Jo",), "Lorraine": ("Lori",), "Roberta": ("Bobbie",),
}

_STATES = {  # state: (population in millions, 2020 census, rounded; area codes)
    "AL": (5.0, "205 251 256 334"), "AK": (0.7, "907"), "AZ": (7.2, "480 520 602 623 928"),
    "AR": (3.0, "479 501 870"),
    "CA": (39.5, "209 213 310 323 408 415 510 530 559 562 619 626 650 661 707 714 760 805 818 831 858 909 916 925"),
    "CO": (5.8, "303 719 720 970"), "CT": (3.6, "203 860"), "DE": (1.0, "302"), "DC": (0.7, "202"),
    "FL": (21.5, "239 305 321 352 386 407 561 727 754 772 786 813 850 863 904 941 954"),
    "GA": (10.7, "229 404 470 478 678 706 770 912"), "HI": (1.5, "808"), "ID": (1.8, "208"),
    "IL": (12.8, "217 224 309 312 618 630 708 773 815 847"), "IN": (6.8, "219 260 317 574 765 812"),
    "IA": (3.2, "319 515 563 641 712"), "KS": (2.9, "316 620 785 913"), "KY": (4.5, "270 502 606 859"),
    "LA": (4.7, "225 318 337 504 985"), "ME": (1.4, "207"), "MD": (6.2, "240 301 410 443"),
    "MA": (7.0, "339 413 508 617 774 781 857 978"), "MI": (10.1, "231 248 269 313 517 586 616 734 810 906 989"),
    "MN": (5.7, "218 320 507 612 651 763 952"), "MS": (3.0, "228 601 662"), "MO": (6.2, "314 417 573 636 660 816"),
    "MT": (1.1, "406"), "NE": (2.0, "308 402"), "NV": (3.1, "702 775"), "NH": (1.4, "603"),
    "NJ": (9.3, "201 609 732 856 908 973"), "NM": (2.1, "505 575"),
    "NY": (20.2, "212 315 347 516 518 585 607 631 646 716 718 845 914 917"),
    "NC": (10.4, "252 336 704 828 910 919 980"), "ND": (0.8, "701"),
    "OH": (11.8, "216 234 330 419 440 513 614 740 937"), "OK": (4.0, "405 580 918"), "OR": (4.2, "503 541 971"),
    "PA": (13.0, "215 267 412 484 570 610 717 724 814"), "RI": (1.1, "401"), "SC": (5.1, "803 843 864"),
    "SD": (0.9, "605"), "TN": (6.9, "423 615 731 865 901 931"),
    "TX": (29.1, "210 214 254 281 361 409 432 469 512 713 806 817 830 832 903 915 936 940 956 972 979"),
    "UT": (3.3, "385 435 801"), "VT": (0.6, "802"), "VA": (8.6, "276 434 540 571 703 757 804"),
    "WA": (7.7, "206 253 360 425 509"), "WV": (1.8, "304"), "WI": (5.9, "262 414 608 715 920"), "WY": (0.6, "307"),
}
CITY_COUNT = 1800
STREET_COUNT = 4000
STREET_WORDS = (
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Willow", "Birch", "Walnut", "Cherry", "Chestnut", "Hickory",
    "Spruce", "Aspen", "Magnolia", "Dogwood", "Sycamore", "Poplar", "Laurel", "Holly", "Juniper", "Park", "Lake",
    "Hill", "River", "Spring", "Meadow", "Forest", "Valley", "Sunset", "Highland", "Church", "Mill", "Center",
    "Union", "Prospect", "Summit", "Broad", "Market", "School", "Water", "Bridge", "Railroad", "Lincoln",
    "Washington", "Jefferson", "Madison", "Franklin", "Adams", "Jackson", "Monroe", "Hamilton", "Cleveland",
    "Grant", "Harrison", "Pleasant", "Front", "High", "College", "Academy", "Orchard", "Woodland", "Lakeview",
    "Ridgeview", "Fairview", "Green", "Spring Valley", "Country Club", "Mill Creek", "Cherry Hill", "Bay",
    "Beach", "Canyon", "Creek", "Garden", "Harbor", "Heritage", "Liberty", "Meadowbrook", "Riverside", "Rose",
)
ORDINALS = tuple(f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"
                 for n in range(1, 61))
STREET_SUFFIXES = (  # (Faker street suffix, USPS abbreviation, weight)
    ("Street", "St", 22), ("Avenue", "Ave", 14), ("Drive", "Dr", 12), ("Road", "Rd", 10), ("Lane", "Ln", 8),
    ("Court", "Ct", 7), ("Way", "Way", 5), ("Place", "Pl", 4), ("Circle", "Cir", 4), ("Boulevard", "Blvd", 3),
    ("Trail", "Trl", 3), ("Parkway", "Pkwy", 2), ("Terrace", "Ter", 2), ("Loop", "Loop", 1), ("Ridge", "Rdg", 1),
    ("Crossing", "Xing", 1), ("Pike", "Pike", 1), ("Highway", "Hwy", 1),
)
HOUSE_NUMBERS, HOUSE_NUMBER_CUM = ((1, 100), (100, 1000), (1000, 10000), (10000, 100000)), (10, 45, 90, 100)
DIRECTIONS = (("North", "N"), ("South", "S"), ("East", "E"), ("West", "W"))
ADDRESS_STYLES = ("full", "periods", "upper", "lower", "hash", "comma")
ADDRESS_STYLE_CUM = tuple(itertools.accumulate((40, 15, 20, 5, 12, 8)))

EMAIL_DOMAINS = (
    ("gmail.com", 40), ("yahoo.com", 13), ("hotmail.com", 8), ("outlook.com", 7), ("icloud.com", 7),
    ("aol.com", 4), ("comcast.net", 4), ("msn.com", 2), ("live.com", 2), ("att.net", 2), ("sbcglobal.net", 2),
    ("verizon.net", 1.5), ("me.com", 1.5), ("ymail.com", 1), ("protonmail.com", 1), ("cox.net", 1),
    ("charter.net", 1), ("mail.com", 1),
)
EMAIL_STYLE_WEIGHTS = (18, 8, 10, 8, 10, 7, 9, 6, 4, 6, 3, 4, 5)  # see _local_part
EMAIL_NICKNAME = 0.15  # of emails of people whose name has a nickname: built from the nickname
PLUS_TAGS = ("shop", "deals", "promo", "news", "store", "rewards", "orders", "spam")
JUNK_EMAILS = ("test@test.com", "none@none.com", "noemail@noemail.com", "na@na.com", "asdf@asdf.com", "no@no.com")
JUNK_PHONES = ("0000000000", "1234567890", "5555555555", "9999999999")
JUNK_NAMES = (("Test", "Test"), ("Test", "Customer"), ("Valued", "Customer"), ("Guest", "Guest"),
              ("Customer", "Unknown"), ("Unknown", "Unknown"), ("Store", "Customer"), ("Cash", "Customer"))
PHONE_STYLES = {  # style weights per source: paren, dash, dot, plain, intl, one
    "ecommerce": (50, 20, 5, 15, 7, 3),
    "loyalty": (10, 70, 5, 10, 3, 2),
    "pos": (5, 10, 3, 80, 0, 2),
}
_KEYBOARD = {
    "q": "wa", "w": "qesa", "e": "wrds", "r": "etfd", "t": "rygf", "y": "tuhg", "u": "yijh", "i": "uokj",
    "o": "iplk", "p": "ol", "a": "qwsz", "s": "awedxz", "d": "serfcx", "f": "drtgvc", "g": "ftyhbv",
    "h": "gyujnb", "j": "huikmn", "k": "jiolm", "l": "kop", "z": "asx", "x": "zsdc", "c": "xdfv", "v": "cfgb",
    "b": "vghn", "n": "bhjm", "m": "njk",
}


@dataclass
class EvalSet:
    """What `generate_identities` wrote."""

    landing: Path  # folder with the CSV files
    truth_path: Path  # ground truth CSV: source,pk,person_id,household_id
    catalog_yaml: str  # catalog text for the platform
    records: int  # rows written over all sources
    people: int


def eval_catalog(day: str = "20260105") -> str:
    """The catalog (one YAML document) that loads the evaluation files of `day` into a `c360` database.

    The couriers' patterns are dated (`'ecommerce_'yyyyMMdd'.csv'`): run the courier group `full` for that
    day (`workflow-platform run --group full --date 2026-01-05`)."""
    iso = dt.datetime.strptime(day, "%Y%m%d").date().isoformat()
    return f"""\
# Identity-resolution evaluation set (workflow_platform.demo.identities); files of {iso}.
tenant: identity_eval

couriers:
  - name: ecommerce
    description: Online shop accounts.
    pattern: "'ecommerce_'yyyyMMdd'.csv'"
    feed: ecommerce
  - name: loyalty
    description: Loyalty-program members.
    pattern: "'loyalty_'yyyyMMdd'.csv'"
    feed: loyalty
  - name: pos
    description: Store customers captured at the till.
    pattern: "'pos_'yyyyMMdd'.csv'"
    feed: pos
  - name: email_list
    description: Marketing email sign-ups.
    pattern: "'email_list_'yyyyMMdd'.csv'"
    feed: email_list

feeds:
  - name: ecommerce
    source: ecommerce
    description: Online shop accounts.
    priority: 2
    columns:
      - {{name: account_id, tag: pk}}
      - {{name: first_name, tag: given-name}}
      - {{name: last_name, tag: surname}}
      - {{name: email, tag: email}}
      - {{name: phone, tag: phone}}
      - {{name: address, tag: address}}
      - {{name: city, tag: city}}
      - {{name: state, tag: state}}
      - {{name: zip, tag: postal}}
      - {{name: birth_date, type: date, format: yyyy-MM-dd, tag: birthdate}}
  - name: loyalty
    source: loyalty
    description: Loyalty-program members; member_id is also the loyalty number on till records.
    priority: 1
    columns:
      - {{name: member_id, tag: [pk, fk-loyalty]}}
      - {{name: given_name, tag: given-name}}
      - {{name: surname, tag: surname}}
      - {{name: email, tag: email}}
      - {{name: mobile, tag: phone}}
      - {{name: street, tag: address}}
      - {{name: city, tag: city}}
      - {{name: state, tag: state}}
      - {{name: postal_code, tag: postal}}
      - {{name: dob, type: date, format: MM/dd/yyyy, tag: birthdate}}
      - {{name: gender, tag: gender}}
  - name: pos
    source: pos
    description: Store customers captured at the till; loyalty_number links a loyalty member.
    priority: 3
    columns:
      - {{name: pos_customer_id, tag: pk}}
      - {{name: loyalty_number, tag: fk-loyalty}}
      - {{name: first_name, tag: given-name}}
      - {{name: last_name, tag: surname}}
      - {{name: phone, tag: phone}}
      - {{name: email, tag: email}}
      - {{name: zip, tag: postal}}
  - name: email_list
    source: email_list
    description: Marketing email sign-ups.
    priority: 4
    columns:
      - {{name: subscriber_id, tag: pk}}
      - {{name: email, tag: email}}
      - {{name: first_name, tag: given-name}}
      - {{name: last_name, tag: surname}}
      - {{name: zip, tag: postal}}

courier_groups:
  - name: full
    description: All four sources, then Stitch and the c360 database.
    couriers: [ecommerce, loyalty, pos, email_list]
    run_type: full

databases:
  - name: c360
    type: customer_360
    description: Customer 360 of the identity-resolution evaluation set.
"""


def generate_identities(landing: Path, records: int, seed: int = 7, truth_path: Path | None = None,
                        day: str = "20260105") -> EvalSet:
    """Write `<source>_<day>.csv` for each of EVAL_SOURCES into `landing` (about `records` rows in all) and
    the ground truth to `truth_path` (default `landing.parent / "truth.csv"`)."""
    if records < 1:
        raise ValueError("records must be at least 1")
    ref = dt.datetime.strptime(day, "%Y%m%d").date()
    landing = Path(landing)
    truth_path = Path(truth_path) if truth_path is not None else landing.parent / "truth.csv"
    landing.mkdir(parents=True, exist_ok=True)
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    world = _World(rng, ref)
    world.populate(records)
    written = _Writer(world, rng).write(landing, truth_path, day)
    return EvalSet(landing=landing, truth_path=truth_path, catalog_yaml=eval_catalog(day), records=written,
                   people=world.size)


# --------------------------------------------------------------------------- helpers


class _Pool:
    """Weighted draws from a list, sampled in bulk (`Random.choices`) and handed out one at a time."""

    def __init__(self, rng: random.Random, items: Sequence[str], weights: Iterable[float], block: int = 4096):
        self.rng, self.items, self.block = rng, list(items), block
        self.cum = list(itertools.accumulate(weights))
        self.buffer: list[str] = []

    def draw(self) -> str:
        if not self.buffer:
            self.buffer = self.rng.choices(self.items, cum_weights=self.cum, k=self.block)
        return self.buffer.pop()


def _pick(rnd, cum: Sequence[float]) -> int:
    """Index drawn by cumulative weights."""
    return bisect.bisect(cum, rnd() * cum[-1])


def _typo(word: str, rnd) -> str:
    """One realistic typing error after the first letter: keyboard-neighbour substitution, deletion,
    insertion (doubled letter or neighbour) or transposition of adjacent letters."""
    n = len(word)
    if n < 3:
        return word
    for _ in range(4):
        pos = 1 + int(rnd() * (n - 1))
        ch = word[pos]
        near = _KEYBOARD.get(ch.lower(), "")
        op = rnd()
        if op < 0.35 and near:
            new = near[int(rnd() * len(near))]
            out = word[:pos] + (new.upper() if ch.isupper() else new) + word[pos + 1:]
        elif op < 0.60:
            out = word[:pos] + word[pos + 1:]
        elif op < 0.80:
            ins = ch if rnd() < 0.5 or not near else near[int(rnd() * len(near))]
            out = word[:pos] + ins + word[pos:]
        elif pos < n - 1:
            out = word[:pos] + word[pos + 1] + ch + word[pos + 2:]
        else:
            out = word[:pos - 1] + ch + word[pos - 1] + word[pos + 1:] if pos > 1 else word
        if out != word:
            return out
    return word


def _street_line(address: tuple, style: str) -> str:
    """The street line in a style: "short" (USPS abbreviations, the true value) or one of ADDRESS_STYLES."""
    number, direction, base, suffix, unit_kind, unit = address[:6]
    if style in ("hash", "comma") and not unit:
        style = "full"
    full_suffix, short_suffix = STREET_SUFFIXES[suffix][:2]
    if style == "full":
        parts = [number, DIRECTIONS[direction][0] if direction >= 0 else "", base, full_suffix]
        tail = f"{unit_kind} {unit}" if unit else ""
    elif style == "periods":
        dot = "" if short_suffix == full_suffix else "."
        parts = [number, DIRECTIONS[direction][1] + "." if direction >= 0 else "", base, short_suffix + dot]
        tail = f"{unit_kind}. {unit}" if unit else ""
    else:
        parts = [number, DIRECTIONS[direction][1] if direction >= 0 else "", base, short_suffix]
        tail = f"{unit_kind} {unit}" if unit else ""
        if style == "hash" and unit:
            tail = f"#{unit}"
    line = " ".join(p for p in parts if p)
    if tail:
        line = f"{line}, {tail}" if style == "comma" else f"{line} {tail}"
    if style == "upper":
        return line.upper()
    if style == "lower":
        return line.lower()
    return line


def _phone_text(digits: str, style: int) -> str:
    a, b, c = digits[:3], digits[3:6], digits[6:]
    if style == 0:
        return f"({a}) {b}-{c}"
    if style == 1:
        return f"{a}-{b}-{c}"
    if style == 2:
        return f"{a}.{b}.{c}"
    if style == 3:
        return digits
    if style == 4:
        return f"+1 {a} {b} {c}"
    return f"1-{a}-{b}-{c}"


# --------------------------------------------------------------------------- the population


class _World:
    """Places and people, as parallel lists indexed by person (fast and small at a million records)."""

    def __init__(self, rng: random.Random, ref: dt.date):
        self.rng, self.ref = rng, ref
        self.rnd = rng.random
        self.female = _Pool(rng, list(_FakerPerson.first_names_female), _FakerPerson.first_names_female.values())
        self.male = _Pool(rng, list(_FakerPerson.first_names_male), _FakerPerson.first_names_male.values())
        self.surnames = _Pool(rng, list(_FakerPerson.last_names), _FakerPerson.last_names.values())
        self.domains = _Pool(rng, [d for d, _ in EMAIL_DOMAINS], [w for _, w in EMAIL_DOMAINS])
        self.email_style_cum = list(itertools.accumulate(EMAIL_STYLE_WEIGHTS))
        self._build_places()
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.address_keys: set[tuple] = set()
        # number, direction, base, suffix, unit kind, unit, city, state, ZIP, plus-4, city index
        self.addresses: list[tuple] = []
        # people
        self.given: list[str] = []
        self.surname: list[str] = []
        self.female_flag: list[bool] = []
        self.birth: list[dt.date] = []
        self.email1: list[str] = []
        self.email2: list[str] = []
        self.mobile: list[str] = []
        self.home: list[int] = []
        self.previous: list[int] = []
        self.household: list[int] = []
        self.counts: list[tuple[int, int, int, int]] = []
        self.landline: list[str] = []  # per household
        self.other_surname: dict[int, str] = {}  # drawn on first use
        self.other_phone: dict[int, str] = {}

    @property
    def size(self) -> int:
        return len(self.given)

    # ------------------------------------------------------------------ places
    def _build_places(self) -> None:
        rng, rnd = self.rng, self.rnd
        first_names = list(dict.fromkeys([*_FakerPerson.first_names_female, *_FakerPerson.first_names_male]))
        last_names = list(_FakerPerson.last_names)
        total = sum(p for p, _ in _STATES.values())
        self.state_codes = list(_STATES)
        self.state_cum = list(itertools.accumulate(p for p, _ in _STATES.values()))
        self.area_codes = {s: codes.split() for s, (_, codes) in _STATES.items()}
        self.cities: list[tuple[str, str, list[str]]] = []  # name, state, ZIP codes
        weights: list[float] = []
        for state, (population, _) in _STATES.items():
            low, high = _FakerAddress.states_postcode[state]
            count = max(4, round(CITY_COUNT * population / total))
            harmonic = sum(1 / (r + 1) for r in range(count))
            names: set[str] = set()
            zips: set[int] = set()
            for rank in range(count):
                while True:
                    kind = rnd()
                    if kind < 0.15:
                        name = (f"{rng.choice(_FakerAddress.city_prefixes)} {rng.choice(first_names)}"
                                f"{rng.choice(_FakerAddress.city_suffixes)}")
                    elif kind < 0.30:
                        name = f"{rng.choice(_FakerAddress.city_prefixes)} {rng.choice(first_names)}"
                    elif kind < 0.55:
                        name = f"{rng.choice(first_names)}{rng.choice(_FakerAddress.city_suffixes)}"
                    else:
                        name = f"{rng.choice(last_names)}{rng.choice(_FakerAddress.city_suffixes)}"
                    if name not in names:
                        names.add(name)
                        break
                city_zips: list[str] = []
                for _ in range(max(1, min(6, round(6 / (rank + 1) ** 0.5)))):
                    if len(zips) > high - low:
                        break
                    code = rng.randint(low, high)
                    while code in zips:
                        code = rng.randint(low, high)
                    zips.add(code)
                    city_zips.append(f"{code:05d}")
                if not city_zips:  # a tiny ZIP range: share the state's first ZIP
                    city_zips.append(f"{low:05d}")
                self.cities.append((name, state, city_zips))
                weights.append(population / harmonic / (rank + 1))
        self.city_cum = list(itertools.accumulate(weights))
        # streets: (base, suffix index), distinct
        bases = list(STREET_WORDS) + list(ORDINALS) + last_names[:700] + first_names[:300]
        base_weights = [6] * len(STREET_WORDS) + [4] * len(ORDINALS) + [1] * (700 + min(300, len(first_names)))
        base_pool = _Pool(rng, bases, base_weights)
        suffix_cum = list(itertools.accumulate(w for _, _, w in STREET_SUFFIXES))
        streets: dict[tuple[str, int], None] = {}
        while len(streets) < STREET_COUNT:
            streets.setdefault((base_pool.draw(), _pick(rnd, suffix_cum)), None)
        self.streets = list(streets)

    def new_address(self, city: int = -1) -> int:
        """A new, unused street address (in `city` when given); returns its index."""
        rnd = self.rnd
        if city < 0:
            city = _pick(rnd, self.city_cum)
        name, state, zips = self.cities[city]
        while True:
            low, high = HOUSE_NUMBERS[_pick(rnd, HOUSE_NUMBER_CUM)]
            number = str(low + int(rnd() * (high - low)))
            base, suffix = self.streets[int(rnd() * len(self.streets))]
            direction = int(rnd() * 4) if rnd() < 0.08 else -1
            unit_kind, unit = "", ""
            if rnd() < 0.20:
                unit_kind = "Apt" if rnd() < 0.8 else "Unit"
                unit = str(1 + int(rnd() * (40 if rnd() < 0.6 else 999)))
                if rnd() < 0.15:
                    unit += "ABCD"[int(rnd() * 4)]
            key = (number, direction, base, suffix, unit, city)
            if key not in self.address_keys:
                self.address_keys.add(key)
                break
        zip5 = zips[int(rnd() * len(zips))]
        self.addresses.append((number, direction, base, suffix, unit_kind, unit, name, state, zip5,
                               f"{int(rnd() * 10000):04d}", city))
        return len(self.addresses) - 1

    def new_phone(self, state: str) -> str:
        """A new 10-digit NANP number in one of `state`'s area codes, used by nobody else."""
        rnd = self.rnd
        codes = self.area_codes[state]
        while True:
            exchange = 200 + int(rnd() * 800)
            if exchange % 100 == 11 or exchange == 555:
                continue
            number = f"{codes[int(rnd() * len(codes))]}{exchange}{int(rnd() * 10000):04d}"
            if number not in self.phones:
                self.phones.add(number)
                return number

    def random_state(self) -> str:
        return self.state_codes[_pick(self.rnd, self.state_cum)]

    # ------------------------------------------------------------------ people
    def _age(self) -> int:
        low, high, _ = AGE_BANDS[_pick(self.rnd, self._age_cum)]
        return low + int(self.rnd() * (high - low + 1))

    def populate(self, records: int) -> None:
        """Add households (and people living alone) until their planned records reach `records`."""
        rnd = self.rnd
        self._age_cum = list(itertools.accumulate(w for _, _, w in AGE_BANDS))
        size_cum = list(itertools.accumulate(HOUSEHOLD_SIZE_WEIGHTS))
        mean_size = sum(s * w for s, w in zip(HOUSEHOLD_SIZES, HOUSEHOLD_SIZE_WEIGHTS)) / size_cum[-1]
        share = HOUSEHOLD_PEOPLE_SHARE
        household_unit = share / (mean_size * (1 - share) + share)  # chance a new address is a household
        source_cum = list(itertools.accumulate(SOURCE_SHARE))
        ref_ordinal = self.ref.toordinal()
        total = 0
        while total < records:
            size, household = 1, -1
            if rnd() < household_unit:
                size = HOUSEHOLD_SIZES[_pick(rnd, size_cum)]
                household = len(self.landline)
            home = self.new_address()
            state = self.addresses[home][7]
            previous = -1
            if rnd() < MOVED:
                previous = self.new_address(self.addresses[home][10] if rnd() < MOVE_SAME_CITY else -1)
            if household >= 0:
                self.landline.append(self.new_phone(state) if rnd() < HOUSEHOLD_LANDLINE else "")
            family = self.surnames.draw()
            givens: list[str] = []
            births: list[int] = []
            head_age, head_female = 0, False
            for member in range(size):
                if member == 0:
                    is_female, age = rnd() < 0.5, self._age()
                    head_age, head_female = age, is_female
                elif member == 1:
                    is_female = (not head_female) if rnd() < PARTNER_OPPOSITE_SEX else head_female
                    age = min(85, max(18, head_age + int(rnd() * 13) - 6))
                else:
                    is_female = rnd() < 0.5
                    if head_age >= 40:
                        age = 18 + int(rnd() * (min(85, head_age - 20) - 17))
                    else:
                        age = min(85, max(18, head_age + int(rnd() * 11) - 5))
                names = self.female if is_female else self.male
                given = names.draw()
                while given in givens:
                    given = names.draw()
                givens.append(given)
                surname = family if member == 0 or rnd() < HOUSEHOLD_SURNAME_KEEP else self.surnames.draw()
                birth = ref_ordinal - int((age + rnd()) * 365.2425)
                while birth in births:
                    birth = ref_ordinal - int((age + rnd()) * 365.2425)
                births.append(birth)
                born = dt.date.fromordinal(birth)
                counts = [1 if rnd() < p else 0 for p in SOURCE_SHARE]
                if not any(counts):
                    counts[_pick(rnd, source_cum)] = 1
                if counts[0] and rnd() < ECOMMERCE_SECOND_ACCOUNT:
                    counts[0] = 2
                if counts[2] and rnd() < POS_REPEAT:
                    counts[2] = 3 if rnd() < POS_THIRD else 2
                second = rnd() < SECOND_EMAIL
                if counts[3] and second and rnd() < EMAIL_LIST_RESIGNUP:
                    counts[3] = 2
                email1 = self._new_email(given, surname, born.year)
                self.given.append(given)
                self.surname.append(surname)
                self.female_flag.append(is_female)
                self.birth.append(born)
                self.email1.append(email1)
                self.email2.append(self._new_email(given, surname, born.year, avoid=email1) if second else "")
                self.mobile.append(self.new_phone(state if rnd() >= MOBILE_OUT_OF_STATE else self.random_state()))
                self.home.append(home)
                self.previous.append(previous)
                self.household.append(household)
                self.counts.append(tuple(counts))  # type: ignore[arg-type]
                total += sum(counts)

    def _local_part(self, given: str, surname: str, year: int) -> str:
        rnd = self.rnd
        g, s = given.lower(), surname.lower().replace("'", "").replace(" ", "").replace("-", "")
        style = _pick(rnd, self.email_style_cum)
        if style == 0:
            return f"{g}.{s}"
        if style == 1:
            return f"{g}{s}"
        if style == 2:
            return f"{g[0]}{s}"
        if style == 3:
            return f"{g}.{s}{10 + int(rnd() * 90)}"
        if style == 4:
            return f"{g}{s}{1 + int(rnd() * 999)}"
        if style == 5:
            return f"{g}_{s}{year if rnd() < 0.5 else f'{year % 100:02d}'}"
        if style == 6:
            return f"{g[0]}{s}{1 + int(rnd() * 99)}"
        if style == 7:
            return f"{g}{1 + int(rnd() * 9999)}"
        if style == 8:
            return f"{s}.{g}"
        if style == 9:
            return f"{g}{s[0]}{1 + int(rnd() * 99)}"
        if style == 10:
            return f"{s}{g}"
        if style == 11:
            return f"{g}.{'abcdefghijklmnoprstw'[int(rnd() * 20)]}.{s}"
        return f"{g}_{s}"

    def _new_email(self, given: str, surname: str, year: int, avoid: str = "") -> str:
        """A new address built from the name (sometimes the nickname), used by nobody else."""
        rnd = self.rnd
        nicknames = NICKNAMES.get(given)
        if nicknames and rnd() < EMAIL_NICKNAME:
            given = nicknames[int(rnd() * len(nicknames))]
        local = self._local_part(given, surname, year)
        domain = self.domains.draw()
        if avoid and avoid.endswith("@" + domain):
            domain = self.domains.draw()
        email = f"{local}@{domain}"
        while email in self.emails:
            local += str(int(rnd() * 10))
            email = f"{local}@{domain}"
        self.emails.add(email)
        return email


# --------------------------------------------------------------------------- records


class _Writer:
    """Turns the population into noisy source records and writes them with the truth."""

    def __init__(self, world: _World, rng: random.Random):
        self.w, self.rng, self.rnd = world, rng, rng.random
        self.member_id = [""] * world.size
        self.used_other = bytearray(world.size)  # per source: the person's last record used their other email
        self.address_style_cum = ADDRESS_STYLE_CUM
        self.phone_cum = {s: list(itertools.accumulate(w)) for s, w in PHONE_STYLES.items()}

    def write(self, landing: Path, truth_path: Path, day: str) -> int:
        w = self.w
        written = 0
        with truth_path.open("w", newline="", encoding="utf-8") as truth_file:
            truth = csv.writer(truth_file, lineterminator="\n")
            truth.writerow(TRUTH_COLUMNS)
            person_ids = [f"I{i + 1:07d}" for i in range(w.size)]
            household_ids = [f"H{h + 1:07d}" if h >= 0 else "" for h in w.household]
            for index, source in enumerate(EVAL_SOURCES):
                plan = [i for i, counts in enumerate(w.counts) for _ in range(counts[index])]
                self.rng.shuffle(plan)
                seen = bytearray(w.size)
                self.used_other = bytearray(w.size)
                width = max(7, len(str(len(plan))))
                prefix = PK_PREFIX[source]
                row_of = getattr(self, f"_{source}")
                with (landing / f"{source}_{day}.csv").open("w", newline="", encoding="utf-8") as out:
                    writer = csv.writer(out, lineterminator="\n")
                    writer.writerow(COLUMNS[source])
                    for number, person in enumerate(plan, 1):
                        pk = f"{prefix}{number:0{width}d}"
                        writer.writerow(row_of(pk, person, seen[person]))
                        truth.writerow((source, pk, person_ids[person], household_ids[person]))
                        seen[person] = 1
                written += len(plan)
        return written

    # ------------------------------------------------------------------ one row per source
    def _ecommerce(self, pk: str, i: int, repeat: int) -> tuple:
        rnd, presence = self.rnd, PRESENCE["ecommerce"]
        given, surname = self._names(i, "ecommerce")
        email = self._email(i, repeat) if rnd() < presence["email"] else ""
        phone = self._phone(i, "ecommerce") if rnd() < presence["phone"] else ""
        street, city, state, postal = self._address(i, rnd() < presence["street"])
        birth = self._birthdate(i, "ecommerce") if rnd() < presence["birthdate"] else ""
        return (pk, given if rnd() < presence["given"] else "", surname if rnd() < presence["surname"] else "",
                email, phone, street, city, state, postal, birth)

    def _loyalty(self, pk: str, i: int, repeat: int) -> tuple:
        rnd, presence = self.rnd, PRESENCE["loyalty"]
        self.member_id[i] = pk
        given, surname = self._names(i, "loyalty")
        email = self._email(i, repeat) if rnd() < presence["email"] else ""
        phone = self._phone(i, "loyalty") if rnd() < presence["phone"] else ""
        street, city, state, postal = self._address(i, rnd() < presence["street"])
        birth = self._birthdate(i, "loyalty") if rnd() < presence["birthdate"] else ""
        gender = ("F" if self.w.female_flag[i] else "M") if rnd() < presence["gender"] else ""
        return (pk, given if rnd() < presence["given"] else "", surname if rnd() < presence["surname"] else "",
                email, phone, street, city, state, postal, birth, gender)

    def _pos(self, pk: str, i: int, repeat: int) -> tuple:
        rnd, presence = self.rnd, PRESENCE["pos"]
        member = self.member_id[i] if self.member_id[i] and rnd() < presence["loyalty_id"] else ""
        given, surname = self._names(i, "pos")
        has_phone, has_email = rnd() < presence["phone"], rnd() < presence["email"]
        if not (has_phone or has_email or member):  # the till looks a customer up by phone, email or card
            has_phone = True
        phone = self._phone(i, "pos") if has_phone else ""
        email = self._email(i, 0) if has_email else ""
        postal = self._postal(i) if rnd() < presence["postal"] else ""
        return (pk, member, given if rnd() < presence["given"] else "",
                surname if rnd() < presence["surname"] else "", phone, email, postal)

    def _email_list(self, pk: str, i: int, repeat: int) -> tuple:
        rnd, presence = self.rnd, PRESENCE["email_list"]
        email = self._email(i, repeat)
        given, surname = self._names(i, "email_list")
        has_given = rnd() < presence["given"]
        has_surname = rnd() < (EMAIL_LIST_SURNAME_WITH_GIVEN if has_given else EMAIL_LIST_SURNAME_WITHOUT_GIVEN)
        postal = self._postal(i) if rnd() < presence["postal"] else ""
        return (pk, email, given if has_given else "", surname if has_surname else "", postal)

    # ------------------------------------------------------------------ fields
    def _names(self, i: int, source: str) -> tuple[str, str]:
        rnd, w = self.rnd, self.w
        if rnd() < JUNK_NAME:
            return JUNK_NAMES[int(rnd() * len(JUNK_NAMES))]
        given = w.given[i]
        u = rnd()
        if u < NICKNAME:
            nicknames = NICKNAMES.get(given)
            if nicknames:
                given = nicknames[int(rnd() * len(nicknames))]
        elif u < NICKNAME + GIVEN_TYPO:
            given = _typo(given, rnd)
        elif u < NICKNAME + GIVEN_TYPO + GIVEN_INITIAL:
            given = given[0] if rnd() < 0.6 else given[0] + "."
        surname = w.surname[i]
        u = rnd()
        if u < SURNAME_TYPO:
            surname = _typo(surname, rnd)
        elif u < SURNAME_TYPO + SURNAME_OTHER and w.female_flag[i]:
            other = w.other_surname.get(i)
            if other is None:
                other = w.surnames.draw()
                while other == surname:
                    other = w.surnames.draw()
                w.other_surname[i] = other
            surname = other
        if rnd() < NAME_SWAP:
            given, surname = surname, given
        if rnd() < NAME_CASE[source]:
            if rnd() < 0.7:
                given, surname = given.upper(), surname.upper()
            else:
                given, surname = given.lower(), surname.lower()
        return given, surname

    def _email(self, i: int, repeat: int) -> str:
        rnd, w = self.rnd, self.w
        if rnd() < EMAIL_JUNK:
            return JUNK_EMAILS[int(rnd() * len(JUNK_EMAILS))]
        email = w.email1[i]
        other = w.email2[i]
        if other:  # a repeat record (second account, second sign-up) takes the address the first did not
            use_other = (not self.used_other[i]) if repeat else rnd() < OTHER_EMAIL_USE
            self.used_other[i] = use_other
            if use_other:
                email = other
        u = rnd()
        if u < EMAIL_PLUS:
            local, domain = email.split("@")
            email = f"{local}+{PLUS_TAGS[int(rnd() * len(PLUS_TAGS))]}@{domain}"
        elif u < EMAIL_PLUS + EMAIL_CASE:
            kind = rnd()
            if kind < 0.4:
                local, domain = email.split("@")
                email = f"{local.title()}@{domain.title()}"
            elif kind < 0.7:
                email = email.upper()
            else:
                email = (" " + email) if rnd() < 0.5 else (email + " ")
        return email

    def _phone(self, i: int, source: str) -> str:
        rnd, w = self.rnd, self.w
        if rnd() < PHONE_JUNK:
            return JUNK_PHONES[int(rnd() * len(JUNK_PHONES))]
        household = w.household[i]
        if household >= 0 and w.landline[household] and rnd() < LANDLINE_USE:
            digits = w.landline[household]
        elif rnd() < PHONE_OTHER:
            digits = w.other_phone.get(i, "")
            if not digits:
                digits = w.other_phone[i] = w.new_phone(w.random_state() if rnd() < 0.3 else
                                                        w.addresses[w.home[i]][7])
        else:
            digits = w.mobile[i]
        return _phone_text(digits, _pick(rnd, self.phone_cum[source]))

    def _current(self, i: int) -> tuple:
        w = self.w
        previous = w.previous[i]
        if previous >= 0 and self.rnd() < PREVIOUS_ADDRESS_USE:
            return w.addresses[previous]
        return w.addresses[w.home[i]]

    def _postal(self, i: int) -> str:
        address = self._current(i)
        return f"{address[8]}-{address[9]}" if self.rnd() < ZIP_PLUS4 else address[8]

    def _address(self, i: int, with_street: bool) -> tuple[str, str, str, str]:
        rnd = self.rnd
        address = self._current(i)
        zip5 = f"{address[8]}-{address[9]}" if rnd() < ZIP_PLUS4 else address[8]
        if not with_street:
            return "", "", "", (zip5 if rnd() < POSTAL_WITHOUT_STREET else "")
        style = ADDRESS_STYLES[_pick(rnd, self.address_style_cum)] if rnd() < ADDRESS_FORMAT else "short"
        if rnd() < ADDRESS_TYPO:
            number, base = address[0], address[2]
            if len(number) >= 2 and rnd() < 0.3:
                number = number[1] + number[0] + number[2:] if number[0] != number[1] and number[1] != "0" \
                    else number[:-1] + str((int(number[-1]) + 1) % 10)
            else:
                base = _typo(base, rnd)
            address = (number, address[1], base, *address[3:])
        line = _street_line(address, style)
        city, state = address[6], address[7]
        if style == "upper":
            city = city.upper()
        elif style == "lower":
            city, state = city.lower(), state.lower()
        return (line, city if rnd() < CITY_STATE_PRESENT else "", state if rnd() < CITY_STATE_PRESENT else "",
                zip5 if rnd() < POSTAL_WITH_STREET else "")

    def _birthdate(self, i: int, source: str) -> str:
        rnd = self.rnd
        born = self.w.birth[i]
        u = rnd()
        if u < BIRTHDATE_SWAP:
            if born.day <= 12 and born.day != born.month:
                born = born.replace(month=born.day, day=born.month)
        elif u < BIRTHDATE_SWAP + BIRTHDATE_TYPO:
            born = self._digit_typo(born)
        return born.strftime(BIRTHDATE_FORMAT[source][0])

    def _digit_typo(self, born: dt.date) -> dt.date:
        """The date with one of its digits (year decade or unit, month, day) replaced, still valid."""
        rnd = self.rnd
        text = born.strftime("%Y%m%d")
        for _ in range(10):
            position = (2, 3, 4, 5, 6, 7)[int(rnd() * 6)]
            digit = str(int(rnd() * 10))
            changed = text[:position] + digit + text[position + 1:]
            if changed == text:
                continue
            try:
                candidate = dt.datetime.strptime(changed, "%Y%m%d").date()
            except ValueError:
                continue
            if 18 <= (self.w.ref - candidate).days / 365.2425 <= 100:
                return candidate
        return born
