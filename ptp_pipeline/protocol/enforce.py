"""Which protocol governs an extract: approved and in force for its partner and dataset."""

from __future__ import annotations

from datetime import date

from ptp_pipeline.errors import ExtractError
from ptp_pipeline.protocol.model import Protocol, Status

#: What to do, per reason no version is in force.
_HINTS = {
    "draft": "Ask the data officer to finish the protocol, have it signed and set status: approved.",
    "suspended": "The protocol is suspended: sharing stays stopped until the data officers lift the suspension.",
    "expired": "Ask the data officer to renew the protocol: a new version with new dates, signed and approved.",
    "not yet valid": "Wait until the protocol's valid_from date, or ask the data officer to correct it.",
}


def why_not_in_force(p: Protocol, on: date) -> str:
    """One version's refusal reason on `on`: draft, suspended, expired or not yet valid."""
    if p.status is Status.approved:
        if on < p.valid_from:
            return "not yet valid"
        if on > p.valid_to:
            return "expired"
    return p.status.value


def protocol_in_force(protocols: list[Protocol], partner: str, dataset: str, on: date) -> Protocol:
    """The newest approved protocol version in force on `on`, or a refusal saying why none is.

    A new version supersedes the old from its valid_from: of the versions in force, the one with
    the latest valid_from (then the highest version) governs.
    """
    candidates = [p for p in protocols if p.key == (partner, dataset)]
    if not candidates:
        raise ExtractError(
            f"no data-sharing protocol exists for partner '{partner}', dataset '{dataset}'",
            hint="A data officer must write and approve a protocol for this dataset before it can be received.",
        )
    in_force = [p for p in candidates if p.in_force(on)]
    if not in_force:
        reasons = [(p, why_not_in_force(p, on)) for p in sorted(candidates, key=lambda p: p.version)]
        states = "; ".join(f"{p.id} v{p.version} is {why}, valid {p.valid_from} to {p.valid_to}"
                           for p, why in reasons)
        newest_reason = reasons[-1][1]
        raise ExtractError(
            f"no approved protocol is in force for '{partner}/{dataset}' on {on} ({states})",
            hint=_HINTS.get(newest_reason, _HINTS["draft"]) + " The extract can then be re-sent.",
        )
    return max(in_force, key=lambda p: (p.valid_from, p.version))
