"""The Splink model of a tenant, derived from the semantic tags of its Stitch feeds.

Nobody writes Splink code to get a working model: the columns the feeds tag decide the blocking rules
(an OR of cheap rules that each catch a different error) and the comparisons (Jaro-Winkler name levels with
term-frequency adjustment, birthdate, email, phone, address with postal code, city, each fk-<namespace>
identifier, and the catalog's extra `match_columns`). The catalog's `stitch` section can replace the blocking
rules and the comparisons (Splink's JSON forms), says how far each identifier is trusted, and sets the threshold.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on
from splink.internals.exceptions import SplinkException

from workflow_platform.catalog.models import StitchSettings
from workflow_platform.stitch.records import initial_sql

# Starting m and u probabilities per comparison (non-null levels, most to least similar): where training starts
# from, what a small data set's estimates are weighed against, and what a comparison keeps when the data cannot
# train it (`train` below).
PRIORS: dict[str, dict[str, list[float]]] = {
    # exact, reversed, JW .92 both, nickname + surname, a typo or nickname each, swapped with a typo, initial +
    # surname, given name with no surname to compare, surname with no given name to compare, surname only, given
    # only, else
    "name": {"m_probabilities": [0.70, 0.01, 0.08, 0.05, 0.03, 0.005, 0.01, 0.03, 0.01, 0.02, 0.02, 0.035],
             "u_probabilities": [0.0005, 0.00001, 0.0002, 0.0005, 0.001, 0.00001, 0.0002, 0.0003, 0.0001, 0.01,
                                 0.02, 0.96718]},
    # exact, JW .92, JW .88, JW .7, else
    "single_name": {"m_probabilities": [0.85, 0.05, 0.03, 0.03, 0.04],
                    "u_probabilities": [0.01, 0.005, 0.01, 0.05, 0.925]},
    # exact, one edit, within a month, a year, ten years, else
    "birthdate": {"m_probabilities": [0.90, 0.04, 0.01, 0.01, 0.02, 0.02],
                  "u_probabilities": [0.00005, 0.0003, 0.002, 0.03, 0.3, 0.66765]},
    # exact, else
    "email": {"m_probabilities": [0.78, 0.22], "u_probabilities": [0.00001, 0.99999]},
    # exact, one edit, else
    "phone": {"m_probabilities": [0.80, 0.03, 0.17], "u_probabilities": [0.00001, 0.0001, 0.99989]},
    # same address, address JW .9 with the same postal code, same address with another postal code, same postal
    # code with no address to compare, same postal code and a different address, else
    "address": {"m_probabilities": [0.75, 0.08, 0.04, 0.05, 0.02, 0.06],
                "u_probabilities": [0.0001, 0.0003, 0.00005, 0.005, 0.005, 0.98955]},
    "address_only": {"m_probabilities": [0.75, 0.08, 0.17], "u_probabilities": [0.0001, 0.0003, 0.9996]},
    # exact, JW .9, else
    "city": {"m_probabilities": [0.85, 0.05, 0.10], "u_probabilities": [0.01, 0.005, 0.985]},
    # an fk-<namespace> identifier: exact, one typo or transposition, else
    "identifier": {"m_probabilities": [0.90, 0.05, 0.05], "u_probabilities": [0.0001, 0.0005, 0.9994]},
    # match_columns by kind
    "exact": {"m_probabilities": [0.85, 0.15], "u_probabilities": [0.01, 0.99]},
    "typo": {"m_probabilities": [0.85, 0.07, 0.08], "u_probabilities": [0.01, 0.01, 0.98]},
    "fuzzy": {"m_probabilities": [0.80, 0.08, 0.05, 0.07], "u_probabilities": [0.01, 0.01, 0.03, 0.95]},
}
DEFAULT_TRUST = "link"  # an fk namespace the catalog's stitch.identifiers does not list


def identifiers(present: set[str]) -> list[str]:
    """The fk-<namespace> columns the Stitch feeds carry (fk_ssn for fk-ssn)."""
    return sorted(c for c in present if c.startswith("fk_"))


def trust(settings: StitchSettings, column: str) -> str:
    """`link` (a shared value links outright) or `evidence` (a comparison like any other) for an fk column."""
    return settings.identifiers.get("fk-" + column[3:], DEFAULT_TRUST)


def extra_columns(present: set[str], settings: StitchSettings) -> dict[str, str]:
    """The catalog's match_columns the Stitch feeds fill: name -> kind."""
    return {name: spec if isinstance(spec, str) else spec.kind
            for name, spec in settings.match_columns.items() if name in present}


def blocking_rules(present: set[str], settings: StitchSettings) -> list[Any]:
    """Candidate pairs: records that agree on at least one of these. Each rule catches a different error."""
    if settings.blocking_rules:
        return list(settings.blocking_rules)
    rules = []
    if "email" in present:
        rules.append(block_on("email"))  # names typed differently, moved house
    if "phone" in present:
        rules.append(block_on("phone"))  # new email, names typed differently
    if {"given_name", "surname"} <= present:
        rules.append(block_on("given_name", "surname"))  # new email and phone
        rules.append("l.given_name = r.surname AND l.surname = r.given_name")  # given name and surname swapped
    if {"surname", "birthdate"} <= present:
        rules.append(block_on("surname", "birthdate"))  # given name typo or nickname
    if {"given_name", "birthdate"} <= present:
        rules.append(block_on("given_name_root", "birthdate"))  # surname changed (marriage) or typo
    if {"birthdate", "postal"} <= present:
        rules.append(block_on("birthdate", "postal"))  # both names typed differently or replaced
    if {"birthdate", "address"} <= present:
        rules.append(block_on("birthdate", "address"))  # the same, and a postal code mistyped
    if {"surname", "postal", "given_name"} <= present:  # given name mistyped, birthdate missing
        rules.append(block_on("surname", "postal", "substr(given_name_root, 1, 1)"))
    if {"address", "postal"} <= present:
        rules.append(block_on("postal", "address"))  # same house, contact changed, a name replaced
    elif "address" in present and "given_name" in present:
        rules.append(block_on("address", "substr(given_name_root, 1, 1)"))
    for column in identifiers(present):  # a link-trusted identifier links outright: no pairs to score
        if trust(settings, column) == "evidence":
            rules.append(block_on(column))
    return rules


def comparisons(present: set[str], settings: StitchSettings, dialect: str = "duckdb") -> list[Any]:
    """One comparison per kind of evidence; correlated columns (address and postal) share one comparison.
    `dialect`: the SQL of the custom levels, duckdb or spark (the same conditions in the engine's functions)."""
    if settings.comparisons:
        return list(settings.comparisons)
    first, jw = _functions(dialect)
    out: list[Any] = []
    if {"given_name", "surname"} <= present:
        given, surname = "given_name", "surname"
        same_forms = cll.ArrayIntersectLevel("given_name_forms", min_intersection=1)
        out.append(cl.CustomComparison(
            output_column_name="name",
            comparison_description="given name and surname",
            comparison_levels=[
                cll.And(cll.NullLevel(given), cll.NullLevel(surname)).configure(is_null_level=True),
                cll.ExactMatchLevel("name_key").configure(tf_adjustment_column="name_key"),
                cll.ColumnsReversedLevel(given, surname, symmetrical=True),
                cll.And(cll.JaroWinklerLevel(given, 0.92), cll.JaroWinklerLevel(surname, 0.92)),
                cll.And(same_forms, cll.ExactMatchLevel(surname)).configure(
                    label_for_charts="Nickname or variant of the same given name, same surname"),
                cll.And(cll.Or(cll.JaroWinklerLevel(given, 0.88), same_forms),
                        cll.Or(cll.JaroWinklerLevel(surname, 0.88), cll.DamerauLevenshteinLevel(surname, 1))).configure(
                    label_for_charts="Given name and surname each a typo or nickname apart"),
                # the first letters first: most pairs fail that cheap test and skip the two similarities
                cll.CustomLevel(f"({first('given_name_l')} = {first('surname_r')} OR "
                                f"{first('surname_l')} = {first('given_name_r')}) AND "
                                f"{jw('given_name_l', 'surname_r')} >= 0.88 AND "
                                f"{jw('surname_l', 'given_name_r')} >= 0.88").configure(
                    label_for_charts="Given name and surname swapped, each a typo apart"),
                cll.And(cll.CustomLevel(initial_sql("given_name_l", "given_name_r", dialect)),
                        cll.ExactMatchLevel(surname)).configure(
                    label_for_charts="Initial of the given name, same surname"),
                # a missing part is no evidence; a different one is: "same given name" with the surname missing
                # on one side says much more than with two different surnames
                cll.And(same_forms, cll.NullLevel(surname)).configure(
                    label_for_charts="Same given name (or nickname), no surname to compare"),
                cll.And(cll.ExactMatchLevel(surname), cll.NullLevel(given)).configure(
                    tf_adjustment_column=surname, label_for_charts="Same surname, no given name to compare"),
                cll.ExactMatchLevel(surname).configure(tf_adjustment_column=surname,
                                                       label_for_charts="Same surname, different given name"),
                cll.Or(cll.ExactMatchLevel(given), same_forms).configure(
                    label_for_charts="Same given name, different surname"),
                cll.ElseLevel(),
            ],
        ).configure(**PRIORS["name"]))
    else:
        for column in ("given_name", "surname"):
            if column in present:
                out.append(cl.NameComparison(column).configure(**PRIORS["single_name"]))
    if "birthdate" in present:
        out.append(cl.DateOfBirthComparison("birthdate", input_is_string=False).configure(**PRIORS["birthdate"]))
    if "email" in present:
        # exact or not: jane.doe@ at two providers (or jdoe26@ and jdoe96@) is as often two Jane Does as one,
        # and the name comparison already counts the name the user name is made of
        out.append(cl.CustomComparison(
            output_column_name="email",
            comparison_levels=[
                cll.NullLevel("email"),
                cll.ExactMatchLevel("email").configure(tf_adjustment_column="email"),
                cll.ElseLevel(),
            ],
        ).configure(**PRIORS["email"]))
    if "phone" in present:
        out.append(cl.CustomComparison(
            output_column_name="phone",
            comparison_levels=[
                cll.NullLevel("phone"),
                cll.ExactMatchLevel("phone").configure(tf_adjustment_column="phone"),
                cll.DamerauLevenshteinLevel("phone", 1),
                cll.ElseLevel(),
            ],
        ).configure(**PRIORS["phone"]))
    if "address" in present:
        has_postal = "postal" in present
        same_postal = "coalesce(postal_l = postal_r, true)" if has_postal else "true"
        levels = [
            cll.NullLevel("address") if not has_postal else cll.And(cll.NullLevel("address"), cll.NullLevel("postal")),
            cll.And(cll.ExactMatchLevel("address"), cll.CustomLevel(same_postal)).configure(
                label_for_charts="Same address"),
            cll.And(cll.JaroWinklerLevel("address", 0.9), cll.CustomLevel(same_postal)).configure(
                label_for_charts="Address Jaro-Winkler > 0.9, same postal code"),
        ]
        if has_postal:
            levels.append(cll.ExactMatchLevel("address").configure(
                label_for_charts="Same address, another postal code"))
            levels.append(cll.And(cll.ExactMatchLevel("postal"), cll.NullLevel("address")).configure(
                label_for_charts="Same postal code, no address to compare"))
            levels.append(cll.ExactMatchLevel("postal").configure(label_for_charts="Same postal code, other address"))
        levels.append(cll.ElseLevel())
        out.append(cl.CustomComparison(output_column_name="address", comparison_levels=levels).configure(
            **PRIORS["address" if has_postal else "address_only"]))
    elif "postal" in present:
        out.append(cl.ExactMatch("postal").configure(term_frequency_adjustments=True, **PRIORS["exact"]))
    if "city" in present:
        # the same address or postal code almost always means the same city: the city then says nothing more
        # (counting it again would double the address's weight, e.g. for household members)
        same_place = [f"coalesce({c}_l = {c}_r, false)" for c in ("address", "postal") if c in present]
        out.append(cl.CustomComparison(output_column_name="city", comparison_levels=[
            cll.CustomLevel(" OR ".join(["city_l IS NULL", "city_r IS NULL", *same_place])).configure(
                is_null_level=True, label_for_charts="No city to compare, or the same address or postal code"),
            cll.ExactMatchLevel("city").configure(tf_adjustment_column="city"),
            cll.CustomLevel(f"{first('city_l')} = {first('city_r')} AND {jw('city_l', 'city_r')} >= 0.9").configure(
                label_for_charts="Jaro-Winkler distance of city >= 0.9"),
            cll.ElseLevel(),
        ]).configure(**PRIORS["city"]))
    for column in identifiers(present):
        # its own weights: one typo or transposition apart is strong evidence too
        out.append(cl.CustomComparison(output_column_name=column, comparison_levels=[
            cll.NullLevel(column),
            cll.ExactMatchLevel(column),
            cll.DamerauLevenshteinLevel(column, 1).configure(label_for_charts="One typo or transposition apart"),
            cll.ElseLevel(),
        ]).configure(**PRIORS["identifier"]))
    for column, kind in extra_columns(present, settings).items():
        levels = [cll.NullLevel(column), cll.ExactMatchLevel(column)]
        if kind == "typo":
            levels.append(cll.DamerauLevenshteinLevel(column, 1))
        elif kind == "fuzzy":
            levels += [cll.JaroWinklerLevel(column, 0.92), cll.JaroWinklerLevel(column, 0.8)]
        out.append(cl.CustomComparison(output_column_name=column, comparison_levels=[*levels, cll.ElseLevel()])
                   .configure(**PRIORS[kind]))
    return out


def training_rules(present: set[str]) -> list[tuple[str, ...]]:
    """EM passes, as the columns each blocks on: a pass estimates m for the comparisons of the other columns."""
    rules: list[tuple[str, ...]] = []
    if "email" in present:
        rules.append(("email",))
    if "phone" in present:
        rules.append(("phone",))
    if {"given_name", "surname"} <= present:
        rules.append(("given_name", "surname"))
    if {"surname", "birthdate"} <= present and "email" not in present:
        rules.append(("surname", "birthdate"))
    rules.extend((column,) for column in identifiers(present))
    return rules


def _functions(dialect: str):
    """(first letter, Jaro-Winkler similarity) as SQL of `dialect`: Spark has no string subscript, and Splink's
    Spark jar names Jaro-Winkler `jaro_winkler`."""
    if dialect == "spark":
        return (lambda x: f"substring({x}, 1, 1)"), (lambda a, b: f"jaro_winkler({a}, {b})")
    return (lambda x: f"{x}[1]"), (lambda a, b: f"jaro_winkler_similarity({a}, {b})")


def settings_creator(present: set[str], settings: StitchSettings, dialect: str = "duckdb") -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons(present, settings, dialect),
        blocking_rules_to_generate_predictions=blocking_rules(present, settings),
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=True,
        max_iterations=20,
    )


def model_fingerprint(present: set[str], settings: StitchSettings, dialect: str = "duckdb") -> str:
    """A hash of the untrained model's full Splink settings (columns, rules, comparison levels, starting values):
    when any of it changes — in the catalog or in this module — the stored model is retrained. Each engine's
    dialect has its own: a model stored by one engine is SQL of its dialect."""
    spec = settings_creator(present, settings, dialect).create_settings_dict(dialect)
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


MIN_PAIRS_TO_TRAIN = 100  # an EM pass on fewer blocked pairs estimates noise
PRIOR_PAIRS = 500  # the PRIORS m count as this many trained pairs: few pairs move a weight little, many a lot
PRIOR_U_PAIRS = 10_000  # the PRIORS u count as this many sampled pairs
U_PAIRS = 2e6  # random pairs that estimate u
RECALL = 0.7  # the share of all matches one training rule is taken to catch
EM_PAIRS = 1e6  # blocked pairs one EM pass samples at most


def _pairs(mem: Any, columns: tuple[str, ...]) -> int:
    """Pairs of wp_input records that agree on all these columns."""
    group = ", ".join(columns)
    present = " AND ".join(f"{c} IS NOT NULL" for c in columns)
    return int(mem.execute(f"SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM (SELECT count(*) AS n FROM wp_input "
                           f"WHERE {present} GROUP BY {group})").fetchone()[0])


def train(linker: Any, mem: Any, present: set[str], settings: StitchSettings) -> tuple[dict, dict[str, str]]:
    """Train what the data can train; -> (the model as Splink JSON, comparison -> "trained ..." or "prior (why)").

    u by random sampling (every pair of a small data set). m by EM, one pass per training rule that holds at least
    MIN_PAIRS_TO_TRAIN pairs and trains a comparison fewer than two passes have trained; a comparison's m is the
    average of its passes' estimates and its PRIORS counted as PRIOR_PAIRS pairs, so a small data set moves the
    starting values only as far as its evidence goes; no pass, or a degenerate estimate (the best level no
    evidence for a match, or the last level evidence for one), and it keeps its PRIORS. The prior probability of
    a match: the most matches one EM pass found, taken as RECALL of all (before EM, or without it: the pairs of the
    first rule). Then u is freed of the matches in its sample (`_calibrate`)."""
    training = linker.training
    rules = [(rule, _pairs(mem, rule)) for rule in training_rules(present)]
    notes: dict[str, str] = {}
    first = next((rule for rule, pairs in rules if pairs), None)
    if first is not None:  # a starting value: EM refines it below
        training.estimate_probability_two_random_records_match([block_on(*first)], recall=RECALL)
        notes["probability_two_random_records_match"] = f"from the pairs of {' + '.join(first)}"
    else:
        notes["probability_two_random_records_match"] = "prior"
    matches: dict[tuple[str, ...], float] = {}  # EM pass -> the matches it found among its pairs
    training.estimate_u_using_random_sampling(max_pairs=U_PAIRS, seed=1)

    def levels() -> list[list[Any]]:  # each EM pass replaces the settings with a trained copy
        return [c._comparison_levels_excluding_null for c in linker._settings_obj.comparisons]

    estimates: list[list[tuple[float, list[float]]]] = [[] for _ in levels()]  # per comparison: (pairs, m)
    uses = [set(re.findall(r"\b(\w+)_[lr]\b", " ".join(level["sql_condition"] for level in c["comparison_levels"])))
            for c in linker._settings_obj.as_dict()["comparisons"]]
    covered = [0] * len(uses)
    for rule, pairs in rules:
        estimated = [i for i, columns in enumerate(uses) if not columns & set(rule)]
        # a pass runs when it holds enough pairs and trains a comparison fewer than two passes have trained
        if pairs < MIN_PAIRS_TO_TRAIN or all(covered[i] >= 2 for i in estimated):
            continue
        seen = [[len(level._trained_m_probabilities) for level in group] for group in levels()]
        before = linker._settings_obj.core_model_settings.copy()  # a failed pass leaves its comparisons out
        try:
            session = training.estimate_parameters_using_expectation_maximisation(
                block_on(*rule), estimate_without_term_frequencies=True, max_pairs=EM_PAIRS)
            matches[rule] = session.core_model_settings.probability_two_random_records_match * pairs
            for i in estimated:
                covered[i] += 1
        except (ValueError, SplinkException) as exc:  # EM diverged (an m underflowed): the pass trains nothing
            linker._settings_obj.core_model_settings = before
            notes[f"EM on {' + '.join(rule)}"] = f"failed: {str(exc).splitlines()[0][:120]}"
            continue
        for i, group in enumerate(levels()):
            new = [level._trained_m_probabilities[n:] for level, n in zip(group, seen[i], strict=True)]
            if any(new):  # this pass estimated the comparison; a level it never saw has m 0 in it
                m = [float(x[-1]["probability"]) if x and not isinstance(x[-1]["probability"], str) else 0.0
                     for x in new]
                estimates[i].append((min(pairs, EM_PAIRS), m))
    weights = _shrink_to_priors(linker, present, settings, estimates)
    records = mem.execute("SELECT count(*) FROM wp_input").fetchone()[0]
    sampled = [[level._trained_u_median is not None for level in group] for group in levels()]
    model = linker.misc.save_model_to_json()
    total = max(records * (records - 1) / 2, 1)
    if matches:  # the pass that found most matches, taken to catch RECALL of them
        best = max(matches, key=matches.get)
        model["probability_two_random_records_match"] = min(matches[best] / RECALL / total, 0.5)
        notes["probability_two_random_records_match"] = f"from the matches EM found blocking on {' + '.join(best)}"
    model = _calibrate(model, sampled, min(U_PAIRS, total), _starting_levels(present, settings))
    return model, {**weights, **notes}


def _starting_levels(present: set[str], settings: StitchSettings) -> dict[str, list[dict]]:
    """Comparison -> its non-null levels as configured (the PRIORS m and u)."""
    return {c["output_column_name"]: [level for level in c["comparison_levels"] if not level.get("is_null_level")]
            for c in settings_creator(present, settings).create_settings_dict("duckdb")["comparisons"]}


def _shrink_to_priors(linker: Any, present: set[str], settings: StitchSettings,
                      estimates: list[list[tuple[float, list[float]]]]) -> dict[str, str]:
    """Set each comparison's m: its EM estimates and its PRIORS, weighted by pairs; -> comparison -> what it is."""
    start = _starting_levels(present, settings)
    weights = {}
    for comparison, passes in zip(linker._settings_obj.comparisons, estimates, strict=True):
        name = comparison.output_column_name
        levels = comparison._comparison_levels_excluding_null
        prior = [level.get("m_probability") for level in start.get(name, [])]
        if len(prior) != len(levels) or None in prior:  # a catalog comparison without starting values
            prior, strength = [level.m_probability for level in levels], 0.0
        else:
            strength = PRIOR_PAIRS
        if not passes:
            for level, m in zip(levels, prior, strict=True):
                level.m_probability = m
            weights[name] = "prior (no training pass)"
            continue
        pairs = sum(n for n, _ in passes)
        m = [(sum(n * ms[j] for n, ms in passes) + strength * prior[j]) / (pairs + strength)
             for j in range(len(levels))]
        total = sum(m)
        m = [max(x / total, 1e-6) for x in m]
        best, worst = levels[0], levels[-1]
        if m[0] <= (best.u_probability or 0.0) or m[-1] >= (worst.u_probability or 1.0):
            m, why = prior, "prior (degenerate estimate)"
        else:
            why = f"trained ({int(pairs):,} pairs)"
        for level, value in zip(levels, m, strict=True):
            level.m_probability = value
        weights[name] = why
    return weights


def _calibrate(model: dict, sampled: list[list[bool]], pairs: float, start: dict[str, list[dict]]) -> dict:
    """u from random pairs counts the matches among them too: u_sampled = lambda * m + (1 - lambda) * u. On small
    data (lambda not negligible) that caps every strong level's weight near log2(1 / lambda). Each sampled u is
    replaced by (u_sampled - lambda * m) / (1 - lambda), averaged with its PRIORS u counted as PRIOR_U_PAIRS
    pairs (a few sampled pairs say little; two million say it all). A level's term-frequency adjustment keeps the
    share of u that was coincidence: its values' frequencies count the duplicates as much as the level's did."""
    lam = model["probability_two_random_records_match"]
    for comparison, trained in zip(model["comparisons"], sampled, strict=True):
        levels = [level for level in comparison["comparison_levels"] if not level.get("is_null_level")]
        priors = start.get(comparison["output_column_name"], [])
        for j, (level, was_sampled) in enumerate(zip(levels, trained, strict=True)):
            u, m = level.get("u_probability"), level.get("m_probability")
            prior = priors[j].get("u_probability") if j < len(priors) and len(priors) == len(levels) else None
            if not was_sampled or u is None or m is None:
                continue
            corrected = max((u - lam * m) / (1 - lam), 0.0)
            if prior is not None:
                corrected = (pairs * corrected + PRIOR_U_PAIRS * prior) / (pairs + PRIOR_U_PAIRS)
            corrected = max(corrected, 1e-9)
            level["u_probability"] = corrected
            if "tf_adjustment_column" in level:
                share = min(corrected / u, 1.0) * level.get("tf_adjustment_weight", 1.0)
                if share < 0.05:
                    del level["tf_adjustment_column"]
                    level.pop("tf_adjustment_weight", None)
                else:
                    level["tf_adjustment_weight"] = share
    return model
