"""Reports made from results (the JSON that ``--json`` writes).

One or more results files become a :class:`Comparison` (claims by runtimes, later files
winning), which renders as a self-contained HTML page, as Markdown for GitHub, or as the
terminal matrix (:mod:`container_claims.report.terminal`)::

    comparison = load_comparison([Path("docker.json"), Path("podman.json")])
    write_report(render_html(comparison), "report.html")
    write_report(render_markdown(comparison), "-")   # standard output
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from container_claims.errors import InputError

if TYPE_CHECKING:
    from container_claims.report.html import render_html
    from container_claims.report.markdown import render_markdown
    from container_claims.report.merge import compare, load_comparison
    from container_claims.report.model import Comparison
    from container_claims.report.results_file import read_results

#: Where each name lives: imported when first asked for, so that a run that writes no report
#: (and every xdist worker) does not pay for Jinja2 and the templates at start-up.
_LAZY = {
    "Comparison": "model",
    "compare": "merge",
    "load_comparison": "merge",
    "read_results": "results_file",
    "render_html": "html",
    "render_markdown": "markdown",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


__all__ = [
    "Comparison",
    "compare",
    "load_comparison",
    "read_results",
    "render_html",
    "render_markdown",
    "write_report",
]


def write_report(text: str, destination: str | Path) -> None:
    """Write a report; ``-`` is standard output. A reader never sees half a regular file.

    A path that cannot be written is an :class:`InputError` (one line, exit code 2).
    """
    if str(destination) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    path = Path(destination)
    try:
        if path.exists() and not path.is_file():  # /dev/stdout, a pipe: no rename possible
            with path.open("w", encoding="utf-8") as stream:
                stream.write(text)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"{path}: cannot write the report: {exc.strerror or exc}") from None
