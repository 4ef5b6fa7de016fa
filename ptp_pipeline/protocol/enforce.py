"""Which protocol governs an extract: approved and in force for its partner and dataset."""

from __future__ import annotations

from datetime import date

from ptp_pipeline.errors import ExtractError
from ptp_pipeline.protocol.model import Protocol


def protocol_in_force(protocols: list[Protocol], partner: str, dataset: str, on: date) -> Protocol:
    """The newest approved protocol version in force on `on`, or a refusal saying why none is."""
    candidates = [p for p in protocols if p.key == (partner, dataset)]
    if not candidates:
        raise ExtractError(
            f"no data-sharing protocol exists for partner '{partner}', dataset '{dataset}'",
            hint="A data officer must write and approve a protocol for this dataset before it can be received.",
        )
    in_force = [p for p in candidates if p.in_force(on)]
    if not in_force:
        states = "; ".join(
            f"{p.id} v{p.version} is {p.status.value}, valid {p.valid_from} to {p.valid_to}" for p in candidates
        )
        raise ExtractError(
            f"no approved protocol is in force for '{partner}/{dataset}' on {on} ({states})",
            hint="Ask the data officer to approve or renew the protocol; the extract can then be re-sent.",
        )
    return max(in_force, key=lambda p: (p.valid_from, p.version))
