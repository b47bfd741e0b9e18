"""The messages between a sweep's jobs and its main process: signed, and read as data.

cluster_utils 3.0's jobs send their news (started, results, error, exit for resume,
progress) to the main process as UDP datagrams holding a pickle, and its server unpickles
whatever arrives on its port. The address and port are on every job's command line,
visible to every user of the machine in ``ps``: anyone could send a pickle that runs code
as the user who runs the sweep.

Sweeps started by the launcher (``python -m learning.sweep``) use this protocol instead:

- the launcher makes a per-sweep secret (:func:`create_secret`): 32 random bytes in a
  file only its owner can read, in a private folder (``~/.cache/lttfs/sweeps``, mode
  0700; the home folder is where a cluster's compute nodes see the same files), and
  names the *file* in the environment variable ``LTTFS_SWEEP_SECRET_FILE``, which its
  jobs inherit (locally, and through sbatch's default ``--export=ALL``). The secret is
  never on a command line;
- a job (:func:`sign_job_messages`) reads it, checking that the file is its own and
  private, and sends each message as ``MAGIC + HMAC-SHA256(secret, MAGIC + body) +
  body``, with ``body`` the message as JSON (``{"type": <int>, "message": [...]}``);
- the server (:func:`read_message`) checks the MAC in constant time and parses the body
  with ``json.loads``: nothing in a datagram is evaluated or unpickled. A datagram that
  fails is dropped (the launcher logs the first one and counts the rest).

Not defended: a replay of a datagram captured from the network (a job's own message sent
again, which the server can already receive twice over UDP), and a user who can read
the owner's files (root, or the owner's own account).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import socket
import stat
import sys
from pathlib import Path
from typing import Any

from learning.numpy_scalars import without_numpy_scalars

SECRET_FILE_VARIABLE = "LTTFS_SWEEP_SECRET_FILE"
MAGIC = b"LTTFS-MSG/1\n"
MAC_SIZE = hashlib.sha256().digest_size
SECRET_BYTES = 32
#: cluster_utils' MessageTypes values (JOB_STARTED .. METRIC_EARLY_REPORT)
MESSAGE_TYPES = range(7)


class MessageError(Exception):
    """A secret file that cannot be used, or a datagram that is not a signed message."""


def secrets_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "lttfs" / "sweeps"


def _private_folder(folder: Path) -> Path:
    """``folder`` (made 0700 if new), refused unless it is our own private directory."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise MessageError(f"{folder}: not a private folder of this user (owner uid"
                           f" {info.st_uid}, mode {stat.filemode(info.st_mode)}); remove it"
                           " or make it yours with mode 0700")
    return folder


def secret_path(name: str) -> Path:
    """Where the secret of the sweep ``name`` (its guard tag) is kept."""
    return secrets_folder() / f"{name}.key"


def create_secret(name: str) -> Path:
    """A new secret in a private file ``<secrets folder>/<name>.key``; returns its path."""
    _private_folder(secrets_folder())
    path = secret_path(name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(SECRET_BYTES) + "\n")
    return path


def read_secret(path: str | Path) -> bytes:
    """The secret in ``path``, refused unless the file is ours and private."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise MessageError(f"cannot read the sweep's secret file {path} ({e.strerror});"
                           f" jobs must see the launcher's home folder ({SECRET_FILE_VARIABLE})"
                           ) from e
    with os.fdopen(fd) as f:
        info = os.fstat(f.fileno())
        if (not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid()
                or info.st_mode & 0o077):
            raise MessageError(f"{path}: the sweep's secret file is not a private file of"
                               " this user; refusing to use it")
        text = f.read().strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) != SECRET_BYTES:
        raise MessageError(f"{path}: not a sweep secret ({SECRET_BYTES} bytes as hex)")
    return secret


def encode_message(secret: bytes, message_type: int, message: Any) -> bytes:
    body = json.dumps({"type": int(message_type),
                       "message": without_numpy_scalars(message)}).encode()
    mac = hmac.new(secret, MAGIC + body, hashlib.sha256).digest()
    return MAGIC + mac + body


def read_message(secret: bytes, data: bytes) -> tuple[int, tuple]:
    """(message type, message) of a signed datagram; MessageError if it is not one."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + MAC_SIZE:
        raise MessageError("not a signed message of this sweep")
    mac, body = data[len(MAGIC):len(MAGIC) + MAC_SIZE], data[len(MAGIC) + MAC_SIZE:]
    if not hmac.compare_digest(mac, hmac.new(secret, MAGIC + body, hashlib.sha256).digest()):
        raise MessageError("wrong signature")
    try:
        decoded = json.loads(body)
    except ValueError as e:
        raise MessageError(f"signed but not JSON ({e})") from e
    kind = decoded.get("type") if isinstance(decoded, dict) else None
    message = decoded.get("message") if isinstance(decoded, dict) else None
    if (not isinstance(kind, int) or isinstance(kind, bool) or kind not in MESSAGE_TYPES
            or not isinstance(message, list) or not message
            or not isinstance(message[0], int) or isinstance(message[0], bool)):
        raise MessageError("signed, but not a message of cluster_utils' kinds")
    return kind, tuple(message)


def sign_job_messages() -> bool:
    """In a job started by the launcher: send cluster_utils' messages signed (replaces
    ``cluster_utils.client.server_communication.send_message``). Returns False (and
    changes nothing) in a job of a sweep that cluster_utils started itself."""
    path = os.environ.get(SECRET_FILE_VARIABLE)
    if not path:
        return False
    secret = read_secret(path)
    from cluster_utils.client import server_communication, submission_state

    def send_message(message_type: int, message: Any) -> None:
        data = encode_message(secret, message_type, message)
        address = (submission_state.communication_server_ip,
                   submission_state.communication_server_port)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(10)
                sock.sendto(data, address)
        except OSError as e:
            print(f"ERROR: failed to send message {message_type} to the sweep at"
                  f" {address[0]}:{address[1]} ({e})", file=sys.stderr)

    server_communication.send_message = send_message
    return True
