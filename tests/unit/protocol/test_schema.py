"""The committed JSON Schema and GX expectation list match what the code generates."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from ptp_pipeline.protocol.gx_registry import REGISTRY_FILE, registry_from_gx, registry_text
from ptp_pipeline.protocol.load import read_yaml
from ptp_pipeline.protocol.schema import schema_text

REPO = Path(__file__).resolve().parents[3]
SCHEMA = REPO / "protocols" / "schema" / "protocol.schema.json"


def test_committed_schema_is_generated_from_the_model() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == schema_text(), (
        "protocols/schema/protocol.schema.json is out of date with the model: run `make schema` and commit it")


def test_committed_expectation_list_matches_installed_great_expectations() -> None:
    assert REGISTRY_FILE.read_text(encoding="utf-8") == registry_text(registry_from_gx()), (
        "ptp_pipeline/protocol/gx_expectations.json differs from GX's registry: run `make schema` and commit it")


def test_every_repo_protocol_passes_the_schema_and_points_editors_at_it() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    paths = sorted((REPO / "protocols").glob("*.yaml"))
    for path in (p for p in paths if p.name != "project.yaml"):
        assert path.read_text().startswith("# yaml-language-server: $schema=schema/protocol.schema.json")
        data, _ = read_yaml(path)
        assert not list(validator.iter_errors(data)), path


def test_schema_catches_a_misspelt_key_and_an_unknown_expectation_type() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    data, _ = read_yaml(REPO / "protocols" / "police_incidents.yaml")
    data["purpse"] = data.pop("purpose")
    data["expectations"] = [{"type": "expect_column_values_to_not_be_nul"}]
    messages = " ".join(e.message for e in validator.iter_errors(data))
    assert "purpse" in messages and "expect_column_values_to_not_be_nul" in messages


def test_committed_costs_schema_is_generated_and_the_repos_costs_files_pass_it() -> None:
    from ptp_pipeline.protocol.schema import costs_schema_text

    costs_schema = REPO / "protocols" / "schema" / "costs.schema.json"
    assert costs_schema.read_text(encoding="utf-8") == costs_schema_text(), (
        "protocols/schema/costs.schema.json is out of date with the model: run `make schema` and commit it")
    validator = jsonschema.Draft202012Validator(json.loads(costs_schema.read_text(encoding="utf-8")))
    paths = sorted((REPO / "protocols" / "costs").glob("*.yaml"))
    assert paths
    for path in paths:
        assert path.read_text().startswith("# yaml-language-server: $schema=../schema/costs.schema.json")
        data, _ = read_yaml(path)
        as_json = json.loads(json.dumps(data))  # YAML's integer year keys are JSON strings
        assert not list(validator.iter_errors(as_json)), path
        as_json["costs"][0]["unit_cst"] = as_json["costs"][0].pop("unit_cost")
        assert list(validator.iter_errors(as_json)), "a misspelt key must fail the schema"
