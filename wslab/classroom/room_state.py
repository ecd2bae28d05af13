"""The room's secrets kept across restarts: the learners' token, the admin token and the join code.

A room of 40 phones holds links with the token in them, and the instructor's
open dashboard holds the admin token. If a restart made new ones, every link
and the dashboard would break. With ``wslab serve --data DIR`` the secrets are
kept in ``DIR/wslab-room.json`` (:data:`STATE_FILE`), next to the rooms' history,
and read back on the next start, so a restart keeps every link working.

Rules (:func:`keep_secrets`):

* a secret given explicitly (``--token``, ``--admin-token``) wins over the kept
  one, and is kept from then on (the banner says that it replaced one, as the
  old links stop working);
* a secret neither given nor kept is generated, and kept;
* the file is written whole to a new file created with mode 0600 (readable by
  this user alone), then renamed over the old one, so a crash never leaves half
  a file and the mode is right even for a file that had another;
* a file that cannot be read or holds something else is an error naming it,
  never silently replaced (it may be someone's real secrets).

Without ``--data`` nothing is kept, and the banner says that the tokens change
at every start.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wslab.core.admission import new_join_code, validate_join_code
from wslab.server.config import generate_token

__all__ = ["STATE_FILE", "KeptSecrets", "keep_secrets", "read_state", "write_state"]

STATE_FILE = "wslab-room.json"
"""The file in ``--data DIR`` that keeps the room's secrets."""

_VERSION = 1


@dataclass(frozen=True)
class KeptSecrets:
    """The secrets to use this run, and where each came from.

    ``origins`` maps ``"token"``, ``"admin_token"`` and ``"join_code"`` to
    ``"given"``, ``"kept"`` (read from the file) or ``"generated"``;
    ``replaced`` names the kept secrets that a given one replaced.
    """

    token: str | None
    admin_token: str
    join_code: str | None
    path: Path
    origins: dict[str, str]
    replaced: tuple[str, ...] = ()


def read_state(path: Path) -> dict[str, Any]:
    """What the state file holds ({} when there is none); :class:`ValueError` naming it when it is unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        state = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path} is not wslab serve's state file (not JSON: {exc}); move it away") from None
    if not isinstance(state, dict) or state.get("version") != _VERSION:
        raise ValueError(f"{path} is not wslab serve's state file (version {_VERSION}); move it away")
    for key in ("token", "admin_token", "join_code"):
        if state.get(key) is not None and not isinstance(state[key], str):
            raise ValueError(f"{path}: {key!r} must be text")
    return state


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically, the file readable and writable by this user only (0600)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump({"version": _VERSION, **state}, file, indent=1)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def keep_secrets(
    data_dir: str | os.PathLike[str],
    *,
    token: str | None,
    admin_token: str | None,
    needs_token: bool,
) -> KeptSecrets:
    """The secrets for this run of a server whose data lives in ``data_dir``, kept there for the next.

    ``token`` and ``admin_token`` are the ones given (None: not given);
    ``needs_token`` says whether the server must have a token (it listens
    beyond loopback): a kept token is used either way, a new one is made only
    when needed. A join code goes with every token. Creates ``data_dir`` (mode
    0700) when missing. Raises :class:`ValueError` naming the file when it
    cannot be read or written.
    """
    folder = Path(data_dir).expanduser()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--data {str(data_dir)!r}: cannot create the folder: {exc.strerror or exc}") from None
    path = folder / STATE_FILE
    state = read_state(path)
    origins: dict[str, str] = {}
    replaced: list[str] = []

    def choose(key: str, given: str | None, make: bool) -> str | None:
        kept = state.get(key)
        if given is not None:
            origins[key] = "given"
            if kept is not None and kept != given:
                replaced.append(key)
            return given
        if kept is not None:
            origins[key] = "kept"
            return str(kept)
        if make:
            origins[key] = "generated"
            return generate_token()
        return None

    chosen_token = choose("token", token, needs_token)
    chosen_admin = choose("admin_token", admin_token, True)
    assert chosen_admin is not None
    join_code: str | None = None
    if chosen_token is not None:
        kept_code = state.get("join_code")
        try:
            join_code = validate_join_code(kept_code) if kept_code else None
        except ValueError:
            join_code = None
        if join_code is None or "token" in replaced:  # a new token is a new room: a new code with it
            join_code, origins["join_code"] = new_join_code(), "generated"
        else:
            origins["join_code"] = "kept"
    try:
        write_state(path, {"token": chosen_token, "admin_token": chosen_admin, "join_code": join_code})
    except OSError as exc:
        raise ValueError(f"cannot keep the room's secrets in {path}: {exc.strerror or exc}") from None
    return KeptSecrets(chosen_token, chosen_admin, join_code, path, origins, tuple(replaced))
