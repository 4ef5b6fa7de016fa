"""The check stage's field rules, value by value: each type's parse, its status (valid / invalid / missing),
constraints, exact duplicates, and the header rules (refuse, drop, missing), without a pipeline run.

Fast on purpose: these are the tests `make mutation` runs against every mutant of `extract/check.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import pytest

from ptp_pipeline.errors import ExtractError
from ptp_pipeline.extract.check import DUP_OF, MOD11_SUM, STATUS, check_header, parse_fields, status_of
from ptp_pipeline.extract.read import SOURCE_ROW
from ptp_pipeline.protocol import FieldType, Protocol, load_protocol
from ptp_pipeline.protocol.model import Constraints, FieldSpec, Role, Treatment

REPO = Path(__file__).resolve().parents[3]
POLICE = load_protocol(REPO / "protocols" / "police_incidents.yaml")


def field(name: str, kind: FieldType, **extra: object) -> FieldSpec:
    return FieldSpec.model_validate({"name": name, "type": kind, "role": Role.attribute, "treatment": Treatment.keep,
                                     **extra})


def protocol_of(*fields: FieldSpec, unexpected: str = "reject") -> Protocol:
    return POLICE.model_copy(update={"fields": list(fields), "unexpected_columns": unexpected})


def frame_of(columns: Mapping[str, Sequence[str | None]]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame({SOURCE_ROW: range(1, n + 1), **{k: pd.Series(v, dtype="string") for k, v in columns.items()}})


def cells(s: pd.Series) -> list[object]:
    return [None if pd.isna(v) else v for v in s]


def test_status_of_each_combination() -> None:
    present = pd.Series([True, True, False, False])
    ok = pd.Series([True, False, True, False])
    out = status_of(present, ok)
    assert cells(out) == ["valid", "invalid", "missing", "missing"] and out.dtype == "string"


def test_integers_decimals_and_booleans_parse_or_are_invalid() -> None:
    frame = frame_of({
        "n": ["3", " 4 ", "3.5", "x", "", None, "-2"],
        "amount": ["2.50", "abc", "7", "", "1e2", None, "-0.5"],
        "flag": ["y", "No", "maybe", "", "1", "0", " TRUE "],
    })
    out = parse_fields(frame, protocol_of(field("n", FieldType.integer), field("amount", FieldType.decimal),
                                          field("flag", FieldType.boolean)))
    assert [c for c in out.columns if c != DUP_OF] == [SOURCE_ROW, "n", STATUS + "n", "amount", STATUS + "amount",
                                                       "flag", STATUS + "flag"]
    assert cells(out[STATUS + "n"]) == ["valid", "valid", "invalid", "invalid", "missing", "missing", "valid"]
    assert cells(out["n"])[:2] == [3, 4] and out["n"].iloc[6] == -2
    assert cells(out[STATUS + "amount"]) == ["valid", "invalid", "valid", "missing", "valid", "missing", "valid"]
    assert cells(out["amount"]) == [2.5, None, 7, None, 100, None, -0.5]
    assert cells(out[STATUS + "flag"]) == ["valid", "valid", "invalid", "missing", "valid", "valid", "valid"]
    assert cells(out["flag"]) == [True, False, None, None, True, False, True]
    assert out["flag"].dtype == "boolean"


def test_every_true_and_false_spelling() -> None:
    spellings = ["Y", "YES", "TRUE", "T", "1", "n", "no", "false", "f", "0", "yes please", "2"]
    out = parse_fields(frame_of({"flag": spellings}), protocol_of(field("flag", FieldType.boolean)))
    assert cells(out["flag"]) == [True] * 5 + [False] * 5 + [None, None]
    assert cells(out[STATUS + "flag"]) == ["valid"] * 10 + ["invalid"] * 2


def test_length_and_pattern_constraints() -> None:
    frame = frame_of({
        "ref": ["abc", "abcd", "", "ab"],
        "code": ["12", "12a", None, "1234"],
    })
    out = parse_fields(frame, protocol_of(
        field("ref", FieldType.string, constraints=Constraints(max_length=3)),
        field("code", FieldType.code,
              constraints=Constraints(pattern="[0-9]{1,3}", allowed_values=["12", "12a", "1234"])),
    ))
    assert cells(out[STATUS + "ref"]) == ["valid", "invalid", "missing", "valid"]
    assert cells(out["ref"]) == ["abc", "abcd", None, "ab"]
    assert cells(out[STATUS + "code"]) == ["valid", "invalid", "missing", "invalid"]


def test_length_and_pattern_together_both_apply() -> None:
    out = parse_fields(frame_of({"ref": ["12", "1234", "ab"]}),
                       protocol_of(field("ref", FieldType.string, constraints=Constraints(max_length=3,
                                                                                          pattern="[0-9]+"))))
    assert cells(out[STATUS + "ref"]) == ["valid", "invalid", "invalid"]


def test_dates_use_the_fields_formats_or_the_files() -> None:
    frame = frame_of({"on": ["05/04/2024", "31/02/2024", "2024-04-05", ""],
                      "seen": ["2024-04-05", "05/04/2024", "2024-13-01", None]})
    out = parse_fields(frame, protocol_of(field("on", FieldType.date, formats=["%d/%m/%Y"]),
                                          field("seen", FieldType.datetime)))
    assert cells(out[STATUS + "on"]) == ["valid", "invalid", "invalid", "missing"]
    assert out["on"].iloc[0] == pd.Timestamp("2024-04-05")
    # the file's default formats: ISO first, then day/month/year
    assert cells(out[STATUS + "seen"]) == ["valid", "valid", "invalid", "missing"]
    assert cells(out["seen"])[:2] == [pd.Timestamp("2024-04-05")] * 2


def test_nhs_numbers_get_their_digit_sum_column() -> None:
    frame = frame_of({"nhs": ["943 476 5919", "9434765918", "12345", ""]})
    out = parse_fields(frame, protocol_of(field("nhs", FieldType.nhs_number, role=Role.direct_identifier,
                                                        treatment=Treatment.pseudonymise, identifies="nhs_number")))
    sums = out[STATUS + "nhs" + MOD11_SUM]
    # 10x9 + 9x4 + 8x3 + 7x4 + 6x7 + 5x6 + 4x5 + 3x9 + 2x1 + 1x9 = 308 = 11 x 28
    assert cells(sums) == [308, 307, -1, None]
    assert cells(out[STATUS + "nhs"]) == ["valid", "valid", "valid", "missing"], "the check digit is GX's to check"


def test_a_declared_column_absent_from_the_file_is_missing_on_every_row() -> None:
    out = parse_fields(frame_of({"a": ["x", "y"]}), protocol_of(field("a", FieldType.string),
                                                               field("b", FieldType.integer)))
    assert cells(out[STATUS + "b"]) == ["missing", "missing"] and cells(out["b"]) == [None, None]
    text = parse_fields(frame_of({"a": ["x", "y"]}), protocol_of(field("a", FieldType.string),
                                                                field("c", FieldType.string)))
    assert cells(text["c"]) == [None, None] and text["c"].dtype == "string", "typed as declared, not object"


def test_rows_keep_their_index_whatever_it_is() -> None:
    frame = frame_of({"a": ["x", "", "x"]})
    frame.index = pd.Index([10, 20, 30])
    out = parse_fields(frame, protocol_of(field("a", FieldType.string)))
    assert list(out.index) == [10, 20, 30] and cells(out[STATUS + "a"]) == ["valid", "missing", "valid"]


HEADER = [f.name for f in POLICE.fields]
REQUIRED = [f.name for f in POLICE.fields if f.required]


def test_a_header_of_the_protocols_columns_passes() -> None:
    assert check_header([SOURCE_ROW, *HEADER], POLICE, "p.csv") == []
    assert check_header(REQUIRED, POLICE, "p.csv") == [], "optional columns may be left out"


def test_unexpected_columns_refuse_the_file_or_are_dropped() -> None:
    with pytest.raises(ExtractError) as refused:
        check_header([*HEADER, "shoe size"], POLICE, "p.csv")
    error = refused.value
    assert error.where is not None and (error.where.file, error.where.line) == ("p.csv", 1)
    assert error.message == (f"column(s) shoe size are not allowed by protocol {POLICE.id} v{POLICE.version} "
                             f"(partner {POLICE.partner.id}, dataset {POLICE.dataset}), so "
                             "the whole extract is refused and nothing of it is merged (1 of the file's "
                             f"{len(HEADER) + 1} columns are not in the protocol).")
    assert error.hint == (f"Ask {POLICE.partner.organisation} to remove the column(s) from the extract; if the "
                          "partnership has agreed to share them, the data officer must add them to the protocol "
                          "first.")
    dropping = POLICE.model_copy(update={"unexpected_columns": "drop"})
    assert check_header([*HEADER, "shoe size", "hat"], dropping, "p.csv") == ["shoe size", "hat"]


def test_a_file_sent_without_its_header_is_told_so_without_quoting_the_row() -> None:
    row = ["Smith", "Ann", "30000", "LS1 1AA", "F", "9434765919", "01/05/2024", "arrest", "10"]
    with pytest.raises(ExtractError) as refused:
        check_header(row, POLICE, "p.csv")
    error = refused.value
    assert error.message.endswith(" The first line looks like a data row, not a header: the file may have been "
                                  "sent without its header line.")
    assert error.hint == "Ask the partner to send the extract again with its header line first."
    assert not any(value in error.message for value in ("Smith", "9434765919", "LS1 1AA", "30000"))


def test_missing_required_columns_are_named() -> None:
    header = [h for h in HEADER if h not in ("occurred_on", "incident_type")]
    with pytest.raises(ExtractError) as refused:
        check_header(header, POLICE, "p.csv")
    error = refused.value
    assert error.message == (f"required column(s) occurred_on, incident_type of protocol {POLICE.id} "
                             f"v{POLICE.version} (partner {POLICE.partner.id}, dataset {POLICE.dataset}) are missing "
                             f"from the file's header ({len(header)} columns), so the whole extract is refused.")
    assert error.hint == (f"Ask {POLICE.partner.organisation} to export the column(s) with exactly these names in "
                          "the header and send the extract again; if the partnership no longer shares them, the data "
                          "officer makes them optional (required: false) in a new version of the protocol.")
    assert error.where is not None and error.where.line == 1
