"""What moved between two sets of results: per runtime and claim, and in the environment.

The operator's question after an engine upgrade is "which verdicts moved?". Each side is one
or more results files merged (as ``report`` merges them); runtimes are matched by name, or
paired with ``--map old=new`` (``docker=docker-26``: the same engine before and after, run
side by side). A change is one of:

* ``regression``: a pass became a fail or an error;
* ``fix``: a fail or an error became a pass;
* ``changed``: a fail became an error or the other way round;
* ``applicability``: not-applicable on one side only;
* ``new`` / ``gone``: the claim was on one side only (for a runtime on both sides).

Runtimes present on one side only are named, not listed claim by claim. The environment of
each pair of runtimes (engine, containerd and OCI runtime versions, data root, storage driver,
kernel, image id) is compared field by field, so the diff says what changed around the
verdicts too, and the machines where something regressed are named (a fleet's "which hosts
regressed?"). :meth:`Diff.to_json` is the documented format (``"format":
"container-claims-diff/1"``); ``exit_code`` is 1 when anything regressed.
"""

from container_claims.report.diff.changes import (
    APPLICABILITY,
    CHANGED,
    FIX,
    FORMAT,
    GONE,
    KINDS,
    NEW,
    REGRESSION,
    Change,
    Diff,
    EnvironmentChange,
    Pair,
    Side,
    diff,
    environment,
    parse_mapping,
)
from container_claims.report.diff.render import (
    diff_lines,
    regressed_words,
    render_diff_markdown,
    summary_words,
)

__all__ = [
    "APPLICABILITY",
    "CHANGED",
    "FIX",
    "FORMAT",
    "GONE",
    "KINDS",
    "NEW",
    "REGRESSION",
    "Change",
    "Diff",
    "EnvironmentChange",
    "Pair",
    "Side",
    "diff",
    "diff_lines",
    "environment",
    "parse_mapping",
    "regressed_words",
    "render_diff_markdown",
    "summary_words",
]
