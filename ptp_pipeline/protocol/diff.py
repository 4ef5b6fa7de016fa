"""What changed between two versions of a protocol, each change classed breaking or not.

Breaking means either side must act before the new version governs: a partner's export that
conformed to the old version may now be refused or quarantined (a field removed, a type changed,
a code withdrawn, a field made required), or more is shared than was agreed before (a treatment
loosened, a finer generalisation, a wider data period, a longer retention, a new purpose or
lawful basis), which the signatories must see. The rendered agreement lists these changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ptp_pipeline.protocol.model import FieldSpec, Level, Protocol, Treatment

#: How much of a value a treatment shares, least to most.
_OPENNESS = {Treatment.drop: 0, Treatment.pseudonymise: 1, Treatment.generalise: 2, Treatment.keep: 3}
#: How fine a generalised value is, coarsest to finest (a finer level shares more).
_FINENESS = {Level.area: 0, Level.district: 1, Level.sector: 2, Level.age_band_5: 0, Level.year: 1}


@dataclass(frozen=True)
class Change:
    key: str
    what: str
    breaking: bool

    def __str__(self) -> str:
        return f"{'BREAKING' if self.breaking else 'ok      '}  {self.key}: {self.what}"


def _field_changes(old: FieldSpec, new: FieldSpec) -> list[Change]:
    key, out = f"fields.{new.name}", []
    if old.type != new.type:
        out.append(Change(f"{key}.type", f"type changed from {old.type} to {new.type}: partners' values must "
                                         "now fit the new type", True))
    if old.treatment != new.treatment:
        looser = _OPENNESS[new.treatment] > _OPENNESS[old.treatment]
        out.append(Change(f"{key}.treatment", f"treatment {'loosened' if looser else 'tightened'} from "
                                              f"{old.treatment} to {new.treatment}"
                                              + (": more is shared than before" if looser else ""), looser))
    if old.generalise != new.generalise and old.generalise and new.generalise:
        finer = _FINENESS[new.generalise] > _FINENESS[old.generalise]
        out.append(Change(f"{key}.generalise", f"generalised to {new.generalise} instead of {old.generalise}"
                                               + (": a finer level, more is shared" if finer else ""), finer))
    if old.required != new.required:
        out.append(Change(f"{key}.required", "now required: rows without it are quarantined" if new.required
                          else "no longer required", new.required))
    if (old.identifies, old.role) != (new.identifies, new.role):
        out.append(Change(f"{key}.role", f"role/identifies changed from {old.role}/{old.identifies} to "
                                         f"{new.role}/{new.identifies}", True))
    was, now = set(old.constraints.allowed_values or []), set(new.constraints.allowed_values or [])
    if was - now and now:
        out.append(Change(f"{key}.constraints.allowed_values", f"{len(was - now)} code(s) withdrawn "
                                                               f"({', '.join(sorted(was - now))})", True))
    if now - was and was:
        out.append(Change(f"{key}.constraints.allowed_values", f"{len(now - was)} code(s) added "
                                                               f"({', '.join(sorted(now - was))})", False))
    oc, nc = old.constraints, new.constraints
    if (oc.pattern, oc.max_length, oc.min, oc.max) != (nc.pattern, nc.max_length, nc.min, nc.max):
        tighter = (oc.pattern != nc.pattern or (nc.max_length or 10**9) < (oc.max_length or 10**9)
                   or (nc.min if nc.min is not None else float("-inf")) > (oc.min if oc.min is not None
                                                                            else float("-inf"))
                   or (nc.max if nc.max is not None else float("inf")) < (oc.max if oc.max is not None
                                                                         else float("inf")))
        out.append(Change(f"{key}.constraints", "checks changed" + (": values that passed may now be "
                                                                   "quarantined" if tighter else " (wider)"), tighter))
    if set(old.formats or []) - set(new.formats or []):
        out.append(Change(f"{key}.formats", "a date format was withdrawn: dates written that way are now "
                                            "quarantined", True))
    elif set(new.formats or []) - set(old.formats or []):
        out.append(Change(f"{key}.formats", "a date format was added", False))
    return out


def diff(old: Protocol, new: Protocol) -> list[Change]:
    """Every change from `old` to `new` (two versions of one protocol, or any two protocols)."""
    out: list[Change] = []
    if old.key != new.key:
        out.append(Change("partner/dataset", f"{'/'.join(old.key)} became {'/'.join(new.key)}", True))
    if old.subject != new.subject:
        out.append(Change("subject", f"rows are now about a {new.subject}, not a {old.subject}", True))
    if old.purpose.split() != new.purpose.split():
        out.append(Change("purpose", "the purpose was reworded: signatories must agree the new wording", True))
    if old.lawful_basis != new.lawful_basis:
        out.append(Change("lawful_basis", "the lawful basis changed", True))
    if old.special_category_reasons() == [] and new.special_category_reasons():
        out.append(Change("special_category", "special-category data is now shared", True))
    old_fields, new_fields = {f.name: f for f in old.fields}, {f.name: f for f in new.fields}
    reject = new.unexpected_columns == "reject"
    for name in old_fields.keys() - new_fields.keys():
        out.append(Change(f"fields.{name}", "field removed" + (": files that still have the column are refused "
                                                               "(unexpected_columns: reject)" if reject else
                                                               ": the column is dropped on receipt"), reject))
    for name in new_fields.keys() - old_fields.keys():
        spec = new_fields[name]
        out.append(Change(f"fields.{name}", f"field added ({spec.treatment})" + (
            ": required, so files without it are refused" if spec.required else ""),
            spec.required or spec.treatment is not Treatment.drop))
    for name in sorted(old_fields.keys() & new_fields.keys()):
        out += _field_changes(old_fields[name], new_fields[name])
    if old.event != new.event:
        out.append(Change("event", "the event mapping changed (date, type, cost or setting)", True))
    if (old.covers_from, old.covers_to) != (new.covers_from, new.covers_to):
        wider = new.covers_from < old.covers_from or new.covers_to > old.covers_to
        out.append(Change("data_period", f"events covered {old.covers_from} to {old.covers_to} became "
                                         f"{new.covers_from} to {new.covers_to}"
                                         + (": more is shared" if wider else ""), wider))
    if (old.valid_from, old.valid_to) != (new.valid_from, new.valid_to):
        out.append(Change("valid_from/valid_to", f"in force {new.valid_from} to {new.valid_to} (was "
                                                 f"{old.valid_from} to {old.valid_to})", False))
    if old.file != new.file:
        out.append(Change("file", "the file settings (format, delimiter, encoding or date formats) changed: "
                                  "partners must export the new way", True))
    if old.unexpected_columns != new.unexpected_columns:
        out.append(Change("unexpected_columns", f"unexpected columns: {new.unexpected_columns} (was "
                                                f"{old.unexpected_columns})", new.unexpected_columns == "reject"))
    if new.quarantine_threshold != old.quarantine_threshold:
        out.append(Change("quarantine_threshold", f"{old.quarantine_threshold:g} became "
                                                  f"{new.quarantine_threshold:g}",
                          new.quarantine_threshold < old.quarantine_threshold))
    if old.retention != new.retention:
        longer = (new.retention.raw_extract_days > old.retention.raw_extract_days
                  or new.retention.shared_data_years > old.retention.shared_data_years)
        out.append(Change("retention", "retention changed" + (": data is kept longer" if longer else " (shorter)"),
                          longer))
    return sorted(out, key=lambda c: (not c.breaking, c.key))
