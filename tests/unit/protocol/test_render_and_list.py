"""`ptp protocol render` (agreements for sign-off) and `ptp protocol list` (state and expiry)."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from ptp_pipeline.cli import main
from ptp_pipeline.protocol import load_protocol

REPO_PROTOCOLS = Path(__file__).resolve().parents[3] / "protocols"
PAYLOAD = "<script>alert(1)</script>"


def protocols_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **texts: str) -> Path:
    folder = tmp_path / "protocols"
    folder.mkdir()
    shutil.copy(REPO_PROTOCOLS / "project.yaml", folder)
    for name, text in texts.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(folder))
    return folder


def render(tmp_path: Path, protocol_id: str) -> tuple[str, str]:
    out = tmp_path / "agreements"
    assert main(["protocol", "render", protocol_id, "--out", str(out), "--on", "2025-01-01"]) == 0
    (html,), (md,) = out.glob("*.html"), out.glob("*.md")
    assert html.stem == md.stem
    return html.read_text(encoding="utf-8"), md.read_text(encoding="utf-8")


def test_rendered_agreement_holds_what_signatories_must_see(tmp_path: Path) -> None:
    html, md = render(tmp_path, "council-contacts")
    p = load_protocol(REPO_PROTOCOLS / "council_contacts.yaml")
    for text in (html, md):
        assert "council-contacts" in text and "version 1" in text and "Rendered on 2025-01-01" in text
        assert "6(1)(e) public task" in text and "Crime and Disorder Act 1998 s115" in text
        assert "9(2)(g) substantial public interest" in text
        assert "From 2024-01-01 to 2027-03-31".lower() in text.lower()
        assert "at most 30 days" in text and "at most 6 years" in text
        assert "A. Example" in text and "Caldicott Guardian" in text
        assert "the whole file is refused" in text and "More than 10% of rows" in text
    assert " ".join(p.purpose.split()) in " ".join(html.split())
    # One table row per field, saying what happens to it.
    rows = re.findall(r"<tr><td>([^<]+)</td>.*?<td>([^<]*)</td><td>([^<]*)</td></tr>", html)
    happens = {name: what for name, what, _ in rows}
    assert [r[0] for r in rows[: len(p.fields)]] == [f.name for f in p.fields]
    assert happens["date_of_birth"] == "Replaced by a keyed code used only to link records, then deleted; " \
                                       "only the year is kept"
    assert happens["postcode"].endswith("only the postcode district is kept")
    assert happens["contact_date"] == "Shared as it is (as the event date)"
    assert happens["unit_cost"] == "Shared as it is (as the event cost)"
    md_rows = [line for line in md.splitlines() if line.startswith("| ") and "keyed code" in line]
    # client_ref, nhs_number, forename, surname, date_of_birth, postcode, address_line1, uprn, address_from
    assert len(md_rows) == 9


def test_protocol_text_is_escaped_in_html_and_markdown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (REPO_PROTOCOLS / "police_incidents.yaml").read_text(encoding="utf-8")
    for old in ("Police incidents, arrests and custody episodes", "West Yorkshire Police (synthetic)",
                "C. Example", "Crime and Disorder Act 1998 s115", "DPA 2018 Sch 1 para 10 preventing"):
        assert old in text
        text = text.replace(old, f"{old} {PAYLOAD}")
    text = text.replace("  Map the pathways", f"  {PAYLOAD} Map the pathways")
    text = text.replace("allowed_values: [incident, arrest, custody]",
                        f'allowed_values: [incident, arrest, "{PAYLOAD}"]')
    text = text.replace("{name: estimated_cost,", f'{{name: estimated_cost, description: "{PAYLOAD}",')
    protocols_dir(tmp_path, monkeypatch, police_incidents=text)
    html, md = render(tmp_path, "police-incidents")
    for out in (html, md):
        assert "<script" not in out
        assert out.count("&lt;script&gt;") >= 8, out.count("&lt;script&gt;")


def test_render_unknown_id_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["protocol", "render", "fire-callouts"]) == 3
    err = capsys.readouterr().err
    assert "no protocol 'fire-callouts'" in err and "police-incidents" in err and "Traceback" not in err


def test_list_shows_state_and_warns_on_expiry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    today = date.today()
    police = (REPO_PROTOCOLS / "police_incidents.yaml").read_text(encoding="utf-8")
    health = (REPO_PROTOCOLS / "health_attendances.yaml").read_text(encoding="utf-8")
    soon = re.sub(r"valid_to: \S+", f"valid_to: {today + timedelta(days=10)}", police)
    later = re.sub(r"valid_to: \S+", f"valid_to: {today + timedelta(days=400)}", health)
    protocols_dir(tmp_path, monkeypatch, police_incidents=soon, health_attendances=later.replace(
        "status: approved", "status: suspended"), broken="id: [")
    assert main(["protocol", "list"]) == 0
    captured = capsys.readouterr()
    police_line = next(t for t in captured.out.splitlines() if t.startswith("police-incidents"))
    assert re.search(rf"police-incidents +1 +police/incidents +approved +2024-01-01 to "
                     rf"{today + timedelta(days=10)} +yes", police_line)
    assert re.search(r"health-attendances +1 +health/attendances +suspended .* no$", captured.out, re.M)
    assert f"warning: police-incidents v1: expires in 10 day(s), on {today + timedelta(days=10)}" in captured.err
    assert "health-attendances" not in captured.err
    assert "warning: broken.yaml: does not validate" in captured.err
    assert main(["protocol", "list", "--json"]) == 0
    entries = {e["file"]: e for e in json.loads(capsys.readouterr().out)}
    assert entries["police_incidents.yaml"]["days_left"] == 10 and entries["broken.yaml"]["status"] == "invalid"
    # 30 days is the edge: 31 days left is no warning yet.
    assert main(["protocol", "list", "--on", str(today - timedelta(days=21))]) == 0
    assert "expires in" not in capsys.readouterr().err
