"""Data shipped inside the package (locales, persona cards, prompts), found by package name.

`importlib.resources` finds them wherever the package is installed, without counting parent
folders of a source file. Fluent and the persona watcher read real files, so a folder must be
on the filesystem (an ordinary wheel or source install; not a zip import).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def package_folder(package: str, name: str) -> Path:
    """The folder `name` inside `package` (``package_folder("companion", "locales")``)."""
    folder = resources.files(package) / name
    if not isinstance(folder, Path):
        raise RuntimeError(f"{package}/{name} is not on the filesystem (zip imports unsupported)")
    return folder
