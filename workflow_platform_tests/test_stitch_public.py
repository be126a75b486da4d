"""FEBRL 4, the public record-linkage benchmark, through the user's path: the files as distributed, the catalog
bench/febrl/febrl4/, `workflow-platform run`, scored over every record of the files.

It runs the same code as bench/stitch_public.py (`measure_pipeline`), which measures all four FEBRL sets against
a plain hand-written Splink model. The floors sit a little under what the current code measures; raise them as
the model improves.
"""

from bench.stitch_public import measure_pipeline

# measured with the model that uses every tagged column (2 cores): P 1.0000, R 0.9986, F1 0.9993, B3 F1 0.9996, no
# record lost (the 64 impossible birth dates of dataset4b.csv load as NULL); issue #16's target is F1 >= 0.998
PRECISION_FLOOR, F1_FLOOR, BCUBED_F1_FLOOR = 0.999, 0.998, 0.999


def test_febrl4_through_the_pipeline_meets_its_accuracy_floor(tmp_path):
    result = measure_pipeline("febrl4", tmp_path)
    assert result["success"], result["failures"]
    assert result["records"] == 10_000 and result["people"] == 5_000 and result["true_pairs"] == 5_000
    assert result["lost"] == 0, (result["rejects"], result["failures"])
    assert result["precision"] >= PRECISION_FLOOR, result
    assert result["f1"] >= F1_FLOOR, result
    assert result["bcubed_f1"] >= BCUBED_F1_FLOOR, result
