"""Who holds a claim or writes a temporary folder: a process on a host, named so that a leftover
of a crashed process can be told from a live process's work (claims, lake temporary folders)."""

from __future__ import annotations

import os
import socket
import uuid

HOST = socket.gethostname().replace("-", "_").replace(":", "_")[:60] or "host"


def owner_name(sep: str = ":") -> str:
    """`<host><sep><pid><sep><random>` for this process."""
    return f"{HOST}{sep}{os.getpid()}{sep}{uuid.uuid4().hex[:8]}"


def owner_alive(owner: str, sep: str = ":") -> bool:
    """False only when `owner` (an owner_name) ran on this host and its process is gone. Another
    host's owner, or a name in another form, is taken to be alive: its lease or age decides."""
    parts = owner.split(sep)
    if len(parts) != 3 or parts[0] != HOST or not parts[1].isdigit():
        return True
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def this_process(owner: str, sep: str = ":") -> bool:
    """Whether `owner` (an owner_name) is this process's."""
    parts = owner.split(sep)
    return len(parts) == 3 and parts[0] == HOST and parts[1] == str(os.getpid())
