"""docker-compose.yml: valid against the Compose specification, mounts that exist, no committed secrets."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "tests" / "data" / "compose-spec.schema.json"  # Apache-2.0, see tests/data/README.md
AIRFLOW_SERVICES = {"airflow-init", "api-server", "scheduler", "dag-processor", "triggerer", "worker"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any],
                                                        validator: jsonschema.Draft7Validator) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []
    broken = copy.deepcopy(compose)
    broken["services"]["redis"]["healthcheck"]["interval"] = {"seconds": 10}
    assert list(validator.iter_errors(broken)), "the schema check must be able to fail"


def test_stack_has_every_service_on_celery(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == AIRFLOW_SERVICES | {"postgres", "redis", "ptp-init", "sftp"}
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://"), name
        assert "postgresql://" in env["PTP_WAREHOUSE"], name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://"), name
        assert "/opt/ptp/config" in env["PYTHONPATH"].split(":"), name  # the cluster policy
    assert "ptp_warehouse_writer" in services["airflow-init"]["command"]


def test_volumes_keys_and_logs_belong_to_the_airflow_user(compose: dict[str, Any]) -> None:
    """The image runs as uid 50000: a root-run init gives it the data and log volumes, and copies the key
    (host-owned, 0600, unreadable to that user as a bind-mounted secret) and a .pgpass it can read."""
    services = compose["services"]
    init = services["ptp-init"]
    assert init["user"] == "0:0" and init["restart"] == "no"
    script = "\n".join(init["command"])
    for line in ("install -o 50000 -g 0 -m 0400 /run/secrets/ptp_project_key /run/ptp-keys/project.key",
                 "chown 50000:0 /run/ptp-keys/pgpass", "umask 077"):
        assert line in script
    assert re.search(r"find /var/lib/ptp /opt/airflow/logs .*chown 50000:0", script)
    assert services["airflow-init"]["depends_on"]["ptp-init"] == {"condition": "service_completed_successfully"}
    for name in AIRFLOW_SERVICES:
        service = services[name]
        env = service["environment"]
        assert env["PTP_KEY_FILE"] == "/run/ptp-keys/project.key", name
        assert env["PGPASSFILE"] == "/run/ptp-keys/pgpass", name
        assert "ptp-keys:/run/ptp-keys:ro" in service["volumes"], name
        assert "airflow-logs:/opt/airflow/logs" in service["volumes"], name  # task logs survive a restart
        assert "secrets" not in service, name  # the key reaches Airflow only through ptp-init's copy
    for name in ("scheduler", "triggerer", "worker"):  # logs are on the shared volume: no log server
        assert "--skip-serve-logs" in services[name]["command"], name
    assert set(compose["volumes"]) >= {"ptp-home", "airflow-logs", "ptp-keys", "postgres-data"}


def test_no_password_in_any_database_url(compose: dict[str, Any]) -> None:
    env = compose["x-airflow-env"]
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND", "PTP_WAREHOUSE"):
        assert re.search(r"://[^:@/]+@postgres:5432/", env[key]), key  # user@host: the password is in PGPASSFILE
    init_sql = (REPO / "config" / "postgres-init" / "01-warehouse.sh").read_text()
    assert re.search(r"CREATE ROLE ptp LOGIN CREATEROLE", init_sql)  # the warehouse creates its group roles


def test_partners_deliver_over_sftp_into_landing(compose: dict[str, Any]) -> None:
    sftp = compose["services"]["sftp"]
    users = [line.split(":") for line in (REPO / "config" / "sftp" / "users.conf").read_text().splitlines()
             if line and not line.startswith("#")]
    assert users and all(password == "" and gid == "0" for _, password, _, gid in users)  # key login only
    mounts = {v["target"]: v for v in sftp["volumes"] if isinstance(v, dict)}
    for user, *_ in users:
        mount = mounts[f"/home/{user}/landing"]
        assert (mount["source"], mount["volume"]["subpath"]) == ("ptp-home", f"landing/{user}")
        assert any(isinstance(v, str) and v.endswith(f":/home/{user}/.ssh/keys/{user}.pub:ro") for v in sftp["volumes"])
        assert any(folder.startswith(f"{user}/") for folder in
                   compose["services"]["ptp-init"]["environment"]["PTP_LANDING_FOLDERS"].split(":-", 1)[1]
                   .rstrip("}").split())
    assert sftp["depends_on"]["ptp-init"] == {"condition": "service_completed_successfully"}


def test_every_mounted_path_exists(compose: dict[str, Any]) -> None:
    sources = []
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")):
                sources.append((name, source))
        build = service.get("build")
        if build:
            sources += [(name, build["context"]), (name, str(Path(build["context"]) / build["dockerfile"]))]
    assert sources, "the project must be mounted"
    missing = [(name, s) for name, s in sources if not (REPO / s).exists()]
    assert missing == []
    assert ("scheduler", "./") in sources


def _strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(node, dict):
        return [x for k, v in node.items() for x in _strings(v, f"{path}/{k}")]
    if isinstance(node, list):
        return [x for i, v in enumerate(node) for x in _strings(v, f"{path}/{i}")]
    return [(path, str(node))] if isinstance(node, str) else []


def _literal_secrets(compose: dict[str, Any]) -> list[str]:
    problems = []
    for path, value in _strings(compose):
        leaf = path.rsplit("/", 1)[-1]
        if re.search(r"PASSWORD|SECRET|FERNET", leaf) and not re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", value):
            problems.append(path)
        for userinfo in re.findall(r"://([^@/]*)@", value):
            if ":" in userinfo and not re.search(r":\$\{[A-Z_]+:\?[^}]*\}$", userinfo):
                problems.append(path)
    return problems


def test_secrets_come_from_the_environment(compose: dict[str, Any]) -> None:
    """Every password, secret or key is a required ${VAR:?} reference; URLs carry no literal password."""
    assert _literal_secrets(compose) == []
    assert _literal_secrets({"x": {"A": "postgresql://u:hunter2@db/x", "POSTGRES_PASSWORD": "hunter2",
                                   "B": "redis://:${P:?set P}@r/0"}}) == ["/x/A", "/x/POSTGRES_PASSWORD"]
    assert compose["secrets"]["ptp_project_key"]["file"].startswith("${PTP_PROJECT_KEY_FILE:?")
