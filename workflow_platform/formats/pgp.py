"""OpenPGP for files: decrypt what a courier lands, encrypt what a destination sends.

Uses pysequoia (Python bindings of Sequoia-PGP): a maintained OpenPGP implementation shipped as a wheel, so no
`gpg` binary, keyring or agent is needed, and it streams file to file. Decryption runs in a child process with a
file-size limit (RLIMIT_FSIZE): an OpenPGP message may hold compressed data, and a decompression bomb must stop at
the courier's `file.limits`, not when the disk is full. Errors say what is wrong in one line; Sequoia's own
messages (with their backtraces) are reduced to their first line and never carry file content.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import warnings
from pathlib import Path

ENCRYPTED_SUFFIXES = (".pgp", ".gpg")
KEY_PROBLEM = 3  # the decryption child's exit code when the key or its passphrase cannot be used
SEQUOIA_ERRORS = (RuntimeError, ValueError, TypeError, OSError)  # what pysequoia raises for bad keys and data


class PgpError(Exception):
    """A key or message that cannot be used; the message names the problem, never a key or the file's content."""


def _sequoia():
    import pysequoia  # imported when used: the code location never needs it to load

    return pysequoia


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def public_key_problem(text: str) -> str | None:
    """Why `text` cannot be a recipient's public key (None when it can): not an OpenPGP key, a secret key (which
    must never sit in a catalog), or a revoked key. (A key without an encryption subkey, or expired, fails when
    a send encrypts to it.)"""
    ps = _sequoia()
    try:
        cert = ps.Cert.from_bytes(text.encode())
    except SEQUOIA_ERRORS as exc:
        return f"not an OpenPGP public key ({_first_line(exc)})"
    with warnings.catch_warnings():  # pysequoia steers secret keys to Tsk, which also parses public ones
        warnings.simplefilter("ignore", DeprecationWarning)
        secret = cert.has_secret_keys
    if secret:
        return "this is a secret (private) key; give the recipient's public key, never a private one"
    if cert.is_revoked:
        return "the key is revoked"
    return None


def encrypt_file(source: Path, target: Path, public_key: str) -> None:
    """Encrypt `source` to `target` (binary OpenPGP) for the holder of `public_key`."""
    ps = _sequoia()
    try:
        ps.encrypt_file(str(source), str(target), recipients=[ps.Cert.from_bytes(public_key.encode())], armor=False)
    except SEQUOIA_ERRORS as exc:
        target.unlink(missing_ok=True)
        raise PgpError(f"cannot encrypt to the destination's public key: {_first_line(exc)}") from exc


def decrypt_file(source: Path, target: Path, secret_key: str, passphrase: str | None, max_bytes: int) -> int:
    """Decrypt `source` into `target` with `secret_key` (armored or binary text), writing at most `max_bytes`;
    returns the plaintext size. Raises PgpKeyError (the key or passphrase cannot be used), PgpError (the file is
    not encrypted to the key, not an OpenPGP message, damaged) or PlaintextTooLarge. The key and passphrase reach
    the child through a pipe, never its arguments."""
    request = json.dumps({"source": str(source), "target": str(target), "key": secret_key,
                          "passphrase": passphrase, "max_bytes": max_bytes})
    child = subprocess.run([sys.executable, "-m", "workflow_platform.formats.pgp"], input=request.encode(),
                           capture_output=True, check=False, timeout=None)
    if child.returncode == -signal.SIGXFSZ or (target.exists() and target.stat().st_size >= max_bytes):
        target.unlink(missing_ok=True)
        raise PlaintextTooLarge(max_bytes)
    if child.returncode != 0:
        target.unlink(missing_ok=True)
        reason = child.stderr.decode(errors="replace").strip().splitlines()
        message = reason[-1][:300] if reason else f"the decryption process exited with {child.returncode}"
        raise (PgpKeyError if child.returncode == KEY_PROBLEM else PgpError)(message)
    return target.stat().st_size


class PgpKeyError(PgpError):
    """The secret key (or its passphrase) cannot be used: the operator's setting, not the file, is wrong."""


class PlaintextTooLarge(PgpError):
    """The decrypted file would be larger than allowed (a compressed OpenPGP message can be a bomb)."""

    def __init__(self, max_bytes: int):
        super().__init__(f"decrypts to {max_bytes:,} bytes or more")
        self.max_bytes = max_bytes


def _child() -> int:
    """The decryption child: one request on stdin, the plaintext written under RLIMIT_FSIZE."""
    request = json.loads(sys.stdin.read())
    _no_core_dumps()  # the key is in this process's memory
    resource.setrlimit(resource.RLIMIT_FSIZE, (request["max_bytes"], request["max_bytes"]))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit a write fails (EFBIG); the parent sees the size
    ps = _sequoia()
    try:
        key = ps.Tsk.from_bytes(request["key"].encode())
    except SEQUOIA_ERRORS as exc:
        print(f"the secret key is not an OpenPGP secret key ({_first_line(exc)})", file=sys.stderr)
        return KEY_PROBLEM
    try:
        decryptor = key.decryptor(request["passphrase"]) if request["passphrase"] else key.decryptor()
        ps.decrypt_file(request["source"], request["target"], decryptor=decryptor)
    except SEQUOIA_ERRORS as exc:
        detail, whole = _first_line(exc), str(exc)  # the whole text (a backtrace) only to tell the cases apart
        if "No key to decrypt" in detail:
            print("the file is not encrypted to this key", file=sys.stderr)
            return 2
        if "secret key material is encrypted" in whole or "SecretKeyMaterial" in whole:
            print("the key's passphrase is wrong or missing", file=sys.stderr)  # it unlocked no key material
            return KEY_PROBLEM
        print(f"not a readable OpenPGP message ({detail})", file=sys.stderr)
        return 2
    return 0


def _no_core_dumps() -> None:
    """No core file and no ptrace-readable memory for a process that holds a secret key (Linux; elsewhere only
    the core-size limit)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4, off


if __name__ == "__main__":
    os.umask(0o077)  # the plaintext is readable by this user only
    raise SystemExit(_child())
