"""Pull files from a partner's SFTP server with the Airflow SFTP provider's hook."""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import posixpath
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ptp_pipeline.protocol.model import Protocol
from ptp_pipeline.protocol.source import SftpSource
from ptp_pipeline.pull import records
from ptp_pipeline.pull.connection import get_connection, refused
from ptp_pipeline.pull.errors import SourceError, TransferChanged
from ptp_pipeline.pull.land import Pulled, commit, incoming, safe_name
from ptp_pipeline.pull.retry import Transient
from ptp_pipeline.runtime import Runtime

CHUNK = 1 << 20
Progress = Callable[[str, int], None]


def _connect(conn_id: str) -> Any:
    import paramiko
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    logging.getLogger("paramiko").setLevel(logging.WARNING)  # its INFO lines name hosts and users: not needed

    get_connection(conn_id)  # a clear message when it is not defined
    try:
        hook = SFTPHook(ssh_conn_id=conn_id, conn_retry_attempts=1)
        return hook, hook.get_conn()
    except paramiko.AuthenticationException:
        raise refused(conn_id, "the SFTP server") from None
    except paramiko.BadHostKeyException:
        raise SourceError(f"the SFTP server of connection '{conn_id}' did not show the expected host key",
                          hint="Operations: confirm the server's host key with the partner, then update the "
                               "connection's host_key extra. Never turn host key checking off.") from None
    except (OSError, EOFError, paramiko.SSHException) as exc:
        raise Transient(f"cannot reach the SFTP server ({type(exc).__name__})") from None


def _fetch(rt: Runtime, protocol: Protocol, src: SftpSource, sftp: Any, name: str, attr: Any,
           on_progress: Progress | None) -> Path:
    partner, dataset = protocol.key
    remote = posixpath.join(src.folder, name)
    with incoming(rt, partner, dataset) as inc:
        try:
            with sftp.open(remote, "rb") as fh:
                fh.prefetch(attr.st_size)
                while block := fh.read(CHUNK):
                    inc.write(block)
                    if on_progress:
                        on_progress(remote, inc.size)
            after = sftp.stat(remote)
        except FileNotFoundError:
            raise TransferChanged(f"'{remote}' vanished from the SFTP server of connection '{src.conn_id}' "
                                  "during the transfer; nothing was landed",
                                  hint="Pull again once the partner has finished publishing the file.") from None
        if (after.st_size, after.st_mtime) != (attr.st_size, attr.st_mtime):
            raise TransferChanged(f"'{remote}' on the SFTP server of connection '{src.conn_id}' changed during "
                                  "the transfer; nothing was landed",
                                  hint="Pull again once the partner has finished writing the file.")
        identity = f"{remote}|{attr.st_size}|{int(attr.st_mtime)}|{inc.sha256}"
        rec = records.PullRecord(pull_id="sftp-" + hashlib.sha256(identity.encode()).hexdigest()[:24], partner=partner,
                                 dataset=dataset, kind="sftp", conn_id=src.conn_id, remote=remote,
                                 file_name=safe_name(name), sha256=inc.sha256, remote_size=int(attr.st_size),
                                 remote_mtime=int(attr.st_mtime))
        return commit(rt, inc, rec, expected_size=int(attr.st_size))


def _after(src: SftpSource, sftp: Any, name: str) -> None:
    remote = posixpath.join(src.folder, name)
    try:
        if src.after == "move" and src.move_to:
            try:
                sftp.stat(src.move_to)
            except FileNotFoundError:
                sftp.mkdir(src.move_to)
            sftp.posix_rename(remote, posixpath.join(src.move_to, name))
        elif src.after == "delete":
            sftp.remove(remote)
    except OSError as exc:
        raise SourceError(f"'{remote}' was landed, but '{src.after}' on the SFTP server of connection "
                          f"'{src.conn_id}' failed ({type(exc).__name__})",
                          hint="Check the connection's write rights on the partner's folder; the next pull "
                               "tries again and lands nothing twice.") from None


def pull_sftp(rt: Runtime, protocol: Protocol, src: SftpSource, *, dry_run: bool = False,
              on_progress: Progress | None = None) -> Pulled:
    """One pass: list the folder, fetch each matching file not pulled before, then leave/move/delete it."""
    partner, dataset = protocol.key
    hook, sftp = _connect(src.conn_id)
    result = Pulled()
    try:
        try:
            listing = sftp.listdir_attr(src.folder)
        except FileNotFoundError:
            raise SourceError(f"folder '{src.folder}' does not exist on the SFTP server of connection "
                              f"'{src.conn_id}'",
                              hint="Check source.folder in the protocol with the partner.") from None
        except OSError as exc:
            raise Transient(f"listing the folder failed ({type(exc).__name__})") from None
        files = sorted((a for a in listing
                        if stat.S_ISREG(a.st_mode or 0) and fnmatch.fnmatch(a.filename, src.pattern)),
                       key=lambda a: a.filename)
        for attr in files:
            remote = posixpath.join(src.folder, attr.filename)
            if records.seen_remote(rt.warehouse, partner, dataset, remote, int(attr.st_size), int(attr.st_mtime)):
                result.skipped.append(remote)
                if not dry_run:
                    _after(src, sftp, attr.filename)
                continue
            if dry_run:
                result.planned.append(f"{remote} ({attr.st_size:,} bytes)")
                continue
            try:
                path = _fetch(rt, protocol, src, sftp, attr.filename, attr, on_progress)
            except (EOFError, TimeoutError, ConnectionError) as exc:
                raise Transient(f"the transfer of '{remote}' broke off ({type(exc).__name__})") from None
            result.landed.append(path)
            _after(src, sftp, attr.filename)
    finally:
        hook.close_conn()
        if hook.client is not None:
            hook.client.close()
    return result
