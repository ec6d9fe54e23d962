"""The Jinja2 templates of every prompt the service writes, shipped inside the package.

They are read through `importlib.resources` (jinja2's `PackageLoader`), so an installed wheel
has them wherever it lives, and rendered by one environment with one set of whitespace rules
for every caller (system prompts, the summary, memory extraction and reconciliation, episodes,
the local backend's JSON instruction). A template that needs a newline kept after a block tag
says so itself (``+%}``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2


def _environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    return jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string
        autoescape=False,  # plain-text prompts, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@cache
def _packaged() -> jinja2.Environment:
    return _environment(jinja2.PackageLoader("companion", "prompts"))


def prompt_templates(directory: Path | None = None) -> jinja2.Environment:
    """The packaged templates (one environment per process), or those in `directory` (a
    training run trying other prompts) under the same rules."""
    if directory is None:
        return _packaged()
    return _environment(jinja2.FileSystemLoader(str(directory)))
