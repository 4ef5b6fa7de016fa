"""Re-identification vault: identifiers sealed per extract, openable only by a named re-identifier.

Envelope encryption: each extract's identifier columns (as received, plus the parsed date of birth)
are written as Parquet and encrypted with AES-256-GCM under a fresh data key; the data key is
wrapped with the re-identification RSA-OAEP public key. The pipeline holds only the public key, so
it can seal but never open: opening needs the private key, which only the re-identifier holds. The
extract id is bound as associated data, so a sealed blob cannot be swapped to another extract.
One encryption per extract keeps the hot path vectorised; re-identification (rare, audited)
decrypts the extracts holding one person's records.
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ptp_pipeline.errors import KeyMaterialError, PtpUserError

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


def write_sealed(sealed: Sealed, path: Path) -> None:
    """Sealed blobs are safe at rest; still kept in the restricted work area only."""
    path.write_bytes(sealed_bytes(sealed))


def read_sealed(path: Path) -> Sealed:
    return sealed_from_bytes(path.read_bytes())


class ReidentificationRefused(PtpUserError):
    code = "PTP510"
    title = "Re-identification refused"
    hint = "Re-identification needs a stated purpose, the re-identification key and a known person id."
    exit_code = 5
