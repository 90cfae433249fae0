"""klgap.config.checks and klgap.sweep.collected_files: the package code behind the workflow's
configuration checks, its hash and the collecting rules' inputs."""

import pytest
import yaml

from klgap.config import checks
from klgap.config import schema as config_schema
from klgap.sweep import collected_files, layout

from test_workflow import CONFIGS


def validated(name: str) -> dict:
    """A configuration file with the schema's defaults filled in (as the workflow validates)."""
    config = {key: spec["default"] for key, spec in config_schema.properties().items()
              if "default" in spec}
    config.update(yaml.safe_load((CONFIGS / name).read_text()))
    return config


@pytest.mark.parametrize("key, value", [("outdir", "elsewhere"), ("data_dir", {"mnist": "/x"}),
                                        ("threads_per_run", 2), ("mem_mb", 1),
                                        ("gpus_per_run", 0), ("runs_per_gpu", 4)])
def test_the_hash_leaves_out_where_and_how_a_configuration_runs(key, value):
    config = validated("config.yaml")
    assert checks.config_hash({**config, key: value}) == checks.config_hash(config)


@pytest.mark.parametrize("key, value", [("seeds", [0]), ("epochs", 3), ("hidden", [64]),
                                        ("objective", "tcvae"), ("iw_samples", 10)])
def test_the_hash_changes_with_what_changes_results(key, value):
    config = validated("config.yaml")
    assert checks.config_hash({**config, key: value}) != checks.config_hash(config)


def test_a_snapshot_records_no_machine_local_path():
    config = {**validated("config.yaml"), "data_dir": {"mnist": "/home/me/mnist"}}
    snapshot = checks.snapshot(config)
    assert snapshot["data_dir"] is None
    assert {k: v for k, v in snapshot.items() if k != "data_dir"} == \
        {k: v for k, v in config.items() if k != "data_dir"}


def test_command_line_strings_become_lists_numbers_and_booleans():
    assert checks.from_command_line("seeds", "3") == [3]
    assert checks.from_command_line("weights", ["0.5", "2"]) == [0.5, 2.0]
    assert checks.from_command_line("partial", "yes") is True
    assert checks.from_command_line("seeds", ["x"]) == ["x"]  # left for the schema to report
    assert checks.from_command_line("outdir", "results") == "results"


def test_cross_key_problems_name_the_keys_and_the_fix():
    config = validated("config.yaml")
    assert checks.cross_key_problems(config) == []
    [problem] = checks.cross_key_problems({**config, "epochs": {"digits": 2}})
    assert "epochs has no entry for fashion_mnist, mnist" in problem
    # The paper's sweep cannot be trained stacked, for three reasons, each named with its fix.
    problems = checks.cross_key_problems({**config, "batched_training": True})
    assert len(problems) == 3 and all("batched_training" in p for p in problems)
    assert any("classes" in p for p in problems) and any("seeds" in p for p in problems)
    assert any("classprior, vamp" in p for p in problems)


def test_latent_spaces_drawn_are_the_2d_runs_of_each_objective_main_first():
    config = validated("config.yaml")
    grids = collected_files.latent_space_grids(config, "mnist")
    assert list(grids)[0] == config["objective"]
    for objective, weights in grids.items():
        runs = {run.weight for run in layout.sweep(config, "mnist")
                if run.objective == objective and run.latent_dim == 2}
        assert weights == layout.latent_space_weights(runs)
    assert collected_files.has_latent_space(config, "mnist")
    assert not collected_files.has_latent_space({**config, "latent_dims": [10],
                                                 "experiments": []})


def test_partial_mode_lists_only_existing_files(tmp_path):
    config = {**validated("smoke.yaml"), "outdir": str(tmp_path), "partial": True}
    dataset = config["datasets"][0]
    assert collected_files.run_files(config, dataset, "metrics.json") == []
    first = layout.sweep(config, dataset)[0]
    path = layout.run_dir(tmp_path, first) / "metrics.json"
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    assert collected_files.run_files(config, dataset, "metrics.json") == [str(path)]
    full = {**config, "partial": False}
    assert len(collected_files.run_files(full, dataset, "metrics.json")) == \
        len(layout.sweep(config, dataset))


def test_a_partial_shard_without_a_finished_run_is_empty_and_only_then(tmp_path):
    config = {**validated("config.yaml"), "outdir": str(tmp_path), "shard": "mnist-vae-s0",
              "partial": True}
    assert collected_files.partial_shard_is_empty(config)
    # Outside a shard, or without partial, the runs are trained: never empty.
    assert not collected_files.partial_shard_is_empty({**config, "shard": None})
    assert not collected_files.partial_shard_is_empty({**config, "partial": False})
    # One finished run of the shard is something to collect; another shard's run is not.
    runs = layout.sweep(config)
    others = [run for run in layout.sweep({**config, "shard": None}) if run not in runs]
    other = layout.run_dir(tmp_path, others[0]) / "metrics.json"
    other.parent.mkdir(parents=True)
    other.write_text("[]")
    assert collected_files.partial_shard_is_empty(config)
    own = layout.run_dir(tmp_path, runs[-1]) / "metrics.json"
    own.parent.mkdir(parents=True)
    own.write_text("[]")
    assert not collected_files.partial_shard_is_empty(config)


def test_what_the_workflow_imports_stays_light():
    # workflow/rules/common.smk imports these at DAG-build time: no TensorFlow, matplotlib or
    # pandas (a fresh interpreter, since the test session has imported them already).
    import subprocess
    import sys

    modules = ["klgap.config.checks", "klgap.paper.figure_registry", "klgap.sweep.collected_files",
               "klgap.sweep.layout", "klgap.training.objectives", "klgap.sweep.provenance"]
    code = ("import sys; " + "; ".join(f"import {m}" for m in modules)
            + "; print(sorted({'tensorflow', 'matplotlib', 'pandas'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("objective", ["vamp", "classprior"])
def test_objectives_with_a_learned_prior_run_in_the_sweep_but_not_stacked(objective):
    config = validated("config.yaml")
    experiments = [*config["experiments"], {"objective": objective, "weights": [1]}]
    assert checks.cross_key_problems({**config, "experiments": experiments}) == []
    problems = checks.cross_key_problems({**config, "experiments": experiments,
                                          "batched_training": True})
    assert any("cannot be trained stacked" in problem for problem in problems)


def test_runs_on_some_classes_have_their_own_paths_and_are_not_batched():
    config = validated("config.yaml")
    experiments = [*config["experiments"], {"objective": "vae", "weights": [1], "classes": [1]}]
    assert checks.cross_key_problems({**config, "experiments": experiments}) == []
    problems = checks.cross_key_problems({**config, "experiments": experiments,
                                          "batched_training": True})
    assert any("cannot train runs on some classes" in problem for problem in problems)
    ones = [run for run in layout.sweep({**config, "experiments": experiments})
            if run.classes is not None]
    assert ones and all(run.classes == (1,) for run in ones)
    assert layout.run_subdir(ones[0]).parts[1] == "classes1"
