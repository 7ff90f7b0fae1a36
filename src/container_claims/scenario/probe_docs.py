"""The README's table of the probes' ``with:`` arguments, made from the probe table.

tests/test_public_api.py compares the README with :func:`arguments_table`: a probe or an
argument added, renamed or described otherwise in :data:`~.probes.PROBES` fails the test
until the README's table is the one printed here (``python -m
container_claims.scenario.probe_docs``).
"""

from __future__ import annotations

from container_claims.scenario.probes import PROBES, Arg

#: Each kind of argument in words (see :class:`~.probes.Arg`).
KIND_WORDS = {
    "text": "text, one line",
    "integer": "a whole number (or text that is one)",
    "choice": "one of",
    "dirs": 'absolute host directories, one or a list ("" for none)',
    "relative_path": "a relative path, without `..`",
    "image": "an image reference",
    "container": "a container of the scenario, by its name",
    "directory": "a directory the scenario declares, by its name",
    "content": "text, newlines kept",
}


def kind_words(arg: Arg) -> str:
    """An argument's kind in words: "a whole number (or text that is one), at least 1"..."""
    words = KIND_WORDS[arg.kind]
    if arg.choices:
        words += " " + ", ".join(f"`{choice}`" for choice in arg.choices)
    if arg.minimum is not None:
        words += f", at least {arg.minimum}"
    if arg.form and arg.kind == "text":  # the other kinds say their form already
        words += f": {arg.form}"
    return words


def arguments_table() -> list[str]:
    """One row per argument (a probe that takes none has one row saying so)."""
    rows = [
        "| probe | argument | kind | without it | what it means |",
        "|---|---|---|---|---|",
    ]
    for name, info in PROBES.items():
        if not info.args:
            rows.append(f"| `{name}` | none | | | |")
        for arg_name, arg in info.args.items():
            without = "required" if arg.required else arg.default
            rows.append(f"| `{name}` | `{arg_name}` | {kind_words(arg)} | {without} | {arg.doc} |")
    return rows


if __name__ == "__main__":
    print("\n".join(arguments_table()))
