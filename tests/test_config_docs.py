"""The configuration reference (config/README.md) and the workflow catalog's file."""

import yaml

from klgap.config import docs as config_docs
from test_workflow import CONFIGS, REPO, SCHEMA

README = CONFIGS / "README.md"
REGENERATE = ("python -m klgap config-docs --schema workflow/schemas/config.schema.yaml "
              "--paper-config config/config.yaml --out config/README.md")


def test_config_readme_is_generated_from_the_schema():
    schema = yaml.safe_load(SCHEMA.read_text())
    expected = config_docs.render(schema, yaml.safe_load((CONFIGS / "config.yaml").read_text()))
    assert README.read_text() == expected, f"config/README.md is stale: run {REGENERATE}"


def test_config_readme_describes_every_key_with_its_default():
    text = README.read_text()
    for key, spec in yaml.safe_load(SCHEMA.read_text())["properties"].items():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{key}` |")), None)
        assert row, f"config/README.md lacks the key {key}"
        assert config_docs.cell(spec["description"]) in row, key
        assert f"`{config_docs.json.dumps(spec['default'])}`" in row, key


def test_type_descriptions():
    assert config_docs.type_of({"type": "array", "items": {"type": "integer", "minimum": 1}}) \
        == "list of integer >= 1"
    assert config_docs.type_of({"type": ["string", "null"]}) == "string or null"
    assert config_docs.type_of({"oneOf": [{"type": "integer"}, {"type": "object"}]}) \
        == "integer or mapping"


def test_workflow_catalog_file_names_usage_and_report():
    catalog = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert catalog["report"] is True
    profile = catalog["mandatory-flags"]["flags"].split("--workflow-profile ")[1].split()[0]
    assert (REPO / profile / "config.yaml").is_file()
    assert set(catalog["software-stack-deployment"].values()) == {False}
