"""The rendered agreements of the repo's protocols, compared with reviewed golden files.

`make snapshots` (UPDATE_SNAPSHOTS=1, not PTP_: conftest clears PTP_ variables) rewrites them.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from ptp_pipeline.protocol import load_protocol
from ptp_pipeline.protocol.render import render_html, render_markdown

REPO = Path(__file__).resolve().parents[3]
GOLDEN = REPO / "tests" / "golden" / "agreements"
RENDERED_ON = date(2025, 1, 1)


@pytest.mark.golden
@pytest.mark.parametrize("name", ["council_contacts", "health_attendances", "licensing_register",
                                  "police_incidents"])
def test_agreement_matches_golden(name: str) -> None:
    protocol = load_protocol(REPO / "protocols" / f"{name}.yaml")
    rendered = {".html": render_html(protocol, RENDERED_ON), ".md": render_markdown(protocol, RENDERED_ON)}
    for suffix, text in rendered.items():
        golden = GOLDEN / f"{protocol.id}-v{protocol.version}{suffix}"
        if os.environ.get("UPDATE_SNAPSHOTS") == "1":
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(text, encoding="utf-8")
        assert golden.exists() and golden.read_text(encoding="utf-8") == text, (
            f"{golden.relative_to(REPO)} differs from the rendered agreement: run `make snapshots`, review the diff")
