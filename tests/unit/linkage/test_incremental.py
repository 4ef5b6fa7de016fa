"""Incremental linkage through the pipeline: stable person ids, links across extracts, clerical review."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import assert_conserved, write_csv

from ptp_pipeline import pipeline
from ptp_pipeline.cli import main
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings

POLICE = ["surname", "forenames", "birth_date", "home_postcode", "home_address", "uprn", "sex", "nhs_number",
          "occurred_on", "incident_type", "estimated_cost"]
PEOPLE = [("Kelly", "Roger", "35233", "LS24 5QW"), ("Okafor", "Ngozi", "30111", "LS7 2GN"),
          ("Lindqvist", "Sven", "28001", "LS9 8BB"), ("Marsh", "Tilly", "33000", "LS6 2AB")]


def police(rows: list[tuple[str, str, str, str]], day: str) -> list[list[str]]:
    return [[s, f, dob, pc, "", "", "M", "", day, "incident", "100"] for s, f, dob, pc in rows]


def person_ids(rt: Runtime, extract_id: str) -> list[int]:
    frame = rt.warehouse.query("SELECT source_row, person_id FROM restricted.link_record WHERE extract_id = ? "
                               "ORDER BY source_row", (extract_id,))
    return frame.person_id.astype(int).tolist()


def test_persons_keep_their_ids_and_new_records_join_them(wh_rt: Runtime, tmp_path: Path) -> None:
    rt = wh_rt
    first = pipeline.ingest(rt, write_csv(tmp_path / "p1.csv", POLICE, police(PEOPLE, "01/06/2024")), "police",
                            "incidents")
    before = person_ids(rt, str(first.extract_id))
    assert len(set(before)) == 4
    # The same people later, spelt differently, plus one stranger.
    again = [("KELLY", "Roger", "35233", "ls24 5qw"), ("Okafur", "Ngozi", "30111", "LS7 2GN"),
             ("Lindqvist", "Sven", "28001", "LS9 8BB"), ("Pemberton", "Aurelia", "29500", "LS1 1AA")]
    second = pipeline.ingest(rt, write_csv(tmp_path / "p2.csv", POLICE, police(again, "01/07/2024")), "police",
                             "incidents")
    assert first.status == second.status == "merged"
    assert_conserved(rt)
    assert person_ids(rt, str(first.extract_id)) == before, "existing persons keep their ids"
    after = person_ids(rt, str(second.extract_id))
    assert after[:3] == before[:3]
    assert after[3] not in before
    assert rt.warehouse.scalar("SELECT count(*) FROM shared.person") == 5
    linked = rt.warehouse.query("SELECT link_pass, match_probability FROM restricted.link_identity")
    assert linked.link_pass.str.startswith("cascade:").any() or (linked.link_pass == "probabilistic").any()


def test_a_clerical_decision_survives_the_next_run(env: dict[str, str], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    rt = Runtime(load_settings(env))
    base = [*PEOPLE, ("Ashdown", "Petra", "31000", "LS2 7AA")]
    a = pipeline.ingest(rt, write_csv(tmp_path / "a.csv", POLICE, police(base, "01/06/2024")), "police", "incidents")
    # Same forename and date of birth, an unrelated surname and no postcode: between the thresholds.
    doubtful = [("Zimmerman", "Roger", "35233", "")]
    b = pipeline.ingest(rt, write_csv(tmp_path / "b.csv", POLICE, police(doubtful, "01/07/2024")), "police",
                        "incidents")
    assert a.status == b.status == "merged"
    roger, other = person_ids(rt, str(a.extract_id))[0], person_ids(rt, str(b.extract_id))[0]
    assert roger != other
    rt.close()
    capsys.readouterr()
    assert main(["linkage", "review", "list"]) == 0
    listed = capsys.readouterr().out
    assert "1 pairs awaiting review" in listed and str(roger) in listed and str(other) in listed
    assert main(["linkage", "review", "decide", "1", "reject"]) == 0  # recorded under the login
    # The same doubtful record again next month: known identity, not queued again, still apart.
    rt = Runtime(load_settings(env))
    c = pipeline.ingest(rt, write_csv(tmp_path / "c.csv", POLICE, police(doubtful, "01/08/2024")), "police",
                        "incidents")
    assert c.status == "merged"
    assert person_ids(rt, str(c.extract_id)) == [other]
    rt.close()
    capsys.readouterr()
    assert main(["linkage", "review", "list"]) == 0
    assert "0 pairs awaiting review" in capsys.readouterr().out
    assert main(["linkage", "--bias"]) == 0
    report = capsys.readouterr().out
    assert "pairs awaiting clerical review: 0" in report
    assert "Linkage by agency" in report and "Linkage by sex" in report
    # A full re-cluster (after a key rotation or threshold change) honours the decision and keeps ids.
    rt = Runtime(load_settings(env))
    before = rt.warehouse.query("SELECT record_id, person_id FROM restricted.link_record ORDER BY 1")
    rt.close()
    assert main(["linkage", "relink"]) == 0
    assert "0 identities moved" in capsys.readouterr().out
    rt = Runtime(load_settings(env))
    after = rt.warehouse.query("SELECT record_id, person_id FROM restricted.link_record ORDER BY 1")
    assert before.equals(after)
    assert rt.warehouse.query("SELECT action FROM ops.audit_log").action.isin(["linkage_relinked"]).any()
    assert_conserved(rt)
    rt.close()


def test_accepting_a_pair_joins_the_two_persons(env: dict[str, str], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    rt = Runtime(load_settings(env))
    a = pipeline.ingest(rt, write_csv(tmp_path / "a.csv", POLICE, police(PEOPLE, "01/06/2024")), "police", "incidents")
    b = pipeline.ingest(rt, write_csv(tmp_path / "b.csv", POLICE, police([("Zimmerman", "Roger", "35233", "")],
                                                                        "01/07/2024")), "police", "incidents")
    rt.close()
    assert main(["linkage", "review", "decide", "1", "accept", "--by", "reviewer"]) == 0
    rt = Runtime(load_settings(env))
    assert person_ids(rt, str(b.extract_id)) == [person_ids(rt, str(a.extract_id))[0]]
    assert rt.warehouse.scalar("SELECT count(*) FROM shared.person") == 4
    assert rt.warehouse.query("SELECT action FROM ops.audit_log").action.isin(["link_review"]).any()
    assert_conserved(rt)
    rt.close()
    # The pair scores below the threshold on its own: only the accepted decision keeps it together.
    assert main(["linkage", "relink"]) == 0
    rt = Runtime(load_settings(env))
    assert person_ids(rt, str(b.extract_id)) == [person_ids(rt, str(a.extract_id))[0]]
    assert rt.warehouse.scalar("SELECT count(*) FROM restricted.link_identity WHERE link_pass = 'clerical'") == 2
    rt.close()



def test_a_new_person_never_takes_the_id_of_an_earlier_unlinkable_record(wh_env: dict[str, str],
                                                                        tmp_path: Path) -> None:
    """Unlinkable records are persons with no identity: a later extract's new persons are numbered after them,
    even when the later extract re-sends their period and so removes them (an id once given is never given again;
    without the kept high mark, and with only the identities counted, the stranger takes id 5)."""
    protocols = tmp_path / "protocols"  # the police protocol with the date of birth optional
    shutil.copytree(Path(__file__).resolve().parents[3] / "protocols", protocols)
    police_yaml = protocols / "police_incidents.yaml"
    text = police_yaml.read_text(encoding="utf-8")
    optional = text.replace("generalise: year, required: true}", "generalise: year}")
    assert optional != text
    police_yaml.write_text(optional, encoding="utf-8")
    rt = Runtime(load_settings({**wh_env, "PTP_PROTOCOLS_DIR": str(protocols)}))
    try:
        alone = ("Nobody", "Known", "", "")  # a name alone: too little to link, its own person
        first = pipeline.ingest(rt, write_csv(tmp_path / "p1.csv", POLICE, police([*PEOPLE, alone], "01/06/2024")),
                                "police", "incidents")
        before = person_ids(rt, str(first.extract_id))
        assert len(set(before)) == 5
        stranger = [("Pemberton", "Aurelia", "29500", "LS1 1AA")]
        second = pipeline.ingest(rt, write_csv(tmp_path / "p2.csv", POLICE, police(stranger, "01/06/2024")),
                                 "police", "incidents")
        assert first.status == second.status == "merged"
        after = person_ids(rt, str(second.extract_id))
        assert after[0] not in before, "the stranger is a new person, not the first extract's unlinkable record"
        assert rt.warehouse.scalar("SELECT count(*) FROM shared.person") == 1  # the re-sent period holds one
        assert_conserved(rt)
    finally:
        rt.close()


@pytest.mark.parametrize("order", [(0, 1), (1, 0)], ids=["first-kept", "first-absorbed"])
def test_a_known_record_follows_its_person_into_a_merge_the_same_extract_makes(
        wh_rt: Runtime, tmp_path: Path, order: tuple[int, int]) -> None:
    """A new record proves two stored persons are one; a record of one of them sent again in the same extract
    (a known identity) is filed under the person kept, not the one absorbed (whichever had the smaller id)."""
    rt = wh_rt

    def row(surname: str, forename: str, dob: str, nhs: str, day: str) -> list[str]:
        return [surname, forename, dob, "", "", "", "F", nhs, day, "incident", "100"]

    nhs = "9434765919"  # a valid NHS number (mod 11)
    rows = [row("Kelly", "Roberta", "35233", nhs, "01/06/2024"), row("Quist", "Ingrid", "30111", "", "01/06/2024")]
    first = pipeline.ingest(rt, write_csv(tmp_path / "p1.csv", POLICE, [rows[i] for i in order]), "police",
                            "incidents")
    assert len(set(person_ids(rt, str(first.extract_id)))) == 2
    # Next month: Roberta's record again (a known identity), and Ingrid's with Roberta's NHS number.
    again = [row("Kelly", "Roberta", "35233", nhs, "01/07/2024"), row("Quist", "Ingrid", "30111", nhs, "02/07/2024")]
    second = pipeline.ingest(rt, write_csv(tmp_path / "p2.csv", POLICE, again), "police", "incidents")
    assert first.status == second.status == "merged"
    everyone = person_ids(rt, str(first.extract_id)) + person_ids(rt, str(second.extract_id))
    assert len(set(everyone)) == 1, everyone
    assert rt.warehouse.scalar("SELECT count(*) FROM shared.person") == 1
    assert_conserved(rt)
