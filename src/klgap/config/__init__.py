"""Configuration: the schema that declares every key, its Markdown reference, and one run's
config."""
