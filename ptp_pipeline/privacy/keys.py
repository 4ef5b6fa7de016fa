"""The project pseudonymisation key: loaded, checked, fingerprinted; never logged or stored with data.

Per-purpose sub-keys are derived with HMAC (domain separation), so the same NHS number gives
unrelated tokens in two projects and in two key types of one project.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ptp_pipeline.errors import KeyMaterialError

KEY_BYTES = 32  # exactly 256 random bits
MIN_KEY_BYTES = KEY_BYTES  # kept for callers: the length is exact, not a minimum
_HEX = frozenset("0123456789abcdefABCDEF")
_KEY_HINT = ("The project key must be exactly 256 random bits, written as 64 hex characters or as base64 of 32 "
             "bytes, never a password or passphrase: generate one with `ptp key new FILE` and give it to the "
             "pipeline only.")


@dataclass(frozen=True)
class ProjectKey:
    """Key material for one project. `repr` never shows the secret."""

    project_id: str
    _secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self._secret) != KEY_BYTES:
            raise KeyMaterialError(
                f"the project key is {len(self._secret) * 8} bits; exactly {KEY_BYTES * 8} are required",
                hint=_KEY_HINT,
            )

    @property
    def key_id(self) -> str:
        """Public fingerprint recorded with every extract; reveals nothing about the key."""
        return hmac.new(self._secret, b"ptp/v1/key-id", hashlib.sha256).hexdigest()[:16]

    def subkey(self, purpose: str) -> bytes:
        """A key for one purpose (e.g. one match key) in this project only."""
        label = f"ptp/v1/{self.project_id}/{purpose}".encode()
        return hmac.new(self._secret, label, hashlib.sha256).digest()


def _decode(text: str) -> bytes:
    """64 hex characters, or base64 of exactly 32 bytes; anything else (a password, a passphrase) is refused.

    The message gives the length in bits only where the text is key-shaped, and never the text itself.
    """
    text = text.strip()
    if text and all(c in _HEX for c in text):
        if len(text) == KEY_BYTES * 2:
            return bytes.fromhex(text)
        raise KeyMaterialError(f"the project key is {len(text) * 4} bits ({len(text)} hex characters); exactly "
                               f"{KEY_BYTES * 8} bits (64 hex characters) are required", hint=_KEY_HINT)
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise KeyMaterialError("the project key is neither 64 hex characters nor base64 text: it looks like a "
                               "password or passphrase, which is not a key", hint=_KEY_HINT) from None
    if len(raw) != KEY_BYTES:
        raise KeyMaterialError(f"the project key is base64 of {len(raw)} bytes ({len(raw) * 8} bits); exactly "
                               f"{KEY_BYTES} bytes ({KEY_BYTES * 8} bits) are required (a password written in "
                               "base64 characters is not a key)", hint=_KEY_HINT)
    return raw


def new_key_file(path: Path) -> Path:
    """Write a fresh 256-bit key as hex, readable by the owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(KEY_BYTES) + "\n")
    return path


def key_from_airflow_variable(name: str) -> str:
    """Read the key from an Airflow Variable: env `AIRFLOW_VAR_<NAME>`, a secrets backend or the metadata DB."""
    from airflow.sdk import Variable

    try:
        return str(Variable.get(name))
    except Exception:
        raise KeyMaterialError(
            f"the Airflow Variable '{name}' holding the project key could not be read",
            hint=f"Set it in the secrets backend or as AIRFLOW_VAR_{name.upper()}; check the worker can reach it.",
        ) from None


def load_key(project_id: str, *, key: str | None = None, key_file: Path | None = None) -> ProjectKey:
    """Load the key from a value (e.g. PTP_KEY or an Airflow variable) or a key file."""
    if key:
        return ProjectKey(project_id, _decode(key))
    if key_file is None:
        raise KeyMaterialError("no project key is configured")
    try:
        mode = key_file.stat().st_mode
    except FileNotFoundError:
        raise KeyMaterialError(f"key file {key_file} does not exist") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyMaterialError(
            f"key file {key_file} can be read by other users",
            hint=f"Run `chmod 600 {key_file}`: only the pipeline account may read the key.",
        )
    return ProjectKey(project_id, _decode(key_file.read_text(encoding="ascii")))
