"""One test session of a run: the pytest hooks, and the parts they hand the work to.

A :class:`ClaimsSession` lives in every process of a run (the pytest process, and each xdist
worker). Its parts do the work, each one job: :attr:`~ClaimsSession.runtimes`
(:class:`~container_claims.runtime_pool.RuntimePool`, each runtime opened and checked once,
all closed at the end), :attr:`~ClaimsSession.observer`
(:class:`~container_claims.observer.ScenarioObserver`, each scenario observed once per runtime
within the deadlines, runtimes side by side) and :attr:`~ClaimsSession.services`
(:class:`~container_claims.run_services.RunServices`, the loopback registry and the hosts'
handles, started on first use). The session itself keeps the run's options, results and
expectations, and its hooks: the xdist controller hands its workers the run, the start sweeps
what dead runs left, the reports become results, the end removes what the run made and
writes the results file and the terminal summary.

The plugin makes one only for a run that asks for claims (see
:func:`container_claims.plugin.claims_asked`): any other run has no session, so nothing of
this module acts in it.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from container_claims import ledger
from container_claims.errors import InputError, ObservationError
from container_claims.expectations import Expectations, load_expectations
from container_claims.image import DEFAULT_IMAGE
from container_claims.observer import Planned, ScenarioObserver
from container_claims.options import CHOOSING, DEFAULT_JOBS
from container_claims.results import Results
from container_claims.run_services import RunServices
from container_claims.runtime_pool import RuntimePool
from container_claims.runtimes.base import RuntimeConfig

SESSION = pytest.StashKey["ClaimsSession"]()
#: Attribute of a test report that carries a claim's record (or an input error's).
RECORD = "container_claims"
#: Key of an input error's record that tells it from a verdict's.
INPUT_ERROR = "input_error"


def _expectations(config: pytest.Config) -> Expectations:
    """The expectations files of ``--expect``, read in every process; a bad one is a usage error."""
    try:
        return load_expectations([Path(p) for p in config.getoption("claims_expect")])
    except InputError as exc:
        raise pytest.UsageError(str(exc)) from None


#: The runtimes of this run, resolved once (:func:`~container_claims.runtimes.choose_runtimes`)
#: and then handed on as they are: by a caller before pytest starts (:class:`ChosenRuntimes`),
#: by the xdist controller to its workers, or by the session from the run's options.
RUNTIMES = pytest.StashKey[list[RuntimeConfig]]()


class ChosenRuntimes:
    """Runtimes a caller (the CLI) resolved, handed to the run as they are::

        pytest.main(args, plugins=[ChosenRuntimes(configs)])

    They go into the run's stash (:data:`RUNTIMES`) before the plugin configures the run.
    """

    def __init__(self, configs: list[RuntimeConfig]) -> None:
        self.configs = configs

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[RUNTIMES] = self.configs


#: The folder of an article's drafts a caller (``run --against``) made for this run: the one
#: place whose claims may still be marked ``draft: true``.
DRAFTS = pytest.StashKey[Path]()


class ReplayedDrafts:
    """Drafts a caller wrote into a folder of its run, to be run as they are::

        pytest.main(args, plugins=[ReplayedDrafts(folder)])

    No command-line option asks for this: only the caller that drafted the article into the
    folder may, and only files under it load with their draft claims.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[DRAFTS] = self.folder


class ClaimsSession:
    """Per-process state of a run: its options, its parts, its results; and its hooks."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        workerinput = getattr(config, "workerinput", None)
        self.workerinput: dict[str, Any] | None = workerinput
        self.is_worker = workerinput is not None
        if self.is_worker:
            # A worker is a helper of the run: when the run dies, even by SIGKILL, it gets
            # SIGTERM and cleans up after itself as on Ctrl-C.
            from container_claims.processes import die_with_parent_term

            die_with_parent_term()
        self.run_id: str = workerinput["claims_run_id"] if workerinput else secrets.token_hex(3)
        self.image: str = config.getoption("claims_image") or DEFAULT_IMAGE
        self.allow_host_access: bool = config.getoption("claims_allow_host_access")
        drafts = workerinput.get("claims_drafts") if workerinput else config.stash.get(DRAFTS, None)
        self.drafts_folder: Path | None = Path(drafts) if drafts else None
        self.results = Results(run_id=self.run_id)
        self.expectations = _expectations(config)
        self.services = RunServices(run_id=self.run_id)
        self.runtimes = RuntimePool(run_id=self.run_id, image=self.image, services=self.services)
        self.observer = ScenarioObserver(
            self.runtimes,
            self.services,
            run_deadline=config.getoption("claims_run_deadline"),
            runtime_deadline=config.getoption("claims_runtime_deadline"),
            allow_host_access=self.allow_host_access,
            jobs=config.getoption("claims_jobs") or DEFAULT_JOBS,
        )
        self.leftovers: list[str] = []  # what the end of the run could not remove
        self.swept: list[str] = []  # what dead runs had left, removed at the start
        self.given_up: list[str] = []  # what dead runs left out of reach (a machine gone)
        self._claim_ids: dict[str, str] = {}
        self._input_error_messages: set[str] = set()  # of results.input_errors, to skip repeats
        self._previous_sigterm: Any = None

    # -- configuration ----------------------------------------------------------------------
    def configs(self) -> list[RuntimeConfig]:
        """The runtimes of this run: as a caller or the controller handed them on, or chosen
        by the run's options (a bad one is a usage error), once."""
        stash = self.config.stash
        if RUNTIMES not in stash:
            if self.workerinput is not None and "claims_configs" in self.workerinput:
                data = self.workerinput["claims_configs"]
                stash[RUNTIMES] = [RuntimeConfig.from_json(each) for each in data]
            else:
                given = {key: self.config.getoption(opt.dest) for key, opt in CHOOSING.items()}
                try:
                    stash[RUNTIMES] = self.runtimes.choose(**given)
                except InputError as exc:
                    raise pytest.UsageError(str(exc)) from None
        return stash[RUNTIMES]

    def allows_drafts(self, path: Path) -> bool:
        """Whether the scenario file at ``path`` may hold draft claims: only in the folder
        of drafts a caller made for this run."""
        folder = self.drafts_folder
        return folder is not None and path.resolve().is_relative_to(folder.resolve())

    def register_claim(self, claim_id: str, where: str) -> str | None:
        """Claim ids are unique across all files; returns where it was first defined."""
        first = self._claim_ids.setdefault(claim_id, where)
        return None if first == where else first

    def add_input_error(self, record: dict[str, Any]) -> None:
        """Recorded when collected (so -k cannot hide it) and again when its item reports."""
        if record["message"] not in self._input_error_messages:
            self._input_error_messages.add(record["message"])
            self.results.input_errors.append(record)

    # -- asked by the plugin's hooks and the records ----------------------------------------
    def side_by_side(self, plan: Mapping[str, tuple[RuntimeConfig, list[Planned]]]) -> None:
        """The collected items' plan, observed ahead (:meth:`ScenarioObserver.side_by_side`)."""
        self.observer.side_by_side(plan)

    def transcript_once(self, key: str, text: str) -> str | None:
        """A record's transcript, the first time only (:meth:`RunServices.transcript_once`)."""
        return self.services.transcript_once(key, text)

    # -- hooks ------------------------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist controller: every worker works for this run, on these runtimes."""
        node.workerinput["claims_run_id"] = self.run_id
        node.workerinput["claims_configs"] = [config.to_json() for config in self.configs()]
        if self.drafts_folder is not None:
            node.workerinput["claims_drafts"] = str(self.drafts_folder)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        def interrupt(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt(f"signal {signum}")  # so cleanup runs as on Ctrl-C

        self._previous_sigterm = signal.signal(signal.SIGTERM, interrupt)
        # What dead runs left goes before this run makes anything; a collection makes nothing.
        if not self.is_worker and not self.config.option.collectonly:
            self._sweep_dead_runs()
            if self.drafts_folder is not None:
                # An article's drafts (run --against): written down before anything runs,
                # so that a run killed outright leaves the folder to the next run's sweep.
                from container_claims import ledger

                ledger.open_ledger(self.run_id).record("dir", path=str(self.drafts_folder))

    def _sweep_dead_runs(self) -> None:
        from container_claims.sweep import sweep_dead_runs

        swept = sweep_dead_runs()
        self.swept = swept.removed
        self.given_up = swept.given_up
        self.leftovers += swept.problems
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and (swept.removed or swept.problems):
            reporter.write_line(
                f"container-claims: removed {len(swept.removed)} thing(s) that runs which "
                "ended without cleaning up had left"
                + (f"; {len(swept.problems)} could not be removed" if swept.problems else "")
                + " (details at the end)"
            )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, RECORD, None)
        if record is None or self.is_worker:  # a worker's reports go to the controller as they are
            return
        if record.get(INPUT_ERROR):
            self.add_input_error({k: v for k, v in record.items() if k != INPUT_ERROR})
        else:
            result = {key: value for key, value in record.items() if key != "runtime_info"}
            self.results.add(result)
            self.results.runtimes.setdefault(record["runtime"], record["runtime_info"])

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        try:
            self._close()
        finally:
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)
        if self.is_worker:
            return
        if self.results.results or self.results.input_errors:
            if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
                session.exitstatus = self.results.exit_code()
            if self.expectations:
                self.results.expectations = self.expectations.to_json(self.results.results)
            path = self.config.getoption("claims_json")
            if path:
                self.results.write(Path(path))

    def _close(self) -> None:
        self.leftovers += self.observer.stop()  # no further scenario; those ahead end first
        if not self.is_worker:
            # The safety net, once every worker is done: whatever still carries this run's
            # label goes, on every runtime that ran (under xdist the workers ran them).
            used = self.runtimes.opened() | {r["runtime"] for r in self.results.results}
            configs = self.configs() if used else []
            self.leftovers += self.runtimes.remove_run_objects(configs, used)
        try:
            # Both, whatever either raises; the hosts first: a reader goes through its engine.
            with contextlib.ExitStack() as closing:
                closing.callback(self.runtimes.close)
                closing.callback(self.services.close_hosts)
        except (ObservationError, OSError) as exc:
            self.leftovers.append(str(exc))
        self.services.stop_registry()
        own = ledger.current()
        if own is not None and own.run_id == self.run_id:
            own.close(clean=not self.leftovers)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not (
            self.results.results
            or self.results.input_errors
            or self.swept
            or self.given_up
            or self.leftovers
        ):
            return
        from container_claims.report.terminal import expectation_lines, summary_lines
        from container_claims.report.text import printable

        terminalreporter.section("container-claims")
        if self.results.results:
            data = self.results.to_json()
            for line in summary_lines(data):
                terminalreporter.write_line(line)
            for line in expectation_lines(data):
                terminalreporter.write_line(line, yellow=True)
        # What scenario files, engines and containers said, with its control characters shown.
        for error in self.results.input_errors:
            terminalreporter.write_line(printable(f"invalid: {error['message']}"), red=True)
        for line in self.given_up:
            terminalreporter.write_line(printable(f"out of reach, not swept: {line}"))
        for line in self.swept:
            terminalreporter.write_line(printable(f"removed what a dead run left: {line}"))
        for line in self.leftovers:
            terminalreporter.write_line(
                printable(
                    f"could not remove: {line} (the next run, or 'container-claims cleanup', will)"
                ),
                yellow=True,
            )
