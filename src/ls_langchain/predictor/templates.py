"""Safe ``{field}`` templates for prompts typed by people: plain names only, everything else left as written.

``str.format`` on user input runs attribute and index lookups (``{text.__class__}``) and fails on any brace in a
JSON example. Here only ``{name}`` is a placeholder; ``{name.attr}`` and ``{name[0]}`` are refused; ``{{name}}``
writes a literal ``{name}``; and any other brace (JSON, code) is copied unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ls_langchain.errors import PromptTemplateError

__all__ = ["check_template", "render"]

_PLACEHOLDER = re.compile(r"\{\{([A-Za-z_]\w*)\}\}|\{([A-Za-z_]\w*)([.\[][^{}]*)?\}")


def check_template(template: str, *, what: str = "The prompt") -> None:
    """Refuse attribute and index access, which a template never needs and an attacker might."""
    for match in _PLACEHOLDER.finditer(template):
        if match.group(3):
            raise PromptTemplateError(
                f"{what} uses {match.group(0)!r}: only plain {{field}} placeholders are allowed, "
                "without attribute or index access."
            )


def render(template: str, fields: Mapping[str, str], *, what: str = "The prompt") -> str:
    """``template`` with each ``{name}`` replaced by ``fields[name]``; an unknown name is an error naming the known."""
    check_template(template, what=what)

    def substitute(match: re.Match[str]) -> str:
        escaped, name = match.group(1), match.group(2)
        if escaped is not None:
            return "{" + escaped + "}"
        if name not in fields:
            known = ", ".join("{" + key + "}" for key in sorted(fields)) or "none"
            raise PromptTemplateError(
                f"{what} uses {{{name}}}, which this task does not have; the fields are {known} "
                f"(write {{{{{name}}}}} for a literal {{{name}}})."
            )
        return fields[name]

    return _PLACEHOLDER.sub(substitute, template)
