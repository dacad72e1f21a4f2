"""Startup check of Expat, the XML parser under feedparser (through ``pyexpat``).

Usage::

    warning = check_expat(strict=settings.strict_expat)   # raises UnsafeXMLParser, or
    if warning: log.warning(warning)                      # returns a warning, or None

- Below 2.4.1 Expat has no protection against entity-expansion bombs (billion laughs): always
  refused.
- Below 2.6.0 it lacks reparse deferral, so a feed made of one huge token costs quadratic time
  (CVE-2023-52425). Storywire bounds that input (decoded-size cap, DTDs removed before parsing,
  see xmlsafety.py), so such an Expat is accepted with a warning by default, and refused with
  ``STORYWIRE_STRICT_EXPAT=1``. (CPython bundles its own Expat: 3.11.7, for one, ships 2.5.0.)
"""

from __future__ import annotations

import pyexpat

#: Versions below this are refused whatever the settings.
MIN_EXPAT = (2, 4, 1)
#: Versions below this are refused in strict mode, accepted with a warning otherwise.
SAFE_EXPAT = (2, 6, 0)


class UnsafeXMLParser(RuntimeError):
    """The Expat in this Python lacks protections Storywire relies on."""


def check_expat(
    *, strict: bool, version: tuple[int, int, int] = pyexpat.version_info
) -> str | None:
    """Raise ``UnsafeXMLParser`` for an Expat too old to run; return a warning or None."""
    shown = ".".join(map(str, version))
    if version < MIN_EXPAT:
        raise UnsafeXMLParser(
            f"Expat {shown} has no protection against entity-expansion bombs; "
            "use a Python built with Expat >= 2.6"
        )
    if version < SAFE_EXPAT:
        message = (
            f"Expat {shown} lacks reparse deferral (CVE-2023-52425, huge-token DoS); "
            "Storywire caps the input it parses, but a Python built with Expat >= 2.6 is "
            "recommended"
        )
        if strict:
            raise UnsafeXMLParser(message + " (refused: STORYWIRE_STRICT_EXPAT is set)")
        return message
    return None
