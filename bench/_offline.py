"""Run a ``storywire`` command whose name lookups never leave this machine.

    python bench/_offline.py fetch --all --inline

IP literals and ``localhost`` resolve as usual; every other name fails the way a name that
does not exist fails (``EAI_NONAME``), without asking any DNS server. A benchmark serving
real-world feeds from 127.0.0.x uses it so that the article hosts those feeds link to are
unreachable for certain, and no request (not even a DNS query) goes to them.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from typing import Any

from _common import REPO_ROOT  # noqa: F401  (puts the repository on sys.path)

_real_getaddrinfo = socket.getaddrinfo


def _local(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return False
    return True


def _getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode() if isinstance(host, bytes) else host
    if name is None or _local(str(name)):
        return _real_getaddrinfo(host, port, *args, **kwargs)
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def main() -> None:
    socket.getaddrinfo = _getaddrinfo
    from worker.cli import main as storywire

    sys.argv = ["storywire", *sys.argv[1:]]
    storywire()


if __name__ == "__main__":
    main()
