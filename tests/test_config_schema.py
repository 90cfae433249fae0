"""Each hyperparameter is declared once, in the schema; the commands and RunConfig follow it."""

from klgap import cli
from klgap.config import schema as config_schema
from klgap.config import runconfig


def parse(argv):
    return cli.build_parser(argv).parse_args(argv)


def test_command_line_types_come_from_the_schema():
    lists, booleans = config_schema.command_line_types()
    assert lists == {"datasets": str, "latent_dims": int, "weights": float, "seeds": int,
                     "hidden": int, "minibatch_sizes": int}
    assert booleans == {"partial", "batched_training", "strict_paper"}


def test_command_and_run_config_defaults_are_the_schema_defaults():
    train = parse(["train", "--data", "d.npz", "--rundir", "r", "--beta", "1", "--seed", "0",
                   "--latent-dim", "2", "--epochs", "1"])
    together = parse(["train-together", "--data", "d.npz", "--rundirs", "r", "--seeds", "0",
                      "--betas", "1", "--latent-dim", "2", "--epochs", "1"])
    evaluate = parse(["evaluate", "--data", "d.npz", "--rundir", "r", "--classifier", "c.npz"])
    config = runconfig.RunConfig(data="d.npz", rundir="r", latent_dim=2, seed=0, epochs=1)
    for key in ("objective", "batch_size", "learning_rate", "hidden"):
        default = config_schema.default(key)
        assert getattr(train, key) == getattr(together, key) == getattr(config, key) == default
    assert (evaluate.iw_samples, evaluate.minibatch_sizes) == (
        config_schema.default("iw_samples"), config_schema.default("minibatch_sizes"))
    assert train.batch_size == 128 and train.hidden == [256, 256]  # the schema's values today
