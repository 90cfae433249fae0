"""The sweep: where runs live, the per-run job, tables over runs, status, provenance,
verification."""
