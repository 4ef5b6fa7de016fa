"""What protocols exist and in what state: for `ptp protocol list` and expiry warnings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ptp_pipeline.errors import ProtocolError
from ptp_pipeline.protocol.enforce import why_not_in_force
from ptp_pipeline.protocol.load import load_protocol
from ptp_pipeline.protocol.model import Protocol, Status

#: Approved protocols ending within this many days are flagged, so renewal starts in time.
EXPIRY_WARNING_DAYS = 30


@dataclass(frozen=True)
class Entry:
    """One protocol file's state on a given day (or why it could not be read)."""

    file: str
    id: str | None = None
    version: int | None = None
    partner: str | None = None
    dataset: str | None = None
    status: str = "invalid"
    valid_from: str | None = None
    valid_to: str | None = None
    in_force: bool = False
    days_left: int | None = None
    warning: str | None = None


def entry_for(path: Path, protocol: Protocol, on: date) -> Entry:
    days_left = (protocol.valid_to - on).days
    in_force = protocol.in_force(on)
    warning = None
    if in_force and days_left <= EXPIRY_WARNING_DAYS:
        warning = f"expires in {days_left} day(s), on {protocol.valid_to}: renew it (a new version) and have it signed"
    elif protocol.status is Status.approved and not in_force:
        why = why_not_in_force(protocol, on)
        warning = {"expired": f"approved but expired on {protocol.valid_to}; renew it (a new version)",
                   "not yet valid": f"approved but not in force until {protocol.valid_from}"}.get(
            why, f"approved but {why} on {on}")
    return Entry(path.name, protocol.id, protocol.version, protocol.partner.id, protocol.dataset,
                 protocol.status.value, str(protocol.valid_from), str(protocol.valid_to), in_force, days_left, warning)


def catalogue(paths: list[Path], on: date) -> list[Entry]:
    """Every protocol file's state on `on`; a file that does not validate is listed as invalid."""
    entries = []
    for path in paths:
        try:
            entries.append(entry_for(path, load_protocol(path), on))
        except ProtocolError:
            entries.append(Entry(path.name, warning="does not validate: run `ptp protocol validate` on it"))
    return entries


def find_protocol(paths: list[Path], protocol_id: str, version: int | None = None) -> Protocol:
    """The protocol with this id (its highest version unless one is named)."""
    found: list[Protocol] = []
    for path in paths:
        try:
            p = load_protocol(path)
        except ProtocolError:
            if path.stem.replace("_", "-").startswith(protocol_id):
                raise
            continue
        if p.id == protocol_id and version in (None, p.version):
            found.append(p)
    if not found:
        known = sorted({e.id for e in catalogue(paths, date.today()) if e.id})
        wanted = f"'{protocol_id}'" + (f" version {version}" if version else "")
        raise ProtocolError(f"no protocol {wanted} in the protocols folder",
                            hint="Use one of: " + (", ".join(known) or "(none)") + ", or check PTP_PROTOCOLS_DIR.")
    return max(found, key=lambda p: p.version)
