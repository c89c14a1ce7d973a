"""Access to the templates bundled from nginx/ and compose/."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Mapping

_PACKAGE_DIR = Path(__file__).resolve().parent


class ConfigTemplate(string.Template):
    """``@@{name}`` placeholders: ``$`` is nginx's and compose's own syntax."""

    delimiter = "@@"


def template_path(relative: str) -> Path:
    """Return the template inside the package, or in the source tree when run from a checkout."""
    bundled = _PACKAGE_DIR / "templates" / relative
    if bundled.is_file():
        return bundled
    return _PACKAGE_DIR.parents[1] / relative


def render_template(relative: str, values: Mapping[str, str]) -> str:
    text = template_path(relative).read_text(encoding="utf-8")
    return ConfigTemplate(text).substitute(values)
