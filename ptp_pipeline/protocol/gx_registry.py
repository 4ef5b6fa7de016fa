"""The Great Expectations expectation types a protocol may list, with their argument names.

A protocol's extra expectations are checked against this list when the protocol is validated,
so a misspelt type or argument fails at `ptp protocol validate`, not at ingest. The list is a
committed file (`gx_expectations.json`) generated from GX's own registry by `make schema`:
importing GX takes seconds, and DAG files that parse protocols must not import it at all.
A test fails when the committed list differs from the installed GX's registry.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

REGISTRY_FILE = Path(__file__).with_name("gx_expectations.json")
#: Arguments every expectation has that a protocol must not set (GX fills them in).
_INTERNAL = {"id", "meta", "notes", "rendered_content", "batch_id", "metadata", "windows"}


@cache
def known_expectations() -> dict[str, list[str]]:
    """Expectation type -> the argument names it takes (from the committed file)."""
    data: dict[str, list[str]] = json.loads(REGISTRY_FILE.read_text(encoding="utf-8"))
    return data


def registry_from_gx() -> dict[str, list[str]]:
    """The same mapping read from the installed GX (slow: imports GX)."""
    import great_expectations.expectations  # noqa: F401  (registers the core expectations)
    from great_expectations.expectations.registry import (
        get_expectation_impl,
        list_registered_expectation_implementations,
    )

    import ptp_pipeline.quality.expectations  # noqa: F401  (and ours, so the list never depends on test order)

    out: dict[str, list[str]] = {}
    for name in sorted(list_registered_expectation_implementations()):
        impl = get_expectation_impl(name)
        fields = getattr(impl, "__fields__", {})
        out[name] = sorted(f for f in fields if f not in _INTERNAL)
    return out


def registry_text(registry: dict[str, list[str]]) -> str:
    return json.dumps(registry, indent=1, sort_keys=True) + "\n"
