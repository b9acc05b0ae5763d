"""Where shardline's code is, and where it keeps what it builds and starts.

In a checkout that is ``.shardline/`` beside the code (``make setup`` fills
it); in an installed package it is the user's cache, because a site-packages
folder is not ours to write.  ``SHARDLINE_HOME`` overrides both.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

CODE_ROOT = Path(__file__).resolve().parents[1]
"""The folder holding ``pipelines/``, ``connectors/``, ``jobs/``: the repository, or site-packages."""
HOME_VARIABLE = "SHARDLINE_HOME"


def is_checkout() -> bool:
    return (CODE_ROOT / "setup.cfg").is_file() and (CODE_ROOT / "Makefile").is_file()


def state_dir() -> Path:
    """``$SHARDLINE_HOME``, else ``.shardline/`` in a checkout, else ``$XDG_CACHE_HOME/shardline``."""
    chosen = os.environ.get(HOME_VARIABLE)
    if chosen:
        return Path(chosen)
    if is_checkout():
        return CODE_ROOT / ".shardline"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "shardline"


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: a temporary file in the same folder, fsynced, renamed
    over the old one, so a crash leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
