"""klgap: per-example KL versus aggregate KL in variational autoencoders."""

__version__ = "0.1.0"
