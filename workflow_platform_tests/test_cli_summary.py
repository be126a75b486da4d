"""The summary `workflow-platform run` and `send` print (issue #21): one line per asset with the rows aligned, the
details on indented lines below it, files as a count and the ones that were not simply loaded, what is missing on
a line of its own; then the refused files and the failed steps. Never a markdown table squeezed into a column."""

from __future__ import annotations

import re

from workflow_platform.cli import _print_outcome
from workflow_platform.runner import AssetRow, RunOutcome

# details as workflow_platform.runner._summarize writes them from the assets' metadata
COURIER = ("files_loaded=2, files=| file | date | bytes |\n|---|---|---|\n"
           "| ecommerce/customers_20261130.csv | 2026-11-30 | 172755 |\n"
           "| ecommerce/customers_20261201.csv | 2026-12-01 | 6065 |, bytes=178820, "
           "missing: ecommerce/customers_20261202.csv for 2026-12-02; ecommerce/customers_20261203.csv for 2026-12-03")
FEED = ("files=| file | rows | rejected | values_nulled | status |\n|---|---|---|---|---|\n"
        "| pos/2026/11/30/orders-S01.csv | 175 | 0 | 1 | loaded |\n"
        "| pos/2026/11/30/orders-S02.csv | 149 | 6 | 0 | rejected |\n"
        "| pos/2026/11/30/orders-S03.csv | 67 | 0 | 0 | duplicate |, rows_rejected=6, values_nulled=1")
OUTCOME = RunOutcome(
    run_id="72ae7ef9-0000", success=False, window_text="2026-11-30 .. 2026-12-06", warehouse="/tmp/w.duckdb",
    rows=[
        AssetRow("courier/ecommerce_customers", None, COURIER),
        AssetRow("feed/pos_orders", 12345, FEED),
        AssetRow("domain/pos_orders", 12339, "rows_inserted=12339, rows_updated=0"),
        AssetRow("database/c360/customer_360", 1671, ""),
        AssetRow("segment/lapsed_customers", 0, ""),
        AssetRow("courier/loyalty_members", None, "files_loaded=0, files=(none), bytes=0"),
    ],
    failures=["courier_group__daily_sources.courier__pos_orders: courier 'pos_orders': no file matching [x] (required)"],
    refused=["in/c_20260105_b.csv (quarantined): in/c_20260105_b.csv: file is empty (0 bytes)"],
)


def printed(capsys) -> tuple[list[str], list[str]]:
    _print_outcome(OUTCOME, "acme_outfitters: run 72ae7ef9 (2026-11-30 .. 2026-12-06)")
    out, err = capsys.readouterr()
    return out.splitlines(), err.splitlines()


def test_one_aligned_line_per_asset_with_its_details_indented_below(capsys):
    out, _ = printed(capsys)
    assert out[0] == "acme_outfitters: run 72ae7ef9 (2026-11-30 .. 2026-12-06): FAILED, 6 assets materialized"
    assert re.fullmatch(r"  asset +rows", out[1])
    asset_lines = [line for line in out[2:] if re.match(r"  [a-z]", line)]
    assert [line.split()[0] for line in asset_lines] == [row.key for row in OUTCOME.rows]
    assert len({len(line) for line in asset_lines + [out[1]]}) == 1  # the rows column ends in one place
    assert [line.split()[1] for line in asset_lines] == ["-", "12,345", "12,339", "1,671", "0", "-"]
    for line in out[2:]:  # every other line is a detail, indented under its asset
        assert line in asset_lines or line.startswith("      "), line
    assert not any("|" in line or "---" in line or "│" in line for line in out)  # no table, no box


def test_details_read_as_values_files_and_what_is_missing(capsys):
    out, _ = printed(capsys)
    text = "\n".join(out)
    assert ("  courier/ecommerce_customers       -\n"
            "      files_loaded=2, bytes=178,820\n"
            "      files: 2\n"
            "      missing: ecommerce/customers_20261202.csv for 2026-12-02; ecommerce/customers_20261203.csv for "
            "2026-12-03\n") in text + "\n"
    assert ("      rows_rejected=6, values_nulled=1\n"
            "      files: 3\n"
            "        pos/2026/11/30/orders-S02.csv: rejected, 6 rows rejected\n"
            "        pos/2026/11/30/orders-S03.csv: duplicate\n") in text + "\n"
    assert "orders-S01.csv" not in text  # loaded as it should: counted, not listed
    assert "      rows_inserted=12,339, rows_updated=0" in out
    assert "      files_loaded=0, bytes=0" in out and "      files: 0" in out


def test_refused_files_and_failed_steps_are_listed_on_stderr(capsys):
    out, err = printed(capsys)
    assert err == [
        "refused files (1), moved to quarantine or rejected:",
        "  refused in/c_20260105_b.csv (quarantined): in/c_20260105_b.csv: file is empty (0 bytes)",
        "failed steps (1):",
        ("  failed courier_group__daily_sources.courier__pos_orders: courier 'pos_orders': no file matching [x] "
         "(required)"),  # brackets as they are: no markup
    ]
    assert not any("refused" in line or "failed" in line for line in out)


def test_a_detail_it_cannot_read_is_printed_whole(capsys):
    odd = RunOutcome(run_id="1", success=True, window_text="w", warehouse="w",
                     rows=[AssetRow("stitch/identity", 10, "Splink [model] retrained"),
                           AssetRow("courier/x", None, ", missing: in/x_20260105.csv for 2026-01-05")])
    _print_outcome(odd, "t")
    out = capsys.readouterr().out.splitlines()
    assert out == ["t: succeeded, 2 assets materialized", "  asset            rows",
                   "  stitch/identity    10", "      Splink [model] retrained",
                   "  courier/x           -", "      missing: in/x_20260105.csv for 2026-01-05"]
