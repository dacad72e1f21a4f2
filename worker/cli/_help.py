"""Plain parameter names in ``--help``: ``URL...``, ``--limit N``, ``--status [ok|failed]``.

Recent Typer releases print a Python type after every parameter (``--errors <bool>``,
``FEED <str>``, ``--output <path>``) and wrap required arguments in braces (``{URL...}``),
with no setting to turn it off. Those read as placeholders to fill in, not as documentation;
:func:`use_plain_help` restores the conventional click layout: no type for flags and
arguments, the metavar (or the option's name) for values, choices in brackets. Each patch is
applied only where the Typer in use has the method, so other versions keep their own layout.
"""

from __future__ import annotations

from typing import Any

import typer.core

_ARGUMENT = getattr(typer.core, "TyperArgument", None)
_OPTION = getattr(typer.core, "TyperOption", None)


def use_plain_help() -> None:
    if _ARGUMENT is not None and hasattr(_ARGUMENT, "_usage_display_name"):
        _ARGUMENT._usage_display_name = _argument_usage
    if _ARGUMENT is not None and hasattr(_ARGUMENT, "display_type_rich"):
        _ARGUMENT.display_type_rich = _no_type
    if _OPTION is not None and hasattr(_OPTION, "display_type_rich"):
        original = _OPTION.display_type_rich

        def option_value(self: Any, ctx: Any) -> str | None:
            if getattr(self, "is_flag", False) or getattr(self, "count", False):
                return None
            if self.metavar is not None:
                return str(self.metavar)
            shown: str | None = original(self, ctx)
            if shown and "|" in shown:  # choices: keep them, in click's brackets
                return "[" + shown.strip("<>").removesuffix("...") + "]"
            return str(self.name or "value").upper()

        _OPTION.display_type_rich = option_value


def _argument_usage(self: Any) -> str:
    name = self.metavar or str(self.name or "ARG").upper()
    if self.metavar is None and self.nargs != 1:
        name += "..."
    return name if self.required or name.startswith("[") else f"[{name}]"


def _no_type(self: Any, ctx: Any) -> None:
    return None
