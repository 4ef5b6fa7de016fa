"""A postcode centroid file that cannot be used: one that cannot be read or is not a CSV stops the stage
with a message naming the file (never a value); one project.yaml names but that is not there is warned
about and its events keep sector attribution."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ptp_pipeline.errors import ConfigError
from ptp_pipeline.privacy.centroids import load_centroids, project_centroids, read_centroids
from ptp_pipeline.protocol import load_protocol
from ptp_pipeline.protocol.load import load_project

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("content", "error"), [
    (b"", "EmptyDataError"),
    (b"pcds,oseast1m,osnrth1m\nLS2 7EE,43\xe9100,434000\n", "UnicodeDecodeError"),  # Latin-1, not UTF-8
])
def test_a_file_that_cannot_be_read_is_named(tmp_path: Path, content: bytes, error: str) -> None:
    path = tmp_path / "ONSPD.csv"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=rf"cannot read the postcode centroid file \({error}\)") as raised:
        read_centroids(path)
    assert str(path) in str(raised.value) and "places.postcode_centroids" in str(raised.value)


@pytest.mark.parametrize(("body", "error"), [
    (b'LS1 4AP,429850,433600\n"LS2 7EE,430100,434000\n', "ParserError"),  # a quote never closed
])
def test_a_body_that_is_not_csv_is_refused_by_file_not_value(tmp_path: Path, body: bytes, error: str) -> None:
    path = tmp_path / "ONSPD.csv"
    path.write_bytes(b"pcds,oseast1m,osnrth1m\n" + body)
    with pytest.raises(ConfigError, match=rf"not a well-formed CSV \({error}\)") as raised:
        read_centroids(path)
    assert "Export it again as UTF-8 CSV" in str(raised.value) and "LS2" not in str(raised.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.csv"
    with pytest.raises(ConfigError, match="the postcode centroid file does not exist") as raised:
        load_centroids(path)
    assert str(path) in str(raised.value)


def test_a_named_file_that_is_not_there_is_warned_about_and_sectors_serve(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    project = load_project(REPO / "protocols")
    project = project.model_copy(update={"places": project.places.model_copy(
        update={"postcode_centroids": "ONSPD.csv"})})
    police = load_protocol(REPO / "protocols" / "police_incidents.yaml")  # locates incidents by postcode
    with caplog.at_level(logging.WARNING, logger="ptp_pipeline.privacy.centroids"):
        assert project_centroids(tmp_path, project, police) is None
    assert f"{tmp_path / 'ONSPD.csv'}: places.postcode_centroids names no file" in caplog.text
    (tmp_path / "ONSPD.csv").write_text("pcds,oseast1m,osnrth1m\nLS1 4AP,429850,433600\n", encoding="utf-8")
    found = project_centroids(tmp_path, project, police)
    assert found is not None and found.to_dict("index") == {"LS1 4AP": {"easting": 429850.0, "northing": 433600.0}}
