"""The protocol JSON Schema, generated from the pydantic model so editors check YAML as it is typed.

`make schema` (``python -m ptp_pipeline.protocol.schema``) writes the schema to
`protocols/schema/protocol.schema.json` (and the unit-costs schema beside it) and refreshes the
committed list of Great Expectations expectation types; a test fails when either differs from what the code generates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ptp_pipeline.protocol.gx_registry import REGISTRY_FILE, registry_from_gx, registry_text
from ptp_pipeline.protocol.model import Protocol

DEFAULT_PATH = Path("protocols/schema/protocol.schema.json")
COSTS_NAME = "costs.schema.json"  # beside the protocol schema


def protocol_schema() -> dict[str, Any]:
    schema = Protocol.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/ptp-pipeline/ptp-pipeline/protocols/schema/protocol.schema.json",
        **schema,
        "title": "ptp-pipeline data-sharing protocol",
    }


def schema_text() -> str:
    return json.dumps(protocol_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def costs_schema_text() -> str:
    """The unit-costs file's schema (protocols/costs/<theme>.yaml), from `protocol.costs.CostsFile`."""
    from ptp_pipeline.protocol.costs import CostsFile

    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$id": f"https://github.com/ptp-pipeline/ptp-pipeline/protocols/schema/{COSTS_NAME}",
              **CostsFile.model_json_schema(), "title": "ptp-pipeline unit costs of one theme"}
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """Write the schema (to the path given, or the default) and the GX expectation list."""
    path = Path(argv[0]) if argv else DEFAULT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema_text(), encoding="utf-8")
    (path.parent / COSTS_NAME).write_text(costs_schema_text(), encoding="utf-8")
    REGISTRY_FILE.write_text(registry_text(registry_from_gx()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
