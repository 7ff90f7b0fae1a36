"""What pytest collects in this repository, and the plugins of the whole session.

Plain ``pytest`` at the root runs the project's own tests (``testpaths`` in pyproject.toml);
``pytest .`` collects the same: the claims run only when asked for, by naming them
(``pytest scenarios/``, which ``claims_paths`` in pyproject.toml makes a claims run, or
``container-claims run``), because they start containers on real engines. A folder named on
the command line is collected whatever this file says.

The project's plugin (``container_claims.plugin``) is not named here: its ``pytest11`` entry
point registers it once, for every pytest run of an environment it is installed in; naming it
again would register it twice. Nor does this file define fixtures: its fixtures would reach
the claims of a real run too, and what the unit tests share is in ``tests/conftest.py``.
"""

from __future__ import annotations

#: For the tests of the plugin (tests/test_plugin.py and others): they run pytest on scenario
#: files in a directory of their own. Here, not in tests/conftest.py: pytest reads
#: ``pytest_plugins`` only in the top-level conftest, and it holds for the whole session anyway.
pytest_plugins = ["pytester"]

#: Never tests, whatever is asked: what runs leave (results), what builds leave (build), the
#: environment (.venv), and the benchmarks, which are scripts run on a real engine
#: (scripts/test runs benchmarks/corpus_bounds.py), not tests. And the scenarios, unless named
#: (see above), also as the package carries them (src/container_claims/catalogue/scenarios).
collect_ignore = [".venv", "build", "results", "benchmarks", "scenarios", "src"]
