"""A protocol as a readable agreement for sign-off, in HTML and Markdown.

What people sign must say the same as what the pipeline enforces, so both come from the same
model: purpose, lawful basis, every field and what happens to it, retention, signatories and
validity. All protocol text is escaped (HTML autoescaping; Markdown with `<`, `>`, `&` and `|`
escaped too, since Markdown viewers pass raw HTML through).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ptp_pipeline.protocol.diff import diff
from ptp_pipeline.protocol.model import FieldSpec, Level, Protocol, Treatment

TEMPLATES = Path(__file__).with_name("templates")

ARTICLE6 = {
    "consent": "6(1)(a) consent",
    "contract": "6(1)(b) contract",
    "legal_obligation": "6(1)(c) legal obligation",
    "vital_interests": "6(1)(d) vital interests",
    "public_task": "6(1)(e) public task",
    "legitimate_interests": "6(1)(f) legitimate interests",
}
LEVEL_WORDS = {
    Level.year: "the year", Level.age_band_5: "the 5-year age band", Level.sector: "the postcode sector",
    Level.district: "the postcode district", Level.area: "the postcode area",
}
ROLE_WORDS = {
    "direct_identifier": "identifies a person", "quasi_identifier": "could help identify a person",
    "event_date": "date of the event", "event_type": "type of event", "cost": "cost of the event",
    "attribute": "detail",
}


@dataclass(frozen=True)
class FieldRow:
    name: str
    type: str
    role: str
    required: str
    what_happens: str
    rules: str


def what_happens(spec: FieldSpec, protocol: Protocol) -> str:
    """A field's treatment in words a signatory can check."""
    level = f"; only {LEVEL_WORDS[spec.generalise]} is kept" if spec.generalise else ""
    if spec.treatment is Treatment.pseudonymise and spec.locates is not None:  # issue 20: where an event happened
        kept = ("; only its postcode sector and district are kept, and (where the project holds a postcode "
                "directory) its postcode centroid's grid reference, restricted, to place the event near premises"
                if spec.locates == "postcode" else "")
        return f"Replaced by a keyed property code used only to match places (never a person), then deleted{kept}"
    if spec.treatment is Treatment.pseudonymise:
        return f"Replaced by a keyed code used only to link records, then deleted{level}"
    if spec.treatment is Treatment.generalise:
        return f"Generalised: only {LEVEL_WORDS[spec.generalise]} is kept" if spec.generalise else "Generalised"
    if spec.treatment is Treatment.drop:
        return "Removed on receipt; never shared"
    slots = [slot for slot in ("date", "type", "cost", "setting") if getattr(protocol.event, slot) == spec.name]
    why = (f"; its name reads like an identifier, kept because: {spec.not_identifying_because}"
           if spec.not_identifying_because else "")
    return "Shared as it is" + (f" (as the event {slots[0]})" if slots else "") + why


_FORMAT_WORDS = {"%d": "DD", "%m": "MM", "%Y": "YYYY", "%y": "YY", "%H": "hh", "%M": "mm", "%S": "ss",
                 "%b": "Mon", "%B": "Month"}


def readable_date_format(fmt: str) -> str:
    """`%d/%m/%Y` as `DD/MM/YYYY`; `excel` as Excel day numbers."""
    if fmt == "excel":
        return "Excel day numbers"
    for code, words in _FORMAT_WORDS.items():
        fmt = fmt.replace(code, words)
    return fmt


def _rules(spec: FieldSpec) -> str:
    c, parts = spec.constraints, []
    if c.allowed_values:
        parts.append("one of: " + ", ".join(c.allowed_values))
    if c.min is not None:
        parts.append(f"at least {c.min:g}")
    if c.max is not None:
        parts.append(f"at most {c.max:g}")
    if c.max_length is not None:
        parts.append(f"at most {c.max_length} characters")
    if c.pattern is not None:
        parts.append(f"matches {c.pattern}")
    if spec.formats:
        parts.append("dates as " + " or ".join(readable_date_format(f) for f in spec.formats))
    return "; ".join(parts)


def agreement_context(protocol: Protocol, rendered_on: date, previous: Protocol | None = None) -> dict[str, object]:
    rows = [FieldRow(f.name, str(f.type), ROLE_WORDS[str(f.role)] + (f": {f.description}" if f.description else ""),
                     "yes" if f.required else "no",
                     what_happens(f, protocol), _rules(f)) for f in protocol.fields]
    return {
        "p": protocol, "rows": rows, "article6": ARTICLE6[str(protocol.lawful_basis.article6)],
        "special": [why for _, why in protocol.special_category_reasons()], "rendered_on": rendered_on,
        "shared": [r.name for r in rows if r.what_happens.startswith("Shared")],
        "previous": previous, "changes": diff(previous, protocol) if previous else [],
    }


def render_html(protocol: Protocol, rendered_on: date, previous: Protocol | None = None) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template("agreement.html").render(**agreement_context(protocol, rendered_on, previous))


def md(text: object) -> str:
    """Escape text for a Markdown table cell or paragraph (HTML too: viewers render raw HTML)."""
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "\\`*_[]|#":
        s = s.replace(ch, "\\" + ch)
    return " ".join(s.split())


def render_markdown(protocol: Protocol, rendered_on: date, previous: Protocol | None = None) -> str:
    c = agreement_context(protocol, rendered_on, previous)
    p = protocol
    lb = p.lawful_basis
    out = [
        f"# Data-sharing agreement: {md(p.title)}", "",
        f"Protocol **{md(p.id)}**, version {p.version}, status **{p.status.value}**. "
        f"Rendered on {rendered_on} from the protocol file; the pipeline enforces exactly this.", "",
        "## Parties", "", f"- Partner: {md(p.partner.organisation)} ({md(p.partner.id)}), dataset {md(p.dataset)}", "",
        "## Purpose", "", md(p.purpose), "",
        "## Lawful basis", "", f"- UK GDPR Article 6: {c['article6']}",
        f"- UK GDPR Article 9 condition: {md(lb.article9) if lb.article9 else 'none (no special-category data)'}",
    ]
    if lb.gateway:
        out.append(f"- Statutory gateway: {md(lb.gateway)}")
    special = c["special"]
    assert isinstance(special, list)
    if special:
        out += ["", "Special-category data is shared: " + "; ".join(md(s) for s in special) + "."]
    out += ["", "## Validity", "", f"In force from {p.valid_from} to {p.valid_to}, while its status is approved."
            + (f" Covers events dated {p.covers_from} to {p.covers_to}." if p.data_period else ""), "",
            "## Fields and what happens to each", "",
            "| field | type | what it is | required | what happens to it | agreed values |",
            "|---|---|---|---|---|---|"]
    rows = c["rows"]
    assert isinstance(rows, list)
    for r in rows:
        cells = (md(r.name), md(r.type), md(r.role), r.required, md(r.what_happens), md(r.rules))
        out.append("| " + " | ".join(cells) + " |")
    unexpected = "the whole file is refused" if p.unexpected_columns == "reject" else "dropped on receipt"
    out += ["", f"Columns not listed here: {unexpected}. "
            f"More than {p.quarantine_threshold:.0%} of rows failing the checks: the whole extract is refused.", "",
            "## Retention", "", f"- Raw extract: kept at most {p.retention.raw_extract_days} days, encrypted.",
            f"- Pseudonymised shared data: kept at most {p.retention.shared_data_years} years.", ""]
    out += ["## Delivery and contacts", "",
            f"The partner sends {md(p.delivery.describe())}; the council is alerted when it is late." if p.delivery
            else "No delivery schedule: extracts arrive when the partner sends them.", ""]
    if p.contacts:
        out += ["| role | e-mail | told about |", "|---|---|---|"]
        out += [f"| {md(c.role)} | {md(c.email)} | {md(', '.join(c.alerts))} |" for c in p.contacts] + [""]
    else:
        out += ["No contacts named: only the council's operations team is alerted.", ""]
    if previous is not None:
        changes = c["changes"]
        assert isinstance(changes, list)
        out += [f"## Changes since version {previous.version}", ""]
        out += [f"- {'**Breaking**' if ch.breaking else 'Not breaking'}: {md(ch.key)}: {md(ch.what)}"
                for ch in changes] or ["No change to what is shared or how."]
        out.append("")
    out += ["## Signatories", ""]
    if p.signatories:
        out += ["| name | role | organisation | date |", "|---|---|---|---|"]
        out += [f"| {md(s.name)} | {md(s.role)} | {md(s.organisation)} | {s.date} |" for s in p.signatories]
    else:
        out.append("Not yet signed.")
    return "\n".join(out) + "\n"
