"""Real servers on loopback for the pull tests: OpenSSH sshd, MariaDB, PostgreSQL, a local HTTP API.

Fixtures are registered by tests/pull/conftest.py. Each starts or creates its own throwaway server or
database and removes it afterwards. Nothing is skipped: a missing server fails the test with what to run.
"""

from __future__ import annotations

import getpass
import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SSHD = Path("/usr/sbin/sshd")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class Sshd:
    port: int
    host_key: str  # "ssh-ed25519 AAAA..." as the connection's host_key extra wants it
    user_key: Path
    user: str

    def conn_json(self) -> str:
        return json.dumps({"conn_type": "sftp", "host": "127.0.0.1", "port": self.port, "login": self.user,
                           "extra": {"key_file": str(self.user_key), "host_key": self.host_key,
                                     "look_for_keys": "false"}})


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A real OpenSSH sshd on 127.0.0.1, a free port, a throwaway host key and user key; stopped after."""
    assert SSHD.exists(), "OpenSSH server missing: run `make test` (it installs Debian's openssh-server)"
    root = tmp_path_factory.mktemp("sshd")
    for name in ("host", "user"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)], check=True)
    shutil.copy(root / "user.pub", root / "authorized_keys")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    port = free_port()
    user = getpass.getuser()
    (root / "sshd_config").write_text("\n".join([
        "ListenAddress 127.0.0.1", f"HostKey {root / 'host'}", f"PidFile {root / 'sshd.pid'}",
        f"AuthorizedKeysFile {root / 'authorized_keys'}", "PubkeyAuthentication yes",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
        "PermitRootLogin prohibit-password", f"AllowUsers {user}", "Subsystem sftp internal-sftp", "",
    ]))
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(root / "sshd_config"), "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc)
        host_key = " ".join((root / "host.pub").read_text().split()[:2])
        yield Sshd(port, host_key, root / "user", user)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class PartnerDb:
    kind: str  # mysql | postgres
    name: str
    reader: str  # a login granted SELECT on the protocol's columns only

    def conn_json(self, login: str | None = None, password: str | None = None) -> str:
        port = 3306 if self.kind == "mysql" else 5432
        conn = {"conn_type": self.kind, "host": "127.0.0.1", "port": port, "schema": self.name,
                "login": login or self.reader}
        if password is not None:
            conn["password"] = password
        elif self.kind == "mysql":
            conn["password"] = READER_PASSWORD
        return json.dumps(conn)


READER_PASSWORD = "reader-" + uuid.uuid4().hex[:12]


def _mysql(sql: str, database: str | None = None) -> None:
    import MySQLdb

    conn = MySQLdb.connect(host="127.0.0.1", port=3306, user="root", password="", database=database or "",
                           autocommit=True)
    try:
        cur = conn.cursor()
        for statement in filter(None, (s.strip() for s in sql.split(";\n"))):
            cur.execute(statement)
    finally:
        conn.close()


def _postgres(sql: str, database: str = "postgres") -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname=database, autocommit=True) as conn:
        for statement in filter(None, (s.strip() for s in sql.split(";\n"))):
            conn.execute(statement)  # type: ignore[call-overload]


ALLOWED = ["client_ref", "nhs_number", "forename", "surname", "date_of_birth", "postcode", "address_line1", "uprn",
           "address_type", "address_from", "sex", "contact_date", "service", "unit_cost"]


def _table_sql(quote: str) -> str:
    cols = ", ".join(f"{quote}{c}{quote} VARCHAR(200)" for c in ALLOWED if c != "contact_date")
    return f"CREATE TABLE contacts ({cols}, contact_date DATE NOT NULL, social_worker_notes VARCHAR(400))"


@pytest.fixture(params=["mysql", "postgres"])
def partner_db(request: pytest.FixtureRequest) -> Iterator[PartnerDb]:
    """The partner's reporting database, in MariaDB or PostgreSQL on loopback; dropped afterwards."""
    kind: str = request.param
    name = f"ptp_partner_{uuid.uuid4().hex[:10]}"
    reader = f"ptp_reader_{uuid.uuid4().hex[:8]}"
    grant = ", ".join(ALLOWED)
    if kind == "mysql":
        _mysql(f"CREATE DATABASE {name}")
        _mysql(_table_sql("`") + f";\nCREATE USER '{reader}'@'%' IDENTIFIED BY '{READER_PASSWORD}';\n"
               f"GRANT SELECT ({grant}) ON {name}.contacts TO '{reader}'@'%'", database=name)
        try:
            yield PartnerDb(kind, name, reader)
        finally:
            _mysql(f"DROP DATABASE IF EXISTS {name};\nDROP USER IF EXISTS '{reader}'@'%'")
    else:
        _postgres(f"CREATE DATABASE {name};\nCREATE ROLE {reader} LOGIN")
        _postgres(_table_sql('"') + f";\nGRANT SELECT ({grant}) ON contacts TO {reader}", database=name)
        try:
            yield PartnerDb(kind, name, reader)
        finally:
            _postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE);\nDROP ROLE IF EXISTS {reader}")


def insert_rows(db: PartnerDb, rows: list[dict[str, object]]) -> None:
    """Load rows as the partner's system would (the disallowed column filled in too)."""
    cols = [*ALLOWED, "social_worker_notes"]
    values = [tuple(r.get(c) for c in cols) for r in rows]
    placeholders = ", ".join(["%s"] * len(cols))
    names = ", ".join(cols)
    if db.kind == "mysql":
        import MySQLdb

        conn = MySQLdb.connect(host="127.0.0.1", port=3306, user="root", password="", database=db.name)
        try:
            conn.cursor().executemany(f"INSERT INTO contacts ({names}) VALUES ({placeholders})", values)
            conn.commit()
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname=db.name) as pg:
            pg.cursor().executemany(f"INSERT INTO contacts ({names}) VALUES ({placeholders})", values)  # type: ignore[arg-type]


def write_protocol_with_source(dest: Path, dataset_file: str, source_yaml: str) -> Path:
    """A copy of the repo's protocols where one protocol gains a source: block."""
    shutil.copytree(REPO / "protocols", dest)
    path = dest / dataset_file
    path.write_text(path.read_text().rstrip("\n") + "\n" + source_yaml.strip("\n") + "\n")
    return dest
