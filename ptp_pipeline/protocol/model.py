"""The data-sharing protocol: the law of the pipeline, as a pydantic model.

Data officers write it as YAML; this model checks it and every stage reads it. Validators
collect problems (pydantic reports them all at once) and each says how to fix it.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    # Address parts (households): never match keys for persons, only for places.
    address_line = "address_line"
    uprn = "uprn"
    address_type = "address_type"
    address_from = "address_from"


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
        default=None, description="UK GDPR Article 9(2) condition; required for special-category data."
    )
    gateway: str | None = Field(default=None, description="Statutory gateway, e.g. Crime and Disorder Act 1998 s115.")


class Signatory(Strict):
    name: str
    role: str
    organisation: str
    date: date


class Retention(Strict):
    raw_extract_days: int = Field(ge=0, le=3650)
    shared_data_years: int = Field(ge=0, le=100)


class FileSettings(Strict):
    format: Literal["csv", "xlsx", "json", "parquet"] = "csv"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8"


class Constraints(Strict):
    allowed_values: list[str] | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    max_length: int | None = Field(default=None, ge=1)


class FieldSpec(Strict):
    name: str = Field(min_length=1)
    type: FieldType
    role: Role
    treatment: Treatment
    identifies: Identifies | None = None
    generalise: Level | None = None
    required: bool = False
    formats: list[str] | None = Field(
        default=None, description='Date formats, strftime style ("%d/%m/%Y") or "excel" for serial day numbers.'
    )
    constraints: Constraints = Constraints()
    description: str | None = None

    @model_validator(mode="after")
    def _field_rules(self) -> FieldSpec:
        problems: list[str] = []
        if self.role is Role.direct_identifier and self.treatment is Treatment.keep:
            problems.append(f"field '{self.name}' is a direct identifier kept as it is: use pseudonymise or drop")
        if self.treatment is Treatment.generalise and self.generalise is None:
            problems.append(f"field '{self.name}' is generalised but has no 'generalise:' level")
        if self.generalise is not None and self.generalise not in LEVELS_BY_TYPE.get(self.type, set()):
            allowed = ", ".join(sorted(LEVELS_BY_TYPE.get(self.type, set()))) or "none"
            problems.append(f"field '{self.name}' of type {self.type} cannot be generalised to "
                            f"'{self.generalise}' (levels for this type: {allowed})")
        if self.treatment is Treatment.pseudonymise and self.identifies is None:
            problems.append(f"field '{self.name}' is pseudonymised but does not say what it 'identifies:'")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class EventMapping(Strict):
    date: str
    type: str
    cost: str | None = None
    setting: str | None = None


class Protocol(Strict):
    """One partner dataset's data-sharing protocol."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    version: int = Field(ge=1)
    title: str
    partner: Partner
    dataset: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    purpose: str
    special_category: bool = Field(default=False, description="True when health or other Article 9 data is shared.")
    lawful_basis: LawfulBasis
    status: Status
    valid_from: date
    valid_to: date
    signatories: list[Signatory] = []
    retention: Retention
    file: FileSettings = FileSettings()
    fields: list[FieldSpec] = Field(min_length=1)
    event: EventMapping
    unexpected_columns: Literal["reject", "drop"] = "reject"
    quarantine_threshold: float = Field(default=0.1, ge=0, le=1)
    expectations: list[dict[str, Any]] = []

    @model_validator(mode="after")
    def _rules(self) -> Protocol:
        problems: list[str] = []
        if self.valid_to < self.valid_from:
            problems.append("valid_to is before valid_from: the protocol would never be in force")
        if self.special_category and not self.lawful_basis.article9:
            problems.append(
                "special-category data needs lawful_basis.article9 (e.g. '9(2)(h) health or social care')"
            )
        seen: set[str] = set()
        for f in self.fields:
            if f.name in seen:
                problems.append(f"field '{f.name}' is listed twice: keep one entry")
            seen.add(f.name)
        for slot in ("date", "type", "cost", "setting"):
            name = getattr(self.event, slot)
            if name is not None and name not in seen:
                problems.append(f"event.{slot} names field '{name}', which is not in fields")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)

    @property
    def key(self) -> tuple[str, str]:
        return (self.partner.id, self.dataset)

    def in_force(self, on: date) -> bool:
        return self.status is Status.approved and self.valid_from <= on <= self.valid_to


class MatchKey(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    parts: list[Literal["nhs_number", "local_id", "forename", "surname", "date_of_birth", "postcode",
                        "birth_year", "district", "sex"]] = Field(min_length=1)


class Linkage(Strict):
    match_keys: list[MatchKey]
    max_persons_per_token: int = Field(default=20, ge=2)


class Suppression(Strict):
    min_count: int = Field(default=8, ge=1, description="Counts below this are suppressed (1-7 by default).")
    round_to: int = Field(default=5, ge=1)


class Households(Strict):
    """Guards against false families (see privacy/address.py and pathways/households.py)."""

    max_persons_per_address: int = Field(
        default=10, ge=2,
        description="An address where more distinct persons were seen in one year is communal, never a household.")
    communal_types: list[str] = Field(
        default=["care_home", "hostel", "hospital", "prison", "hmo"],
        description="Values of an address_type field that mark an address communal (case-insensitive).")


class ProjectInfo(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    name: str
    area: str


class ProjectConfig(Strict):
    project: ProjectInfo
    linkage: Linkage
    suppression: Suppression = Suppression()
    top_share: float = Field(default=0.2, gt=0, lt=1)
    households: Households = Households()
