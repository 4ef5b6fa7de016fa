"""Data Docs page views whose Jinja templates compile once per deployment, not once per validation.

GX's views build a fresh Jinja environment for every page and compile every template again (about
0.4 s of a small file's validate stage). These views are GX's own with a bytecode cache in the GX
folder; they are named in the Data Docs site's config (`quality/validate.py: site_config`), GX's
documented hook for custom views. The pages they render are the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import FileSystemBytecodeCache


def _cached(view: Any, cache_dir: str | None) -> None:
    if cache_dir:
        Path(cache_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
        view.env.bytecode_cache = FileSystemBytecodeCache(cache_dir)


class CachedPageView(DefaultJinjaPageView):
    """A validation or suite page."""

    def __init__(self, cache_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _cached(self, cache_dir)


class CachedIndexPageView(DefaultJinjaIndexPageView):
    """The site index."""

    def __init__(self, cache_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _cached(self, cache_dir)
