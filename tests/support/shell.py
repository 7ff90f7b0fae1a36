"""The scenario most unit tests run on the scripted fake runtime: an interactive bash, typed
into, and claims on what it printed.

A module names its own claims, ``(id, says, observation, the value it equals)``; the scenario
types the line of each observation they use, in one fixed order. The fake's script answers
those lines (``{"typed": {"echo $$": "1"}}``); ``cat /broken`` is the one a script makes fail.
"""

from __future__ import annotations

from typing import Any

#: What each observation types, in the order the steps are typed.
TYPED = {"shell_pid": "echo $$", "hostname": "hostname", "broken": "cat /broken"}

ShellClaim = tuple[str, str, str, Any]


def shell_scenario(*claims: ShellClaim, source: str = "") -> str:
    """The text of ``shell.yaml``: the shell, a ``type`` step for each observation the claims
    use, and the claims, each on lines of its own (tests find lines by what they hold)."""
    used = {observation for _, _, observation, _ in claims}
    lines = [
        "scenario: shell",
        "section: Shell",
        *([f"source: {source}"] if source else []),
        "container:",
        "  command: [/bin/bash]",
        "  tty: true",
        "  interactive: true",
        "steps:",
    ]
    for observation, line in TYPED.items():
        if observation in used:
            lines += [f"  - type: {line}", f"    save: {observation}"]
    lines.append("claims:")
    for claim_id, says, observation, value in claims:
        lines += [
            f"  - id: {claim_id}",
            f"    says: {says}",
            "    expect:",
            f"      - that: {observation}",
            f"        equals: {value}",
        ]
    return "\n".join(lines) + "\n"
