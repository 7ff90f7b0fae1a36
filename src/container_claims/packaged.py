"""The catalogue the package carries: the scenarios, the expected verdicts and the baselines.

They are in ``container_claims/catalogue/`` (data, not a Python package). In a checkout that
folder's ``scenarios``, ``expectations`` and ``baselines`` are symbolic links to the
repository's top-level folders, the files one edits; the build follows them, so a wheel
carries copies, and an editable install sees the checkout's own files.

What ``run`` checks when given no paths (:func:`default_scenarios`): ``./scenarios`` where
there is one, as in a checkout; elsewhere the packaged scenarios. An expectations file or a
baseline can be named without a path (:func:`named`): ``--expect debian12``.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The packaged catalogue; a run of its scenarios has its root here (``cli.as_data``).
ROOT = Path(os.path.dirname(os.path.abspath(__file__))) / "catalogue"
SCENARIOS = ROOT / "scenarios"

#: What each kind of packaged file is called: folder and suffix.
_KINDS = {"expectations": ".yaml", "baselines": ".json"}


def default_scenarios() -> str:
    """What ``run`` checks when given no paths: ``./scenarios`` where there is one (a
    checkout, or a folder of one's own), else the packaged scenarios."""
    return "scenarios" if os.path.exists("scenarios") else str(SCENARIOS)


def named(kind: str, given: str | os.PathLike[str]) -> Path:
    """``given`` as a path when there is a file there; a bare name that is not one
    (``debian12``, or ``debian12.yaml``) names the packaged file of that ``kind``
    (``expectations`` or ``baselines``) when there is one. Anything else stays as given, for
    its reader to say what is wrong with it."""
    path = Path(given)
    if path.exists() or len(path.parts) != 1 or path.name.startswith("."):
        return path
    suffix = _KINDS[kind]
    packaged = ROOT / kind / (path.name if path.suffix == suffix else path.name + suffix)
    return packaged if packaged.is_file() else path


def names(kind: str) -> list[str]:
    """The packaged files of ``kind`` by the names :func:`named` takes."""
    folder = ROOT / kind
    if not folder.is_dir():
        return []
    return sorted(path.stem for path in folder.glob("*" + _KINDS[kind]) if path.is_file())


def is_bare_name(given: str | os.PathLike[str]) -> bool:
    """Whether ``given`` could be the name of a packaged file (no folder in it)."""
    return len(Path(given).parts) == 1
