"""The order of a sweep's runs: longest kinds first, from recorded run times."""

import random
import statistics

from klgap.sweep import scheduling

HEADER = "rule,job,s,max_rss\n"


def test_expected_seconds_is_the_median_of_each_kind_of_run(tmp_path):
    rng = random.Random(7)
    times = {"mnist/vamp/z10": [rng.uniform(900, 1200) for _ in range(3)],
             "mnist/vae/classes1/z10": [rng.uniform(80, 100) for _ in range(2)],
             "fashion_mnist/vae/z2": [rng.uniform(290, 340) for _ in range(4)]}
    rows = [f"run,{kind}/beta{weight}/seed{seed},{seconds},1.0"
            for kind, values in times.items()
            for seed, (weight, seconds) in enumerate(zip([0.1, 1, 8, 2], values))]
    rng.shuffle(rows)
    half = len(rows) // 2
    (tmp_path / "a.csv").write_text(HEADER + "\n".join(rows[:half]) + "\n"
                                    + "classifier,mnist,30.0,1.0\n")
    (tmp_path / "b.csv").write_text(HEADER + "\n".join(rows[half:]) + "\n")
    found = scheduling.expected_seconds([tmp_path / "a.csv", tmp_path / "b.csv",
                                         tmp_path / "missing.csv"])
    assert found.keys() == times.keys()
    for kind, values in times.items():
        assert abs(found[kind] - statistics.median(values)) < 1e-9


def test_longer_kinds_get_higher_priorities_below_the_machine_rule():
    expected = {"mnist/vamp/z10": 1100.0, "mnist/mmd/z10": 550.0, "mnist/vae/classes1/z10": 88.0}
    priorities = {kind: scheduling.run_priority(kind, expected) for kind in expected}
    assert priorities["mnist/vamp/z10"] == scheduling.TOP_PRIORITY < 100
    assert priorities["mnist/vamp/z10"] > priorities["mnist/mmd/z10"] > priorities[
        "mnist/vae/classes1/z10"] >= 1
    assert priorities["mnist/mmd/z10"] == round(scheduling.TOP_PRIORITY / 2)
    assert scheduling.run_priority("fashion_mnist/wae/z10", expected) == priorities["mnist/mmd/z10"]
    assert scheduling.run_priority("mnist/vae/z10", {}) == 1
    assert scheduling.run_kind("mnist/vae/classes1/z10/beta1/seed2") == "mnist/vae/classes1/z10"
