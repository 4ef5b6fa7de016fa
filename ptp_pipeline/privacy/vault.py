"""Re-identification vault: identifiers sealed per record, openable only by a named re-identifier.

Envelope encryption per record (`seal_records`): each record's identifier fields (as checked; dates as
ISO text) are encrypted with AES-256-GCM under a fresh data key of its own, and that key is wrapped with
the re-identification RSA-OAEP public key. The pipeline holds only the public key, so it can seal but
never open: opening needs the private key, which only the re-identifier holds. Extract id and row are
bound as associated data, so a sealed record cannot be swapped to another. Because every record has its
own key, opening one person's records (the audited route hands out only those, `restricted.vault_record`)
opens no one else's. The cost is one RSA wrap per record (about 35 µs) when sealing and one unwrap (about
0.6 ms) per record opened: fine for re-identification, minutes for a key rotation of a million records.

`seal` / `unseal` (one blob for a whole frame) remain for the opt-out lists kept for key rotation, and to
read extracts sealed whole before per-record sealing (`restricted.vault`).
"""

from __future__ import annotations

import base64
import io
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ptp_pipeline.errors import KeyMaterialError, PtpUserError
from ptp_pipeline.extract.read import SOURCE_ROW
from ptp_pipeline.warehouse.base import Warehouse

_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


@dataclass(frozen=True)
class Sealed:
    key_id: str
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes


def new_reid_keypair(private_path: Path, public_path: Path) -> None:
    """RSA-3072 key pair: the private half (0600) for the re-identifier, the public half for the pipeline."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    public_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))


def _key_id(public: rsa.RSAPublicKey) -> str:
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return digest.finalize().hex()[:16]


def load_public_key(path: Path) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyMaterialError(f"{path} is not an RSA public key")
    return key


def load_private_key(path: Path | None) -> rsa.RSAPrivateKey:
    """The re-identifier's key; refuses a missing file or one other users can read."""
    if path is None or not path.exists():
        raise KeyMaterialError(
            "re-identification needs the re-identification private key, and none is configured",
            hint="Only a named, authorised re-identifier holds this key: set PTP_REID_KEY_FILE to its path.",
        )
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyMaterialError(f"re-identification key {path} can be read by other users",
                               hint=f"Run `chmod 600 {path}`.")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyMaterialError(f"{path} is not an RSA private key")
    return key


def seal(frame: pd.DataFrame, public: rsa.RSAPublicKey, extract_id: str) -> Sealed:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    ciphertext = AESGCM(data_key).encrypt(nonce, buffer.getvalue(), extract_id.encode())
    return Sealed(_key_id(public), public.encrypt(data_key, _OAEP), nonce, ciphertext)


def unseal(sealed: Sealed, private: rsa.RSAPrivateKey, extract_id: str) -> pd.DataFrame:
    if sealed.key_id != _key_id(private.public_key()):
        raise KeyMaterialError(
            f"extract {extract_id} was sealed for re-identification key {sealed.key_id}, not this one",
            hint="Use the re-identification key that was in force when the extract was received.",
        )
    data_key = private.decrypt(sealed.wrapped_key, _OAEP)
    plain = AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, extract_id.encode())
    return pd.read_parquet(io.BytesIO(plain))


def sealed_bytes(sealed: Sealed) -> bytes:
    """The one on-disk form of a sealed blob (vault copies, priority-families batch files)."""
    header = f"{sealed.key_id}\n{len(sealed.wrapped_key)}\n{len(sealed.nonce)}\n".encode()
    return header + sealed.wrapped_key + sealed.nonce + sealed.ciphertext


def sealed_from_bytes(raw: bytes) -> Sealed:
    key_id, n_wrapped, n_nonce, rest = raw.split(b"\n", 3)
    w, n = int(n_wrapped), int(n_nonce)
    return Sealed(key_id.decode(), rest[:w], rest[w:w + n], rest[w + n:])
RECORD_COLUMNS = ("source_row", "key_id", "wrapped_key", "nonce", "ciphertext")


# Bulk loads go through text (PostgreSQL's COPY cannot take raw bytes in CSV): base64 there, bytes stored.
_FROM_BASE64 = {"duckdb": "from_base64({})", "postgresql": "decode({}, 'base64')"}


def seal_records(frame: pd.DataFrame, public: rsa.RSAPublicKey, extract_id: str) -> pd.DataFrame:
    """One sealed record per row of `frame` (SOURCE_ROW plus text fields), each under its own data key."""
    key_id = _key_id(public)
    fields = [c for c in frame.columns if c != SOURCE_ROW]
    values = frame[fields].astype(object).where(frame[fields].notna(), None)
    rows: list[tuple[int, str, bytes, bytes, bytes]] = []
    for source_row, record in zip(frame[SOURCE_ROW].astype("int64"), values.itertuples(index=False, name=None),
                                  strict=True):
        data_key, nonce = AESGCM.generate_key(bit_length=256), os.urandom(12)
        plain = json.dumps(dict(zip(fields, record, strict=True)), separators=(",", ":")).encode()
        ciphertext = AESGCM(data_key).encrypt(nonce, plain, f"{extract_id}:{source_row}".encode())
        rows.append((int(source_row), key_id, public.encrypt(data_key, _OAEP), nonce, ciphertext))
    return pd.DataFrame(rows, columns=list(RECORD_COLUMNS))


def unseal_records(sealed: pd.DataFrame, private: rsa.RSAPrivateKey, extract_id: str) -> pd.DataFrame:
    """The identifiers of the given sealed records (RECORD_COLUMNS), one row each, with SOURCE_ROW."""
    mine = _key_id(private.public_key())
    records = []
    for r in sealed.itertuples(index=False):
        if r.key_id != mine:
            raise KeyMaterialError(
                f"extract {extract_id} was sealed for re-identification key {r.key_id}, not this one",
                hint="Use the re-identification key that was in force when the extract was received.")
        data_key = private.decrypt(bytes(r.wrapped_key), _OAEP)
        bound = f"{extract_id}:{int(r.source_row)}".encode()
        plain = AESGCM(data_key).decrypt(bytes(r.nonce), bytes(r.ciphertext), bound)
        records.append({SOURCE_ROW: int(r.source_row), **json.loads(plain)})
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        return pd.DataFrame({SOURCE_ROW: pd.Series(dtype="int64")})
    fields = [c for c in frame.columns if c != SOURCE_ROW]
    return frame.astype({SOURCE_ROW: "int64", **dict.fromkeys(fields, "string")})


def write_sealed_records(sealed: pd.DataFrame, path: Path) -> None:
    """Sealed records are safe at rest; still kept in the restricted work area only until the merge."""
    sealed.to_parquet(path, index=False)


def store_sealed(wh: Warehouse, extract_id: str, path: Path) -> None:
    """The merge's step: replace the extract's sealed records (if it was sealed) in `restricted.vault_record`."""
    wh.execute("DELETE FROM restricted.vault_record WHERE extract_id = ?", (extract_id,))
    wh.execute("DELETE FROM restricted.vault WHERE extract_id = ?", (extract_id,))
    if not path.exists():
        return
    sealed = pd.read_parquet(path)
    binary = ("wrapped_key", "nonce", "ciphertext")
    for col in binary:
        sealed[col] = [base64.b64encode(bytes(v)).decode("ascii") for v in sealed[col]]
    wh.execute("CREATE TEMP TABLE IF NOT EXISTS _ptp_sealed (extract_id VARCHAR, source_row BIGINT, key_id VARCHAR, "
               "wrapped_key VARCHAR, nonce VARCHAR, ciphertext VARCHAR)")
    wh.execute("DELETE FROM _ptp_sealed")
    wh.insert_frame("_ptp_sealed", sealed.assign(extract_id=extract_id)[["extract_id", *RECORD_COLUMNS]])
    decode = _FROM_BASE64[wh.dialect]
    wh.execute("INSERT INTO restricted.vault_record SELECT extract_id, source_row, key_id, "
               + ", ".join(decode.format(c) for c in binary) + " FROM _ptp_sealed")
    wh.execute("DELETE FROM _ptp_sealed")


def sealed_identifiers(wh: Warehouse, extract_id: str, private: rsa.RSAPrivateKey) -> pd.DataFrame | None:
    """Every sealed record of one extract, opened (key rotation, as the pipeline; never re-identification).

    Reads per-record sealing, or an extract sealed whole before it; None when the extract was never sealed."""
    records = wh.query("SELECT source_row, key_id, wrapped_key, nonce, ciphertext FROM restricted.vault_record "
                       "WHERE extract_id = ? ORDER BY source_row", (extract_id,))
    if not records.empty:
        return unseal_records(records, private, extract_id)
    blob = wh.query("SELECT key_id, wrapped_key, nonce, ciphertext FROM restricted.vault WHERE extract_id = ?",
                    (extract_id,))
    if blob.empty:
        return None
    b = blob.iloc[0]
    return unseal(Sealed(str(b.key_id), bytes(b.wrapped_key), bytes(b.nonce), bytes(b.ciphertext)), private,
                  extract_id)


class ReidentificationRefused(PtpUserError):
    code = "PTP510"
    title = "Re-identification refused"
    hint = "Re-identification needs a stated purpose, the re-identification key and a known person id."
    exit_code = 5
