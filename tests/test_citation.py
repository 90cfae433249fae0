"""The citation records: CITATION.cff and .zenodo.json parse, agree, and match the paper."""

import json
import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CFF_REQUIRED = ["cff-version", "message", "title", "authors", "type", "license", "version",
                "date-released", "abstract", "keywords", "preferred-citation"]


def citation() -> dict:
    """CITATION.cff, parsed."""
    return yaml.safe_load((REPO / "CITATION.cff").read_text())


def zenodo() -> dict:
    """.zenodo.json, parsed."""
    return json.loads((REPO / ".zenodo.json").read_text())


def words(text: str) -> str:
    """Text with its whitespace collapsed."""
    return " ".join(text.split())


def test_citation_has_the_required_fields_and_cites_the_paper():
    cff = citation()
    assert [key for key in CFF_REQUIRED if key not in cff] == []
    paper = cff["preferred-citation"]
    assert paper["type"] == "article" and isinstance(paper["year"], int)
    assert paper["abstract"] and paper["keywords"] and paper["authors"]
    # The paper's title as main.tex sets it (line break and size command removed).
    tex = (REPO / "paper" / "main.tex").read_text()
    title = re.search(r"\\title\{(.*?)\}\n\\author", tex, re.DOTALL)[1]
    title = re.sub(r"\\\\(\[[^]]*\])?|\\large", " ", title)
    assert words(paper["title"]) == words(title)
    # No public URL yet: the publisher fills repository-code in (see the file's header).
    assert "repository-code" not in cff or cff["repository-code"].startswith("https://")


def test_zenodo_record_agrees_with_citation_and_package():
    cff, record = citation(), zenodo()
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert cff["version"] == record["version"] == version
    assert cff["title"] == record["title"]
    assert words(cff["abstract"]) == words(record["description"])
    assert cff["license"] == record["license"]
    assert cff["keywords"] == record["keywords"]
    assert [a["name"] for a in cff["authors"]] == [c["name"] for c in record["creators"]]
    assert str(cff["date-released"]) == record["publication_date"]
    assert record["upload_type"] == "software" and cff["type"] == "software"
    assert words(cff["preferred-citation"]["title"]) in record["notes"]
