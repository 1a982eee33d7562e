"""The admin API's bearer token, kept in ``<data-dir>/admin.token``.

Made at the first start (32 random bytes, URL-safe) with mode 0600, so only the user
that runs the server can read it; a token file others can read is narrowed to 0600
with a warning. Compared in constant time.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger("web.token")

TOKEN_FILE = "admin.token"


def load_or_create(data_dir: Path) -> tuple[str, Path, bool]:
    """The token, its file and whether it was made now."""
    path = data_dir / TOKEN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            log.warning("%s could be read by others (mode %o): narrowed to 0600", path, mode)
            os.chmod(path, 0o600)
        token = path.read_text().strip()
        if not token:
            raise ValueError(f"{path} is empty: delete it and a new token is made at "
                             "start") from None
        return token, path, False
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, path, True


def matches(expected: str, header: str | None) -> bool:
    """Whether an Authorization header carries ``Bearer <expected>``."""
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              expected.encode())
