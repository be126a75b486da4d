"""The Splink model of a tenant, derived from the semantic tags of its Stitch feeds.

Nobody writes Splink code to get a working model: the columns the feeds tag decide the blocking rules
(an OR of cheap rules that each catch a different error) and the comparisons (Jaro-Winkler name levels with
term-frequency adjustment, birthdate, email, phone, address with postal code). The catalog's `stitch`
section can replace the blocking rules and the comparisons (Splink's JSON forms) and sets the threshold.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on

from workflow_platform.catalog.models import StitchSettings
from workflow_platform.stitch.records import initial_sql

# Starting m and u probabilities per comparison (non-null levels, most to least similar): what a tenant too small
# to train on (fewer than MIN_RECORDS_TO_TRAIN records) uses, and where EM starts from on larger ones.
MIN_RECORDS_TO_TRAIN = 2_000
PRIORS: dict[str, dict[str, list[float]]] = {
    # exact, reversed, JW .92 both, nickname + surname, a typo or nickname each, initial + surname, given name
    # with no surname to compare, surname with no given name to compare, surname only, given only, else
    "name": {"m_probabilities": [0.70, 0.01, 0.08, 0.05, 0.03, 0.01, 0.03, 0.01, 0.02, 0.02, 0.04],
             "u_probabilities": [0.0005, 0.00001, 0.0002, 0.0005, 0.001, 0.0002, 0.0003, 0.0001, 0.01, 0.02,
                                 0.9677]},
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
    # same address, address JW .9 with the same postal code, same postal code with no address to compare,
    # same postal code and a different address, else
    "address": {"m_probabilities": [0.75, 0.08, 0.05, 0.02, 0.10],
                "u_probabilities": [0.0001, 0.0003, 0.005, 0.005, 0.9896]},
    "address_only": {"m_probabilities": [0.75, 0.08, 0.17], "u_probabilities": [0.0001, 0.0003, 0.9996]},
    "exact": {"m_probabilities": [0.85, 0.15], "u_probabilities": [0.01, 0.99]},
}


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
    if {"address", "postal"} <= present and "given_name" in present:
        rules.append(block_on("postal", "address", "substr(given_name_root, 1, 1)"))  # same house, contact changed
    elif "address" in present and "given_name" in present:
        rules.append(block_on("address", "substr(given_name_root, 1, 1)"))
    return rules


def comparisons(present: set[str], settings: StitchSettings) -> list[Any]:
    """One comparison per kind of evidence; correlated columns (address and postal) share one comparison."""
    if settings.comparisons:
        return list(settings.comparisons)
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
                cll.And(cll.CustomLevel(initial_sql("given_name_l", "given_name_r")), cll.ExactMatchLevel(surname)).configure(
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
            levels.append(cll.And(cll.ExactMatchLevel("postal"), cll.NullLevel("address")).configure(
                label_for_charts="Same postal code, no address to compare"))
            levels.append(cll.ExactMatchLevel("postal").configure(label_for_charts="Same postal code, other address"))
        levels.append(cll.ElseLevel())
        out.append(cl.CustomComparison(output_column_name="address", comparison_levels=levels).configure(
            **PRIORS["address" if has_postal else "address_only"]))
    elif "postal" in present:
        out.append(cl.ExactMatch("postal").configure(term_frequency_adjustments=True, **PRIORS["exact"]))
    if "city" in present and "address" not in present and "postal" not in present:
        out.append(cl.ExactMatch("city").configure(term_frequency_adjustments=True, **PRIORS["exact"]))
    return out


def training_rules(present: set[str]) -> list[Any]:
    """EM passes: each blocks on one kind of evidence and so estimates m for the others."""
    rules = []
    if "email" in present:
        rules.append(block_on("email"))
    if "phone" in present:
        rules.append(block_on("phone"))
    if {"given_name", "surname"} <= present:
        rules.append(block_on("given_name", "surname"))
    if {"surname", "birthdate"} <= present and "email" not in present:
        rules.append(block_on("surname", "birthdate"))
    return rules


def settings_creator(present: set[str], settings: StitchSettings) -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons(present, settings),
        blocking_rules_to_generate_predictions=blocking_rules(present, settings),
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=True,
        max_iterations=20,
    )


def model_fingerprint(present: set[str], settings: StitchSettings) -> str:
    """A hash of the untrained model's full Splink settings (columns, rules, comparison levels, starting values):
    when any of it changes — in the catalog or in this module — the stored model is retrained."""
    spec = settings_creator(present, settings).create_settings_dict("duckdb")
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]
