"""The data-sharing protocol: the law of the pipeline, as a pydantic model.

Data officers write it as YAML; this model checks it and every stage reads it. Validators
collect problems (pydantic reports them all at once) and each says what is wrong and how to fix
it. A problem about one key starts with `@key.path ` (relative to the object checked) so the
loader can point at that key's line; see `load.format_validation_error`.
"""

from __future__ import annotations

import codecs
import contextlib
import difflib
import itertools
import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from ptp_pipeline.protocol.gx_registry import known_expectations
from ptp_pipeline.protocol.identifiers import identifier_kind, identifier_words
from ptp_pipeline.protocol.special import categories_in, is_health_organisation

#: A date format is strftime-style (`%d/%m/%Y`) or `excel` (serial day numbers).
EXCEL_FORMAT = "excel"
_DIRECTIVE = re.compile(r"%(.)")
_DATE_DIRECTIVES = set("dmyYbBaAjHIMSfpzZ%")
#: Identity parts whose raw value must never reach the shared tables.
#: Joins several problems found by one validator; the loader splits them again.
PROBLEM_SEP = "\n"
#: Words left in a draft for people to decide; an approved protocol holds none of them.
PLACEHOLDER = re.compile(r"\b(TO AGREE|TO BE AGREED|TBC|TBA|TBD|TODO|FIXME|XXX|DRAFT)\b"
                         r"|(?i:\bto be (agreed|confirmed|decided)\b)")
#: Identity parts that link a row to a person (address parts describe places too).
PERSON_IDENTITY = {"nhs_number", "forename", "surname", "date_of_birth", "sex", "local_id", "ni_number", "uln",
                   "shared_ref"}
RAW_IDENTITY = {"nhs_number", "forename", "surname", "date_of_birth", "postcode", "local_id", "ni_number", "uln",
                "shared_ref"}


def at(path: str, message: str) -> str:
    """A rule's message tagged with the key it is about (relative path, dotted)."""
    return f"@{path} {message}"


def date_format_problem(fmt: str) -> str | None:
    """Why `fmt` is not a usable date format, or None when it is."""
    if fmt == EXCEL_FORMAT:
        return None
    directives = _DIRECTIVE.findall(fmt)
    if not directives:
        return f"date format '{fmt}' has no %-codes: write it strftime style, e.g. '%d/%m/%Y', or use 'excel'"
    bad = sorted({d for d in directives if d not in _DATE_DIRECTIVES})
    if bad:
        return (f"date format '{fmt}' uses unknown code(s) {', '.join('%' + d for d in bad)}: "
                "use %d day, %m month, %Y year, %H:%M:%S time")
    return None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class FieldType(StrEnum):
    string = "string"
    integer = "integer"
    decimal = "decimal"
    date = "date"
    datetime = "datetime"
    boolean = "boolean"
    nhs_number = "nhs_number"
    uk_postcode = "uk_postcode"
    code = "code"


class Role(StrEnum):
    direct_identifier = "direct_identifier"
    quasi_identifier = "quasi_identifier"
    event_date = "event_date"
    event_type = "event_type"
    cost = "cost"
    attribute = "attribute"


class Treatment(StrEnum):
    pseudonymise = "pseudonymise"
    generalise = "generalise"
    keep = "keep"
    drop = "drop"


class Identifies(StrEnum):
    """Which part of a person's identity a field carries, so linkage knows what to match on."""

    nhs_number = "nhs_number"
    forename = "forename"
    surname = "surname"
    date_of_birth = "date_of_birth"
    postcode = "postcode"
    sex = "sex"
    local_id = "local_id"
    # Strong identifiers of other themes: one person each, linked across partners.
    ni_number = "ni_number"
    uln = "uln"
    shared_ref = "shared_ref"
    # Address parts (households): never match keys for persons, only for places.
    address_line = "address_line"
    uprn = "uprn"
    address_type = "address_type"
    address_from = "address_from"


#: What a location field holds (issue 20): all become keyed property tokens, as household addresses do.
Locates = Literal["premises_ref", "uprn", "address_line", "postcode"]


class Level(StrEnum):
    year = "year"
    age_band_5 = "age_band_5"
    sector = "sector"
    district = "district"
    area = "area"


LEVELS_BY_TYPE: dict[FieldType, set[Level]] = {
    FieldType.date: {Level.year, Level.age_band_5},
    FieldType.datetime: {Level.year, Level.age_band_5},
    FieldType.uk_postcode: {Level.sector, Level.district, Level.area},
}


class Status(StrEnum):
    draft = "draft"
    approved = "approved"
    suspended = "suspended"
    expired = "expired"


class Article6(StrEnum):
    consent = "consent"
    contract = "contract"
    legal_obligation = "legal_obligation"
    vital_interests = "vital_interests"
    public_task = "public_task"
    legitimate_interests = "legitimate_interests"


class Partner(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Short id used in folder names.")
    organisation: str


class LawfulBasis(Strict):
    article6: Article6 = Field(description="UK GDPR Article 6(1) basis.")
    article9: str | None = Field(
        default=None, min_length=4,
        description="UK GDPR Article 9(2) condition (with the DPA 2018 Schedule 1 condition where one is "
                    "needed); required whenever special-category data such as health is shared.",
    )
    gateway: str | None = Field(default=None, min_length=4,
                                description="Statutory gateway, e.g. Crime and Disorder Act 1998 s115.")


class Signatory(Strict):
    name: str = Field(min_length=1)
    role: str = Field(min_length=1, description="e.g. Caldicott Guardian, Data Protection Officer, SIRO.")
    organisation: str = Field(min_length=1)
    date: date


class Retention(Strict):
    raw_extract_days: int = Field(ge=0, le=3650, description="Days the raw extract may be kept (encrypted).")
    shared_data_years: int = Field(ge=0, le=100, description="Years pseudonymised data stays in shared tables.")


def _check_date_formats(formats: list[str]) -> list[str]:
    problems = [p for p in map(date_format_problem, formats) if p]
    if problems:
        raise ValueError(PROBLEM_SEP.join(problems))
    return formats


DateFormats = Annotated[list[str], AfterValidator(_check_date_formats)]


def _check_encoding(encoding: str) -> str:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding '{encoding}': use utf-8, utf-8-sig, cp1252 or latin-1") from None
    return encoding


class FileSettings(Strict):
    format: Literal["csv", "xlsx", "json", "parquet"] = "csv"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: Annotated[str, AfterValidator(_check_encoding)] = "utf-8"
    date_formats: DateFormats = Field(
        default=["%Y-%m-%d", "%d/%m/%Y"], min_length=1,
        description="Date formats tried in order for date fields that do not list their own "
                    "(strftime style, or 'excel' for serial day numbers).",
    )


class Constraints(Strict):
    allowed_values: list[str] | None = Field(default=None, min_length=1)
    min: float | None = None
    max: float | None = None
    pattern: str | None = Field(default=None, description="Regular expression the whole value must match.")
    max_length: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _constraint_rules(self) -> Constraints:
        problems = []
        if self.min is not None and self.max is not None and self.min > self.max:
            problems.append(at("min", f"min {self.min:g} is above max {self.max:g}: swap them"))
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                problems.append(at("pattern", f"pattern is not a valid regular expression ({exc.msg}): "
                                              "fix it, or test it at regex101.com in Python mode"))
        if self.allowed_values and len(set(self.allowed_values)) != len(self.allowed_values):
            problems.append(at("allowed_values", "allowed_values lists a code twice: keep one of each"))
        if problems:
            raise ValueError(PROBLEM_SEP.join(problems))
        return self


class FieldSpec(Strict):
    name: str = Field(min_length=1)
    type: FieldType
    role: Role
    treatment: Treatment
    identifies: Identifies | None = None
    generalise: Level | None = None
    required: bool = False
    formats: DateFormats | None = Field(
        default=None, description='Date formats, strftime style ("%d/%m/%Y") or "excel" for serial day numbers.'
    )
    constraints: Constraints = Constraints()
    description: str | None = None
    not_identifying_because: str | None = Field(
        default=None, min_length=20,
        description="Only for a field kept as it is although its name reads like an identifier (e.g. "
                    "'case_note_count'): why it identifies no one. Shown to signatories in the agreement.")
    # Issue 20 (place-based harm): where an event happened, and whether it was alcohol-related.
    locates: Locates | None = Field(
        default=None,
        description="Where the event happened (or, in a place dataset, where the place is): a premises reference, "
                    "UPRN, address line or postcode, pseudonymised to the same keyed property tokens as households "
                    "(a postcode also keeps its sector). Never a person's identity.")
    alcohol_codes: list[str] | None = Field(
        default=None, min_length=1,
        description="Values of this kept field that mark the event alcohol-related (e.g. police incident "
                    "qualifiers, A&E alcohol-related attendance codes).")

    @model_validator(mode="after")
    def _field_rules(self) -> FieldSpec:
        """Rules about one field on its own; each problem names the key to change."""
        problems: list[str] = []
        name, c = self.name, self.constraints
        if self.role is Role.direct_identifier and self.treatment is Treatment.keep:
            problems.append(at("treatment", f"field '{name}' is a direct identifier kept as it is: "
                                            "use pseudonymise or drop"))
        elif self.treatment is Treatment.keep and (self.identifies in RAW_IDENTITY
                                                   or self.type is FieldType.nhs_number):
            problems.append(at("treatment", f"field '{name}' identifies a person ({self.identifies or self.type}) "
                                            "and would be shared as it is: use pseudonymise or drop"))
        elif self.treatment is Treatment.keep and not self.not_identifying_because and identifier_kind(name):
            problems.append(at("treatment", f"field '{name}' is named like "
                                            f"{identifier_words(identifier_kind(name) or '')} and would be shared "
                                            "as it is: use pseudonymise (saying what it identifies:) or drop; if "
                                            "it truly identifies no one, say why in not_identifying_because:"))
        if self.treatment is Treatment.generalise and self.generalise is None:
            problems.append(at("generalise", f"field '{name}' is generalised but has no 'generalise:' level: "
                                             "add one, e.g. generalise: year"))
        if self.generalise is not None and self.generalise not in LEVELS_BY_TYPE.get(self.type, set()):
            allowed = ", ".join(sorted(LEVELS_BY_TYPE.get(self.type, set()))) or "none"
            problems.append(at("generalise", f"field '{name}' of type {self.type} cannot be generalised to "
                                             f"'{self.generalise}' (levels for this type: {allowed})"))
        if self.generalise is not None and self.treatment in (Treatment.keep, Treatment.drop):
            problems.append(at("generalise", f"field '{name}' has a 'generalise:' level but its treatment is "
                                             f"{self.treatment}: use treatment generalise, or remove the level"))
        problems += location_problems(self)
        if self.treatment is Treatment.pseudonymise and self.identifies is None and self.locates is None:
            problems.append(at("identifies", f"field '{name}' is pseudonymised but does not say what it "
                                             "'identifies:' (nhs_number, forename, surname, date_of_birth, "
                                             "postcode, sex or local_id)"))
        if self.identifies is not None and self.role not in (Role.direct_identifier, Role.quasi_identifier):
            problems.append(at("identifies", f"field '{name}' says what it identifies but its role is "
                                             f"{self.role}: make it a direct_identifier or quasi_identifier"))
        if self.role is Role.quasi_identifier and self.treatment is Treatment.keep and self.type in _DATES:
            problems.append(at("treatment", f"field '{name}' would share an exact date about a person: "
                                            "generalise it to a year or age band, or drop it"))
        rule = _ROLE_TYPES.get(self.role)
        if rule and self.type not in rule:
            problems.append(at("type", f"field '{name}' has role {self.role}, which needs type "
                                       f"{' or '.join(sorted(rule))}, not {self.type}"))
        if self.formats is not None and self.type not in _DATES:
            problems.append(at("formats", f"field '{name}' lists date formats but is of type {self.type}: "
                                          "remove 'formats:' or make it a date"))
        if self.type is FieldType.code and not c.allowed_values:
            problems.append(at("constraints", f"field '{name}' is a code but lists no allowed values: add "
                                              "constraints: {allowed_values: [...]} with every agreed code"))
        if c.allowed_values and self.type not in (FieldType.code, FieldType.string):
            problems.append(at("constraints.allowed_values", f"field '{name}' of type {self.type} cannot have "
                                                             "allowed_values: make it a code"))
        if (c.min is not None or c.max is not None) and self.type not in _NUMBERS:
            problems.append(at("constraints", f"field '{name}' of type {self.type} cannot have min/max: "
                                              "only integer and decimal fields can"))
        if (c.pattern is not None or c.max_length is not None) and self.type not in (FieldType.string,
                                                                                     FieldType.code):
            problems.append(at("constraints", f"field '{name}' of type {self.type} cannot have a pattern or "
                                              "max_length: the type already checks its form"))
        if problems:
            raise ValueError(PROBLEM_SEP.join(problems))
        return self


def location_problems(spec: FieldSpec) -> list[str]:
    """Rules of the place keys of one field (issue 20): a location is pseudonymised, never kept."""
    problems = []
    name = spec.name
    if spec.locates is not None:
        if spec.identifies is not None:
            problems.append(at("locates", f"field '{name}' both identifies a person and locates an event: a field "
                                          "is one or the other; remove identifies: or locates:"))
        if spec.treatment not in (Treatment.pseudonymise, Treatment.drop):
            problems.append(at("treatment", f"field '{name}' locates an event and would be shared as it is: use "
                                            "treatment: pseudonymise (it becomes a keyed property token)"))
        if spec.role not in (Role.direct_identifier, Role.quasi_identifier):
            problems.append(at("role", f"field '{name}' locates an event (it may be someone's home): make its role "
                                       "direct_identifier or quasi_identifier"))
        if spec.locates == "postcode" and spec.type is not FieldType.uk_postcode:
            problems.append(at("type", f"field '{name}' locates by postcode: make its type uk_postcode"))
    if spec.alcohol_codes is not None:
        if spec.treatment is not Treatment.keep or spec.identifies is not None:
            problems.append(at("alcohol_codes", f"field '{name}' lists alcohol_codes but is not kept as it is: "
                                                "the alcohol flag comes from a kept code field"))
        allowed = spec.constraints.allowed_values
        unknown = sorted(set(spec.alcohol_codes) - set(allowed or spec.alcohol_codes))
        if unknown:
            problems.append(at("alcohol_codes", f"alcohol_codes of field '{name}' name code(s) {', '.join(unknown)} "
                                                "that are not in its allowed_values: add them there or correct them"))
    return problems


_DATES = {FieldType.date, FieldType.datetime}
_NUMBERS = {FieldType.integer, FieldType.decimal}
_ROLE_TYPES: dict[Role, set[FieldType]] = {
    Role.event_date: _DATES,
    Role.cost: _NUMBERS,
    Role.event_type: {FieldType.code, FieldType.string},
}


def _check_expectation(spec: dict[str, Any]) -> dict[str, Any]:
    """An extra expectation names a GX type that exists and only arguments that type takes."""
    known = known_expectations()
    problems = []
    extra_keys = sorted(set(spec) - {"type", "kwargs", "meta"})
    if extra_keys:
        problems.append(f"unknown key(s) {', '.join(extra_keys)}: an expectation has type, kwargs and meta")
    kind = spec.get("type")
    if not isinstance(kind, str):
        problems.append("expectation has no 'type:': name a Great Expectations expectation, "
                        "e.g. expect_column_values_to_not_be_null")
    elif kind not in known:
        near = difflib.get_close_matches(kind, known, n=1)
        tip = f"did you mean '{near[0]}'?" if near else "see greatexpectations.io/expectations for the names"
        problems.append(at("type", f"'{kind}' is not a Great Expectations expectation: {tip}"))
    else:
        kwargs = spec.get("kwargs", {})
        if not isinstance(kwargs, dict):
            problems.append(at("kwargs", "kwargs must be a mapping of argument names to values"))
        else:
            unknown = sorted(set(kwargs) - set(known[kind]))
            if unknown:
                problems.append(at("kwargs", f"{kind} takes no argument(s) {', '.join(unknown)}: it takes "
                                             f"{', '.join(known[kind])}"))
    if "meta" in spec and not isinstance(spec["meta"], dict):
        problems.append(at("meta", "meta must be a mapping"))
    if problems:
        raise ValueError(PROBLEM_SEP.join(problems))
    return spec


ExpectationSpec = Annotated[
    dict[str, Any],
    AfterValidator(_check_expectation),
    WithJsonSchema({
        "type": "object",
        "additionalProperties": False,
        "required": ["type"],
        "description": "An extra Great Expectations expectation run on the pseudonymised extract.",
        "properties": {
            "type": {"type": "string", "enum": sorted(known_expectations())},
            "kwargs": {"type": "object"},
            "meta": {"type": "object"},
        },
    }),
]


def period_problems(valid_from: date, valid_to: date) -> list[str]:
    if valid_to < valid_from:
        return [at("valid_to", f"valid_to {valid_to} is before valid_from {valid_from}: "
                               "the protocol would never be in force; correct the dates")]
    return []


def data_period_problems(period: DataPeriod, valid_to: date) -> list[str]:
    problems = []
    if period.end is not None and period.end < period.start:
        problems.append(at("data_period.end", f"data_period.end {period.end} is before data_period.start "
                                              f"{period.start}: no event could be shared; correct the dates"))
    if period.end is not None and period.end > valid_to:
        problems.append(at("data_period.end", f"data_period.end {period.end} is after valid_to {valid_to}: events "
                                              "after the agreement ends cannot be received under it; end the data "
                                              "period by valid_to (or leave end out)"))
    if period.start > valid_to:
        problems.append(at("data_period.start", f"data_period.start {period.start} is after valid_to {valid_to}: "
                                                "correct the dates"))
    return problems


def duplicate_problems(names: list[str]) -> list[str]:
    seen: set[str] = set()
    problems = []
    for i, name in enumerate(names):
        if name in seen:
            problems.append(at(f"fields.{i}.name", f"field '{name}' is listed twice: keep one entry"))
        seen.add(name)
    return problems


def missing_event_field_problems(event: dict[str, Any], names: set[str]) -> list[str]:
    problems = []
    for slot in ("date", "type", "cost", "setting"):
        name = event.get(slot)
        if isinstance(name, str) and name not in names:
            near = difflib.get_close_matches(name, names, n=1)
            tip = f"did you mean '{near[0]}'?" if near else "name one of the fields listed"
            problems.append(at(f"event.{slot}", f"event.{slot} names field '{name}', which is not in fields: {tip}"))
    return problems


def event_identifier_problems(event: dict[str, Any]) -> list[str]:
    """The event date must be when something happened, never a date of birth."""
    name = event.get("date")
    if isinstance(name, str) and identifier_kind(name) == "date_of_birth":
        return [at("event.date", f"event.date names field '{name}', which is named like a date of birth: the "
                                 "event date is when the event happened (an attendance, contact or incident "
                                 "date); name that field instead")]
    return []


def raw_cross_problems(data: dict[str, Any]) -> list[str]:
    """The rules across keys that can be checked on raw YAML data, even when a field is malformed.

    Pydantic runs a model's own rules only once every part of it is valid; the loader calls this
    then, so one bad field does not hide a wrong date range or a misnamed event field.
    """
    problems: list[str] = []
    with contextlib.suppress(KeyError, ValueError):
        problems += period_problems(date.fromisoformat(str(data["valid_from"])),
                                    date.fromisoformat(str(data["valid_to"])))
    fields = data.get("fields")
    if isinstance(fields, list):
        names = [f.get("name") if isinstance(f, dict) else None for f in fields]
        problems += duplicate_problems([n if isinstance(n, str) else f"#{i}" for i, n in enumerate(names)])
        event = data.get("event")
        if isinstance(event, dict):
            problems += missing_event_field_problems(event, {n for n in names if isinstance(n, str)})
            problems += event_identifier_problems(event)
    return problems


class DataPeriod(Strict):
    """The event dates the agreement covers; it may start before the agreement was signed."""

    start: date = Field(description="Earliest event date that may be shared (may precede valid_from: history).")
    end: date | None = Field(default=None, description="Latest event date that may be shared; default valid_to.")


class EventMapping(Strict):
    date: str
    type: str
    cost: str | None = None
    setting: str | None = None


# Delivery schedule and contacts (issue 18): their own module, beside their one use.
from ptp_pipeline.protocol.delivery import Contact, Delivery  # noqa: E402

#: Licence types of a licensing register's event type (issue 20).
LICENCE_TYPES = ("on", "off", "both", "club")


class PremisesMapping(Strict):
    """Which kept fields of a licensing register (a place dataset) describe the premises (issue 20).

    The licence type is the event type (on, off, both, club) and the grant date the event date."""

    hours: str = Field(description="Kept field: the latest permitted hour of sale, HH:MM (after midnight = late).")
    status: str | None = Field(default=None, description="Kept field: licence status (e.g. granted, varied, revoked).")
    ends: str | None = Field(default=None, description="Kept date field: when the licence was revoked or surrendered.")
    label: str | None = Field(
        default=None, description="Kept field naming the premises; shown only where project.yaml agrees premises-level "
                                  "publication (places.publish_premises).")


# Stage 0 (issue 10): where extracts come from. Imported here, beside its one use, to keep the model's own
# imports apart from it.
from ptp_pipeline.protocol.source import LandingSource, Source, source_problems  # noqa: E402


class Protocol(Strict):
    """One partner dataset's data-sharing protocol."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    version: int = Field(ge=1)
    title: str
    partner: Partner
    dataset: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    subject: Literal["person", "place"] = Field(
        default="person",
        description="What a row is about: a person (linked into persons), or a place such as licensed premises "
                    "(never a person: it holds no person identifiers and makes no persons).")
    purpose: str = Field(min_length=20, description="Why the data is shared, in plain words, for the agreement.")
    special_category: bool = Field(
        default=False,
        description="True when health or other Article 9 data is shared. Also inferred from a health partner "
                    "and from field names, descriptions and codes; either way an Article 9 condition is required.",
    )
    lawful_basis: LawfulBasis
    status: Status
    valid_from: date
    valid_to: date
    data_period: DataPeriod | None = Field(
        default=None,
        description="The event dates the data may cover, apart from when the agreement is in force (valid_from "
                    "to valid_to, when extracts may be received). Default: the same as valid_from to valid_to.")
    signatories: list[Signatory] = []
    retention: Retention
    file: FileSettings = FileSettings()
    source: Source = Field(default_factory=LandingSource, description="Where extracts come from (protocol/source.py).")
    fields: list[FieldSpec] = Field(min_length=1)
    event: EventMapping
    unexpected_columns: Literal["reject", "drop"] = Field(
        default="reject", description="A column the protocol does not list: refuse the file, or drop the column.")
    quarantine_threshold: float = Field(
        default=0.1, ge=0, le=1, description="Share of failing rows above which the whole extract is refused.")
    expectations: list[ExpectationSpec] = []
    delivery: Delivery | None = Field(
        default=None, description="When extracts are due (e.g. monthly by day 5); housekeeping alerts when late.")
    contacts: list[Contact] = Field(
        default=[], description="Who is told about this protocol's failures, refusals, late extracts and expiry.")
    premises: PremisesMapping | None = Field(
        default=None, description="For a licensing register (subject: place): the fields describing the premises.")

    @model_validator(mode="after")
    def _rules(self) -> Protocol:
        """Rules across keys; each problem names the key to change and how."""
        problems: list[str] = []
        problems += period_problems(self.valid_from, self.valid_to)
        if self.data_period is not None:
            problems += data_period_problems(self.data_period, self.valid_to)
        if self.status is Status.approved and not self.signatories:
            problems.append(at("status", "an approved protocol needs signatories: add who signed it off "
                                         "(name, role, organisation, date), or set status: draft"))
        for i, s in enumerate(self.signatories):
            if s.date > self.valid_to:
                problems.append(at(f"signatories.{i}.date", f"signed on {s.date}, after the protocol ended "
                                                            f"({self.valid_to}): check the date"))
        if not self.lawful_basis.article9:
            reasons = self.special_category_reasons()
            if reasons:
                path, why = reasons[0]
                problems.append(at(path, f"{why}, so lawful_basis.article9 must name an Article 9 condition, "
                                         "e.g. '9(2)(h) health or social care' or '9(2)(g) substantial public "
                                         "interest, DPA 2018 Sch 1 para 6'"))
        if self.status is Status.approved:
            problems += self._placeholder_problems()
        problems += self._subject_problems()
        problems += self._premises_problems()
        problems += self._same_kind_problems()
        names = [f.name for f in self.fields]
        problems += duplicate_problems(names)
        problems += missing_event_field_problems(self.event.model_dump(), set(names))
        problems += self._event_problems(set(names))
        problems += event_identifier_problems(self.event.model_dump())
        if problems:
            raise ValueError(PROBLEM_SEP.join(problems))
        return self

    def _subject_problems(self) -> list[str]:
        """A place dataset names no person; a person dataset names someone, or every row would be a new person."""
        person_fields = [(i, f) for i, f in enumerate(self.fields)
                         if f.identifies in PERSON_IDENTITY and f.treatment is not Treatment.drop]
        if self.subject == "place":
            return [at(f"fields.{i}.identifies", f"field '{f.name}' identifies a person ({f.identifies}), but the "
                                                 "protocol's subject is place: drop it (a place dataset holds no "
                                                 "person identifiers), or set subject: person")
                    for i, f in person_fields]
        if not person_fields:
            return [at("fields", "no field identifies a person (nhs_number, local_id, names, date of birth ...), so "
                                 "every row would become a new person: if the rows are premises or other places, "
                                 "set subject: place; else add the fields that identify the person")]
        return []

    def _premises_problems(self) -> list[str]:
        """A register's premises fields exist and are kept; its licence types are the agreed ones."""
        if self.premises is None:
            return []
        if self.subject != "place":
            return [at("premises", "premises: describes a licensing register, but the subject is not place: set "
                                   "subject: place, or remove premises:")]
        problems = []
        kept = {f.name for f in self.fields if f.treatment is Treatment.keep and f.identifies is None}
        for slot, name in self.premises.model_dump().items():
            if name is not None and name not in kept:
                problems.append(at(f"premises.{slot}", f"premises.{slot} names '{name}', which is not a kept field: "
                                                       "list it in fields with treatment: keep"))
        types = set(self.field(self.event.type).constraints.allowed_values or []) if self.event.type in kept else set()
        if not types or types - set(LICENCE_TYPES):
            problems.append(at("event.type", f"a licensing register's event type is the licence type: give field "
                                             f"'{self.event.type}' allowed_values from {', '.join(LICENCE_TYPES)}"))
        return problems

    def _same_kind_problems(self) -> list[str]:
        """Two fields that identify the same part of a person: linkage would keep one and silently lose
        the other, so the protocol must say which one is used (drop the other)."""
        seen: dict[Identifies, str] = {}
        problems = []
        for i, f in enumerate(self.fields):
            if f.identifies is None or f.identifies.value not in PERSON_IDENTITY or f.treatment is Treatment.drop:
                continue
            if f.identifies in seen:
                problems.append(at(f"fields.{i}.identifies", f"fields '{seen[f.identifies]}' and '{f.name}' both "
                                   f"identify {f.identifies}: linkage uses one value of each kind, so set "
                                   f"treatment: drop on the one not to use (or ask for one combined column)"))
            else:
                seen[f.identifies] = f.name
        return problems

    def _placeholder_problems(self) -> list[str]:
        """An approved protocol is final: no 'TO AGREE', 'TBC', 'DRAFT' ... left in what was signed."""
        texts: list[tuple[str, str | None]] = [
            ("title", self.title), ("purpose", self.purpose), ("partner.organisation", self.partner.organisation),
            ("lawful_basis.article9", self.lawful_basis.article9), ("lawful_basis.gateway", self.lawful_basis.gateway),
            *((f"signatories.{i}.{k}", getattr(s, k)) for i, s in enumerate(self.signatories)
              for k in ("name", "role", "organisation")),
            *((f"fields.{i}.description", f.description) for i, f in enumerate(self.fields)),
        ]
        problems = []
        for path, text in texts:
            found = PLACEHOLDER.search(text or "")
            if found:
                problems.append(at(path, f"{path} still says '{found.group()}', but the protocol is approved: "
                                         "write the agreed text (or set status: draft until it is agreed)"))
        return problems

    def _event_problems(self, names: set[str]) -> list[str]:
        problems: list[str] = []
        need = {"date": _DATES, "cost": _NUMBERS, "type": {FieldType.code, FieldType.string},
                "setting": {FieldType.code, FieldType.string}}
        for slot in ("date", "type", "cost", "setting"):
            name = getattr(self.event, slot)
            if name is None or name not in names:
                continue
            spec = self.field(name)
            if spec.type not in need[slot]:
                problems.append(at(f"event.{slot}", f"event.{slot} names field '{name}' of type {spec.type}; it "
                                                    f"needs {' or '.join(sorted(need[slot]))}"))
            if spec.treatment is not Treatment.keep or spec.role is Role.direct_identifier:
                problems.append(at(f"event.{slot}", f"event.{slot} names field '{name}', which is not kept "
                                                    f"(treatment {spec.treatment}, role {spec.role}): events "
                                                    "carry only kept, non-identifying fields"))
        return problems

    def special_category_reasons(self) -> list[tuple[str, str]]:
        """Why this protocol shares special-category data: (key path, reason), empty if it does not."""
        reasons: list[tuple[str, str]] = []
        if self.special_category:
            reasons.append(("special_category", "the protocol says it shares special-category data"))
        if is_health_organisation(self.partner.organisation):
            reasons.append(("partner.organisation", f"the partner '{self.partner.organisation}' is a health "
                                                    "body, so what it shares about people is health data"))
        for i, f in enumerate(self.fields):
            texts = [f.name, f.description or "", *(f.constraints.allowed_values or [])]
            found = categories_in(texts)
            if found and f.treatment is not Treatment.drop:
                reasons.append((f"fields.{i}", f"field '{f.name}' looks like {' and '.join(found)} data"))
        return reasons

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)

    @property
    def key(self) -> tuple[str, str]:
        return (self.partner.id, self.dataset)

    @property
    def covers_from(self) -> date:
        """Earliest event date the protocol lets partners share (data_period.start, else valid_from)."""
        return self.data_period.start if self.data_period else self.valid_from

    @property
    def covers_to(self) -> date:
        """Latest event date the protocol lets partners share (data_period.end, else valid_to)."""
        return (self.data_period.end if self.data_period and self.data_period.end else None) or self.valid_to

    def in_force(self, on: date) -> bool:
        return self.status is Status.approved and self.valid_from <= on <= self.valid_to

    @model_validator(mode="after")
    def _source_rules(self) -> Protocol:
        """The source block against the rest of the protocol (its own keys are checked in protocol/source.py)."""
        problems = source_problems(self.source, [f.name for f in self.fields], self.file.format)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class MatchKey(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    parts: list[Literal["nhs_number", "ni_number", "uln", "shared_ref", "local_id", "forename", "surname",
                        "date_of_birth", "postcode",
                        "birth_year", "district", "sex"]] = Field(min_length=1)


class Linkage(Strict):
    """Two passes over keyed tokens: the match-key cascade, then Splink's probabilistic pass."""

    match_keys: list[MatchKey]
    max_persons_per_token: int = Field(default=20, ge=2)
    probabilistic: bool = Field(default=True, description="Run the probabilistic (Splink) pass after the cascade.")
    term_frequencies: bool = Field(
        default=True, description="Weight an exact forename, surname or postcode match by how rare that value is "
        "among all identities (a shared rare surname is stronger evidence than a shared common one).")
    threshold: float = Field(default=0.95, gt=0, lt=1, description="Match probability at which two records link.")
    review_threshold: float = Field(
        default=0.5, gt=0, lt=1, description="Pairs from here up to the threshold go to clerical review.")
    strong_id_conflict: Literal["evidence", "veto"] = Field(
        default="evidence",
        description="Differing NHS numbers (or other strong identifiers): very strong evidence against a link "
        "(evidence), or never linked whatever else agrees (veto).")
    forename_conflict: Literal["auto", "veto", "evidence"] = Field(
        default="auto",
        description="Two records whose forenames share nothing (not the name, nickname, sound, first letters or "
        "initial, nor a swap with the surname): never linked on the other fields alone (veto: twins share surname, "
        "date of birth and address, and only their forenames tell them apart), weighed by the model's forename "
        "comparison like any other disagreement (evidence: for data where a forename is often replaced, not "
        "mistyped), or decided by the trained model (auto): veto while no more of the pairs it learned as matches "
        "have such forenames than twins could explain (twin_share), evidence when more do.")
    twin_share: float = Field(
        default=0.05, gt=0, lt=0.5,
        description="forename_conflict auto: the share of matching pairs with forenames that share nothing that "
        "twins can explain (about 3% of people are twins); above it, forenames are weighed as evidence.")
    max_identities_per_person: int = Field(
        default=200, ge=2, description="A person is never grown past this many distinct identities (over-merge guard).")

    @model_validator(mode="after")
    def _thresholds(self) -> Linkage:
        if self.review_threshold >= self.threshold:
            raise ValueError("review_threshold must be below threshold")
        return self


class Suppression(Strict):
    min_count: int = Field(default=8, ge=1, description="Counts below this are suppressed (1-7 by default).")
    round_to: int = Field(default=5, ge=1)
    dominance_top: int = Field(default=1, ge=1, le=5, description="Dominance rule for £ figures: this many "
                               "largest contributors ...")
    dominance_share: float = Field(default=0.5, gt=0, lt=1, description="... may not carry more than this share "
                                   "of a published cost figure (pathways/disclosure.py).")


class Households(Strict):
    """Guards against false families (see privacy/address.py and pathways/households.py)."""

    max_persons_per_address: int = Field(
        default=10, ge=2,
        description="An address where more distinct persons were seen in one year is communal, never a household.")
    communal_types: list[str] = Field(
        default=["care_home", "hostel", "hospital", "prison", "hmo"],
        description="Values of an address_type field that mark an address communal (case-insensitive).")


class ResearchTier(Strict):
    """How the researcher tier generalises the record-level tables (pathways/research.py).

    Defaults keep what pathway research needs (order of events, month, agency, type, cost band) and
    coarsen what makes a person stand out (exact dates, exact costs, birth year, small areas).
    """

    event_date: Literal["day", "month", "quarter"] = Field(
        default="month", description="Event dates (and first/last seen) as the first day of their month or quarter.")
    birth_year_band: int = Field(default=5, ge=1, le=25, description="Birth years in bands this wide (1 = exact).")
    area: Literal["district", "area", "none"] = Field(
        default="area", description="Postcode district (LS13), postcode area (LS), or no area at all.")
    cost_bands: list[float] = Field(
        default=[0, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000],
        description="Lower bounds of the cost bands (costs are published as bands, never exactly).")
    min_k: int = Field(
        default=5, ge=0, description="Persons in a group smaller than this on the quasi-identifiers lose their area, "
                                     "then birth year, then sex (0: no local suppression).")

    @field_validator("cost_bands")
    @classmethod
    def _increasing(cls, bands: list[float]) -> list[float]:
        if not bands or any(b >= c for b, c in itertools.pairwise(bands)):
            raise ValueError("cost_bands must be a non-empty list of increasing lower bounds, e.g. [0, 100, 500]")
        return bands


class ProjectInfo(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    name: str
    area: str


class OptOut(Strict):
    """National data opt-out: whose events are health data (removed for opted-out persons)."""

    health_partners: list[str] = Field(default_factory=lambda: ["health"])


class Places(Strict):
    """Place-based harm (issue 20, pathways/premises.py)."""

    publish_premises: bool = Field(
        default=False, description="The partnership has agreed that single premises may be named in published "
                                   "outputs (still only above the disclosure thresholds).")
    sector_attribution: bool = Field(
        default=True, description="Attribute an event known only by postcode, whose postcode has no centroid, to the "
                                  "premises of its postcode sector, shared equally among them (reported apart from "
                                  "exact property matches).")
    postcode_centroids: str | None = Field(
        default=None, description="CSV of full postcode -> grid reference in metres (ONS Postcode Directory columns "
                                  "pcds, oseast1m, osnrth1m; or OS Code-Point Open Postcode, Eastings, Northings), "
                                  "relative to the protocols folder. Events known only by postcode are then "
                                  "attributed to the premises within a distance band of their postcode centroid.")
    distance_bands_m: list[int] = Field(
        default_factory=lambda: [100, 250, 500], min_length=1,
        description="Distance bands in metres, nearest first: an event is shared equally among the premises open on "
                    "its date in the nearest band that holds any (none beyond the last band).")

    @field_validator("distance_bands_m")
    @classmethod
    def _increasing(cls, v: list[int]) -> list[int]:
        if any(b <= 0 for b in v) or any(b >= c for b, c in itertools.pairwise(v)):
            raise ValueError("distance bands must be positive whole metres in increasing order, e.g. [100, 250, 500]")
        return v


class ProjectConfig(Strict):
    project: ProjectInfo
    linkage: Linkage
    suppression: Suppression = Suppression()
    national_data_opt_out: OptOut = OptOut()
    top_share: float = Field(default=0.2, gt=0, lt=1)
    households: Households = Households()
    research: ResearchTier = ResearchTier()
    places: Places = Places()
