"""Linkage behaviour through the public entry point `link_frame` (the code ingest runs)."""

from __future__ import annotations

import secrets
from typing import Any

import pandas as pd
import pytest
from helpers import model_with_forename_share

from ptp_pipeline.linkage import link_frame
from ptp_pipeline.protocol import ProjectConfig
from ptp_pipeline.protocol.load import load_project

KEY = secrets.token_bytes(32)
FORENAMES = ["Amara", "Bogdan", "Ciaran", "Delyth", "Eilidh", "Farhan", "Gideon", "Hollis", "Ingrid", "Jovan"]
SURNAMES = ["Abernathy", "Blackwood", "Castellano", "Dunmore", "Eversleigh", "Fairbairn", "Greenhalgh", "Hartigan",
            "Illingworth", "Jablonski"]


def person(i: int, **over: str) -> dict[str, str]:
    base = {"forename": FORENAMES[i % 10], "surname": SURNAMES[(i // 10) % 10] + ("" if i < 100 else f"x{i}"),
            "date_of_birth": f"19{50 + i % 40}-{1 + i % 12:02d}-{1 + i % 27:02d}", "postcode": "LS6 2AB", "sex": "F"}
    return {**base, **over}


def persons_of(frame: pd.DataFrame, project: ProjectConfig | None = None) -> list[int]:
    out = link_frame(frame.assign(record=range(len(frame))), KEY, project)
    return out.sort_values("record")["person_id"].tolist()


def test_records_without_a_date_of_birth_stay_their_own_persons() -> None:
    frame = pd.DataFrame([person(i, date_of_birth="", postcode="") for i in range(200)])
    assert len(set(persons_of(frame))) == 200


def test_records_with_no_identifier_at_all_never_merge() -> None:
    frame = pd.DataFrame([{"forename": "", "surname": "", "date_of_birth": "", "postcode": "LS6 2AB", "sex": "M"}
                          for _ in range(50)])
    out = link_frame(frame, KEY)
    assert out.person_id.nunique() == 50
    assert (out.link_pass == "unlinkable").all()


@pytest.mark.parametrize("variant", [
    {"forename": "Abernathy", "surname": "Amara"},  # forename and surname swapped
    {"forename": "Abernahty", "surname": "Amarah"},  # swapped, and both mistyped
    {"forename": "Abernahty", "surname": "Amra"},  # swapped, and both mistyped (one beyond its sound)
    {"surname": "Abernethy"},  # one-letter typo in the surname
    {"surname": "Aber nathy"},  # a space inside the surname
    {"date_of_birth": "1950-01-02"},  # one wrong digit in the date of birth
    {"date_of_birth": "1950-01-01", "postcode": ""},  # day and month swapped... (see below) and no postcode
])
def test_a_noisy_second_record_links_to_the_first(variant: dict[str, str]) -> None:
    first = person(0, forename="Amara", surname="Abernathy", date_of_birth="1950-01-01")
    second = {**first, **variant}
    others = [person(i) for i in range(1, 60)]
    ids = persons_of(pd.DataFrame([first, second, *others]))
    assert ids[0] == ids[1]
    assert len(set(ids)) == 60


@pytest.mark.parametrize(("first", "second"), [
    ({"date_of_birth": ""}, {"surname": "Abernahty"}),  # a surname typo, and no date of birth on either record
    ({}, {"surname": "Abernahty", "date_of_birth": ""}),  # ... or on one of them
    ({}, {"forename": "Anara", "surname": "Abermathy", "postcode": "LS6 9ZZ"}),  # both names mistyped, another street
])
def test_a_record_with_two_fields_wrong_is_still_compared(first: dict[str, str], second: dict[str, str]) -> None:
    """No chain of other records joins two files that each hold a person once: the pair itself has to be
    a candidate (FEBRL, bench/public_linkage.py)."""
    one = person(0, **{"forename": "Amara", "surname": "Abernathy", "date_of_birth": "1950-01-01", **first})
    others = [person(i) for i in range(1, 60)]
    ids = persons_of(pd.DataFrame([one, {**one, **second}, *others]))
    assert ids[0] == ids[1]
    assert len(set(ids)) == 60


@pytest.mark.parametrize(("a", "b"), [
    (("Rose", "Ross"), ("Jane", "Ross")),  # twins: one forename sounds like the surname they share
    (("Mary", "Moore"), ("Jane", "Moore")),
    (("Lee", "Smith"), ("Jane", "Leigh")),  # strangers: one name like the other's other name, nothing more
])
def test_one_name_like_the_other_records_other_name_is_no_swap(a: tuple[str, str], b: tuple[str, str]) -> None:
    """A swap crosses both names: one likeness across them says nothing when the surname is shared (twins)."""
    one = person(0, forename=a[0], surname=a[1], date_of_birth="1990-05-05", postcode="LS6 2AB")
    two = {**one, "forename": b[0], "surname": b[1], **({"postcode": "LS6 4QT"} if a[1] != b[1] else {})}
    ids = persons_of(pd.DataFrame([one, two, *[person(i) for i in range(1, 40)]]))
    assert ids[0] != ids[1]


def test_day_and_month_swapped_links() -> None:
    first = person(0, date_of_birth="1971-03-11")
    second = person(0, date_of_birth="1971-11-03", postcode="LS9 8BB")
    ids = persons_of(pd.DataFrame([first, second, *[person(i) for i in range(1, 40)]]))
    assert ids[0] == ids[1]


HOUSE = {"street_number": "4", "street": "Whiteside Court", "locality": "Headingley", "postcode": "LS6 2AB"}


def test_one_name_at_a_house_links_to_the_person_it_is() -> None:
    # No surname and no date of birth: a forename at a house (and the locality mistyped) is enough to compare.
    first = {"forename": "Gwendolyn", "surname": "", "date_of_birth": "", **HOUSE}
    frame = pd.DataFrame([first, {**first, "locality": "Headingly"}, person(3), person(4)])
    out = link_frame(frame.assign(record=range(4)), KEY).sort_values("record")
    assert out.person_id.iloc[0] == out.person_id.iloc[1] and out.person_id.nunique() == 3
    assert out.link_pass.iloc[0] != "unlinkable" and out.match_probability.iloc[0] >= 0.95


def test_a_surname_at_a_house_never_makes_the_household_one_person() -> None:
    # "Lee at 4 Whiteside Court" is as like Amy Lee as Jonathan Lee of that house: it joins neither, and they stay
    # two. Given a sex, it is clearly Amy's record, and joins her.
    amy = {"forename": "Amy", "surname": "Lee", "date_of_birth": "1981-03-07", "sex": "F", **HOUSE}
    john = {**amy, "forename": "Jonathan", "date_of_birth": "1979-11-23", "sex": "M"}
    lee = {"forename": "", "surname": "Lee", "date_of_birth": "", "sex": "", **HOUSE}
    ids = persons_of(pd.DataFrame([amy, john, lee, {**lee, "locality": "Headingly"}]))
    assert ids[0] != ids[1], "Amy and Jonathan Lee are two people"
    assert not {ids[2], ids[3]} & {ids[0], ids[1]}, "a record as like one as the other joins neither"
    ids = persons_of(pd.DataFrame([amy, john, {**lee, "sex": "F"}]))
    assert ids[0] != ids[1] and ids[2] == ids[0]


def test_a_name_at_a_house_as_like_two_records_of_one_person_joins_that_person() -> None:
    # Amy's two records differ only in her date of birth, which the record at her house lacks: it is as like the one
    # as the other, and both are Amy, so it joins her (FEBRL 3's people with several records).
    amy = {"forename": "Amy", "surname": "Lee", "date_of_birth": "1981-03-07", "sex": "F", **HOUSE}
    ids = persons_of(pd.DataFrame([amy, {**amy, "date_of_birth": "1981-07-03"},
                                   {"forename": "Amy", "surname": "", "date_of_birth": "", "sex": "F", **HOUSE}]))
    assert ids[0] == ids[1] == ids[2]


def test_twins_stay_two_persons() -> None:
    twin_a = person(0, forename="Amara", surname="Abernathy", date_of_birth="1990-05-05")
    twin_b = person(0, forename="Bogdan", surname="Abernathy", date_of_birth="1990-05-05", sex="M")
    ids = persons_of(pd.DataFrame([twin_a, twin_b, twin_a, twin_b, *[person(i) for i in range(1, 30)]]))
    assert ids[0] == ids[2] and ids[1] == ids[3]
    assert ids[0] != ids[1]


def test_a_twin_whose_forename_is_the_family_surname_stays_apart_from_the_other() -> None:
    """"Ross Ross" and "Jane Ross": the first's forename is the surname they share, which is no swap of names (a
    swap would leave the surnames different); the forenames share nothing, so the twin guard holds."""
    twin_a = person(0, forename="Ross", surname="Ross", date_of_birth="1990-05-05")
    twin_b = person(0, forename="Jane", surname="Ross", date_of_birth="1990-05-05", sex="M")
    ids = persons_of(pd.DataFrame([twin_a, twin_b, twin_a, twin_b, *[person(i) for i in range(1, 30)]]))
    assert ids[0] == ids[2] and ids[1] == ids[3]
    assert ids[0] != ids[1]


def _replaced_forename(project: ProjectConfig, conflict: str, model: dict[str, Any] | None = None) -> list[int]:
    a = person(0, forename="Amara", surname="Abernathy", date_of_birth="1990-05-05")
    b = {**a, "forename": "Zofia"}  # the forename replaced, not mistyped; all else equal
    # Only the probabilistic pass decides this pair: the cascade keeps the keys that need a forename.
    keys = [k for k in project.linkage.match_keys if "forename" in k.parts]
    linkage = project.linkage.model_copy(update={"forename_conflict": conflict, "match_keys": keys})
    chosen = project.model_copy(update={"linkage": linkage})
    frame = pd.DataFrame([a, b, *[person(i) for i in range(1, 40)]])
    return link_frame(frame.assign(record=range(len(frame))), KEY, chosen, model=model).sort_values(
        "record")["person_id"].tolist()


def test_forenames_sharing_nothing_never_link_by_default(project: ProjectConfig) -> None:
    """The shipped prior (a small first extract, no trained model) holds twins apart."""
    assert project.linkage.forename_conflict == "auto"
    ids = _replaced_forename(project, "auto")
    assert ids[0] != ids[1]


@pytest.mark.parametrize(("share", "linked"), [(0.03, False), (0.10, True)])
def test_auto_weighs_forenames_only_when_the_data_replaces_them_more_often_than_twins_occur(
        project: ProjectConfig, share: float, linked: bool) -> None:
    """3% of matching pairs with forenames sharing nothing is what twins explain (the veto stands); 10% is
    FEBRL's replaced forenames (weighed as evidence). The twin share is project.yaml's, 5% as shipped."""
    assert project.linkage.twin_share == 0.05
    ids = _replaced_forename(project, "auto", model_with_forename_share(share))
    assert (ids[0] == ids[1]) is linked
    veto = _replaced_forename(project, "veto", model_with_forename_share(share))
    assert veto[0] != veto[1]


@pytest.mark.slow
def test_a_frame_large_enough_trains_on_its_own_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """300 people twice each (each at a postcode of their own; the second record without the sex), one in eight
    with the forename replaced on the second record (FEBRL's noise): trained on these 600 identities, `auto`
    finds forenames that share nothing in far more pairs than twins explain and links them; on the priors it
    holds them apart."""
    replaced = ["Wystan", "Yusuf", "Zofia", "Ulric"]
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    first = [person(i, postcode=f"LS{1 + i % 28} {i % 10}{letters[i % 20]}{letters[i // 20 % 20]}")
             for i in range(100, 400)]
    second = [{**p, "sex": "", **({"forename": replaced[i % 4]} if i % 8 == 0 else {})} for i, p in enumerate(first)]
    frame = pd.DataFrame(first + second)
    trained = persons_of(frame)
    pairs = [(i, i + 300) for i in range(0, 300, 8)]
    assert all(trained[a] == trained[b] for a, b in pairs)
    assert len(set(trained)) == 300
    import ptp_pipeline.linkage.frame as frame_module

    monkeypatch.setattr(frame_module, "FRAME_TRAIN_FROM", len(frame) + 1)
    priors = persons_of(frame)
    assert not any(priors[a] == priors[b] for a, b in pairs)


@pytest.mark.parametrize(("conflict", "linked"), [("auto", False), ("veto", False), ("evidence", True)])
def test_a_match_key_without_the_forename_respects_the_twin_guard(project: ProjectConfig, conflict: str,
                                                                   linked: bool) -> None:
    """The shipped keys include surname + date of birth + postcode district: two people sharing those at different
    addresses (a common surname in a county-sized population) with forenames that share nothing stay apart unless
    the project says forenames are evidence; a nickname still joins them, and so does one address."""
    assert any(set(k.parts) == {"surname", "date_of_birth", "district"} for k in project.linkage.match_keys)
    chosen = project.model_copy(update={"linkage": project.linkage.model_copy(update={"forename_conflict": conflict})})
    a = person(0, forename="Amara", surname="Abernathy", date_of_birth="1990-05-05", postcode="LS6 2AB")
    b = {**a, "forename": "Zofia", "postcode": "LS6 4QT"}  # the same district, another street
    c = {**a, "forename": "Robert", "postcode": "LS6 1AA"}
    d = {**c, "forename": "Bob", "postcode": "LS6 3HN"}  # a nickname of c's forename
    e = person(0, forename="Max", surname="Quist", date_of_birth="1971-02-03", postcode="LS7 2GN")
    f = {**e, "forename": "Jax"}  # the first letter mistyped, at the same address: shares nothing, same person
    frame = pd.DataFrame([a, b, c, d, e, f, *[person(i) for i in range(1, 40)]])
    ids = link_frame(frame.assign(record=range(len(frame))), KEY, chosen).sort_values("record")["person_id"].tolist()
    assert (ids[0] == ids[1]) is linked
    assert ids[2] == ids[3]
    assert ids[4] == ids[5]


def test_forenames_sharing_nothing_are_weighed_when_the_project_says_evidence(project: ProjectConfig) -> None:
    ids = _replaced_forename(project, "evidence")
    assert ids[0] == ids[1]


def _conflict_frame() -> pd.DataFrame:
    a = person(3, nhs_number="9434765919")
    b = person(3, nhs_number="9434765870")  # another valid NHS number, everything else equal
    return pd.DataFrame([a, b, *[person(i) for i in range(10, 40)]])


def test_differing_nhs_numbers_with_all_else_equal_link_as_evidence_by_default(project: ProjectConfig) -> None:
    assert project.linkage.strong_id_conflict == "evidence"
    ids = persons_of(_conflict_frame(), project)
    assert ids[0] == ids[1]


def test_differing_nhs_numbers_never_link_when_the_project_vetoes(project: ProjectConfig) -> None:
    veto = project.model_copy(update={"linkage": project.linkage.model_copy(update={"strong_id_conflict": "veto"})})
    ids = persons_of(_conflict_frame(), veto)
    assert ids[0] != ids[1]


def test_differing_nhs_numbers_outweigh_a_common_name_match(project: ProjectConfig) -> None:
    a = person(3, nhs_number="9434765919", postcode="LS1 1AA")
    b = person(3, nhs_number="9434765870", postcode="LS28 9ZZ", date_of_birth="1961-07-19")
    ids = persons_of(pd.DataFrame([a, b, *[person(i) for i in range(10, 40)]]), project)
    assert ids[0] != ids[1]


def test_every_link_has_a_probability_and_a_pass() -> None:
    frame = pd.DataFrame([person(0), person(0, surname="Abernethy"), person(1)])
    out = link_frame(frame, KEY)
    assert set(out.link_pass) <= {"probabilistic", "new person", "unlinkable"} | {
        f"cascade:{k}" for k in ("nhs", "local_id", "name_dob_postcode", "name_dob")}
    linked = out[out.link_pass != "new person"]
    assert linked.match_probability.between(0, 1).all()


@pytest.fixture
def project() -> ProjectConfig:
    from pathlib import Path

    return load_project(Path(__file__).parents[3] / "protocols")


def test_a_national_insurance_number_links_across_a_change_of_surname() -> None:
    a = person(5, surname="Okonkwo", ni_number="AB 12 34 56 C", postcode="LS1 1AA")
    b = person(5, surname="Whitfield", ni_number="ab123456", postcode="LS9 8BB")
    ids = persons_of(pd.DataFrame([a, b, *[person(i, ni_number="") for i in range(10, 40)]]))
    assert ids[0] == ids[1]


def test_two_fields_of_one_identifier_kind_are_refused(tmp_path: pytest.TempPathFactory,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    from ptp_pipeline.cli import main

    source = Path(__file__).parents[3] / "protocols" / "council_contacts.yaml"
    text = source.read_text().replace(
        "  - {name: surname, type: string,",
        "  - {name: second_forename, type: string, role: direct_identifier, treatment: pseudonymise, "
        "identifies: forename}\n  - {name: surname, type: string,", 1)
    bad = Path(str(tmp_path)) / "council_contacts.yaml"
    bad.write_text(text)
    assert main(["protocol", "validate", str(source)]) == 0
    capsys.readouterr()
    assert main(["protocol", "validate", str(bad)]) != 0
    said = capsys.readouterr()
    assert "both identify forename" in " ".join((said.out + said.err).split())


def test_too_little_memory_for_the_linkage_says_what_to_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    from ptp_pipeline.errors import WarehouseError

    monkeypatch.setenv("PTP_DUCKDB_MEMORY_LIMIT", "1MB")
    with pytest.raises(WarehouseError, match="PTP_DUCKDB_MEMORY_LIMIT") as caught:
        persons_of(pd.DataFrame([person(i) for i in range(300)]))
    assert "Raise PTP_DUCKDB_MEMORY_LIMIT" in str(caught.value.hint)


def test_frame_parts_normalise_each_strong_identifier_and_keep_each_source_apart() -> None:
    from ptp_pipeline.linkage.frame import frame_parts

    frame = pd.DataFrame({
        "record": [1, 2, 3],
        "nhs_number": ["943 476 5919", "AB-77", "  "],  # a valid NHS number, another scheme's reference, blank
        "shared_ref": ["ref 1", "ref 2", "Ref-3"],
        "ni_number": ["ab 12 34 56 c", "QQ123456C", None],  # QQ is never issued
        "uln": ["12345 67899", "1234567893", None],  # the second fails its check digit
        "local_id": [" x1 ", "y2", None],
        "source": ["gp", "la", "gp"],
    })
    parts = frame_parts(frame).astype(object).where(lambda p: p.notna(), None)
    assert parts.to_dict("list") == {
        "nhs": ["9434765919", None, None],
        # another scheme's reference in the NHS column is compared as given, ahead of the shared_ref column
        "shared_ref": ["REF1", "AB-77", "REF-3"],
        "ni": ["AB123456", None, None],
        "uln": ["1234567899", None, None],
        "local_id": ["gp|X1", "la|Y2", None],  # one partner's local number never meets another's
    }
    assert frame_parts(pd.DataFrame({"local_id": ["a"], "sex": [" f "]})).to_dict("list") == {
        "sex": ["F"], "local_id": ["frame|A"]}


def test_without_match_keys_exact_duplicates_still_link_on_the_model_alone() -> None:
    import dataclasses

    from ptp_pipeline.linkage.engine import config_from

    frame = pd.DataFrame([person(0), person(0), person(1)]).assign(record=range(3))
    out = link_frame(frame, KEY, cfg=dataclasses.replace(config_from(None), match_keys=[])).sort_values("record")
    assert out.person_id.iloc[0] == out.person_id.iloc[1] != out.person_id.iloc[2]
    assert not any(str(p).startswith("cascade:") for p in out.link_pass)  # no key was configured, none was used
