"""A scripted runtime for the project's own unit tests: no engine, canned answers.

Never evidence that a claim holds: it exists to test the loader, the checks, the plugin and
the reports, so it lives with the tests, and the tests add its kind, ``fake``, as any package
adds a runtime kind: by an entry point (see ``tests/support/kinds`` and ``tests/conftest.py``).
Its script is a YAML file named by the runtime entry's ``env``::

    runtimes:
      - {name: fake, kind: fake, env: {CONTAINER_CLAIMS_FAKE: fake.yaml}}

and says what each typed line, exec and run prints (``"echo $$": "1"``, or a mapping with
output, status, completed, detail, truncated), what inspect answers, or that the runtime is
unusable (``unusable: "engine down"``). ``"!error"`` makes a typed line fail; ``"!refused"``
makes a run or exec one the runtime refused. Unknown lines print nothing.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import yaml

from container_claims.errors import ObservationError, RuntimeUnavailable
from container_claims.observations import CommandOutcome
from container_claims.runtimes.base import Runtime, Shell
from container_claims.scenario.model import CAPABILITIES, ContainerSpec

SCRIPT_VARIABLE = "CONTAINER_CLAIMS_FAKE"


def _outcome(answer: Any) -> CommandOutcome:
    if isinstance(answer, Mapping):
        return CommandOutcome(
            output=str(answer.get("output", "")),
            status=answer.get("status", 0),
            completed=answer.get("completed", True),
            detail=answer.get("detail", ""),
            stderr=answer.get("stderr", ""),
            truncated=answer.get("truncated", False),
        )
    if answer == "!refused":
        raise ObservationError("the fake runtime refused the container (exit 125)")
    return CommandOutcome(output=str(answer), status=0)


class FakeShell(Shell):
    def __init__(self, script: Mapping[str, Any], log: list[str]) -> None:
        self.script = script
        self.prompt = script.get("prompt", "root@fake:/#")
        self.transcript = f"{self.prompt} "
        self.log = log
        self.closed = False

    def type(self, line: str, timeout: float) -> CommandOutcome:
        self.log.append(f"type {line}")
        answer = self.script.get("typed", {}).get(line, "")
        if answer == "!error":
            raise ObservationError(f"scripted failure for {line!r}")
        outcome = _outcome(answer)
        self.transcript += f"{line}\n{outcome.output}\n{self.prompt} "
        return outcome

    def exit(self, line: str, timeout: float) -> int | None:
        self.log.append(f"exit {line}")
        return int(self.script.get("exit_status", 0))

    def close(self) -> None:
        self.closed = True


class FakeRuntime(Runtime):
    kind: ClassVar[str] = "fake"
    capabilities: ClassVar[frozenset[str]] = frozenset(CAPABILITIES)  # every one
    scenarios_at_once: ClassVar[int] = 4  # as an engine: each scenario's shells are apart

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        path = dict(self.config.env).get(SCRIPT_VARIABLE)
        self.script: dict[str, Any] = yaml.safe_load(Path(path).read_text()) if path else {}
        self.log: list[str] = []
        self.removed: list[str] = []
        if "capabilities" in self.script:  # an instance attribute: this fake lacks some
            self.capabilities = frozenset(self.script["capabilities"])  # type: ignore[misc]

    def _note(self, what: str) -> None:
        """What the fake was asked to do, appended to ``journal`` (a file) when the script names
        one, so a test in another process can count container starts."""
        journal = self.script.get("journal")
        if journal:
            with open(journal, "a", encoding="utf-8") as handle:
                handle.write(what + "\n")

    def _meet(self) -> None:
        """``arrive: FILE`` and ``meet: FILE`` in the script: this fake's shell opens only
        once another fake's has (it creates FILE), so two fakes can only both start when
        they run at the same time; alone, it gives up after ``meet_timeout`` seconds."""
        if self.script.get("arrive"):
            Path(self.script["arrive"]).touch()
        if self.script.get("meet"):
            deadline = time.monotonic() + float(self.script.get("meet_timeout", 10))
            while not Path(self.script["meet"]).exists():
                if time.monotonic() > deadline:
                    raise ObservationError("the other runtime's shell never opened meanwhile")
                time.sleep(0.01)
        if self.script.get("gather"):
            # ``gather: DIR``, ``gather_count: N``: opens only once N shells have arrived in
            # DIR, each under a name of its own (scenarios of one runtime side by side).
            folder = Path(self.script["gather"])
            (folder / secrets.token_hex(4)).touch()
            deadline = time.monotonic() + float(self.script.get("meet_timeout", 10))
            while len(list(folder.iterdir())) < int(self.script["gather_count"]):
                if time.monotonic() > deadline:
                    raise ObservationError("the other scenarios' shells never opened meanwhile")
                time.sleep(0.01)

    def check(self) -> None:
        if self.script.get("unusable"):
            raise RuntimeUnavailable(str(self.script["unusable"]))

    def version(self) -> dict[str, str]:
        return {"engine": str(self.script.get("version", "fake 1.0"))}

    def environment(self) -> dict[str, str]:
        return {"data_root": str(self.script.get("data_root", "/var/lib/fake"))}

    def open_shell(self, spec: ContainerSpec, name: str, timeout: float) -> Shell:
        self.log.append(f"open {name}")
        self._note(f"open {name}")
        self._meet()
        if self.script.get("start_fails"):
            raise ObservationError(str(self.script["start_fails"]))
        return FakeShell(self.script, self.log)

    def start(self, spec: ContainerSpec, name: str, timeout: float) -> CommandOutcome:
        self.log.append(f"start {name}")
        return CommandOutcome(output=name, status=0)

    def run(self, spec: ContainerSpec, name: str, timeout: float) -> CommandOutcome:
        command = " ".join(spec.command or ())
        self.log.append(f"run {command}")
        self._note(f"run {spec.image or '(image)'} {command}")
        return _outcome(self.script.get("run", {}).get(command, ""))

    def exec(self, name: str, command: tuple[str, ...], timeout: float) -> CommandOutcome:
        self.log.append(f"exec {' '.join(command)}")
        return _outcome(self.script.get("exec", {}).get(" ".join(command), ""))

    def wait(self, name: str, until: str, timeout: float, *, contains: str = "") -> dict[str, Any]:
        """Reached at once, or (``waits_in_vain`` in the script) never, the window used up."""
        self.log.append(f"wait {name} {until}")
        if self.script.get("waits_in_vain"):
            return {"reached": False, "state": "running", "status": None, "waited_s": timeout}
        return {"reached": True, "state": until, "status": None, "waited_s": 0.0}

    def create_volume(self, name: str) -> None:
        self.log.append(f"volume {name}")

    def remove_container(self, name: str) -> None:
        self.removed.append(name)

    def remove_image(self, ref: str) -> None:
        self.removed.append(ref)

    def remove_volume(self, name: str) -> None:
        self.removed.append(name)

    def remove_objects(
        self, *, run_id: str | None, keep: frozenset[str] = frozenset()
    ) -> list[str]:
        return []

    def preflight(self, timeout: float) -> None:
        if self.script.get("preflight_fails"):
            raise RuntimeUnavailable(str(self.script["preflight_fails"]))

    def storage_roots(self) -> list[str]:
        return [str(root) for root in self.script.get("storage_roots", [])]

    def info(self) -> Mapping[str, Any]:
        return dict(self.script.get("info", {}))

    def inspect_container(self, name: str) -> Mapping[str, Any]:
        suffix = name.rsplit("-", 1)[-1]
        return dict(self.script.get("containers", {}).get(suffix, {"exists": False}))

    def inspect_image(self, ref: str) -> Mapping[str, Any]:
        return dict(self.script.get("images", {}).get(ref, {"present": False}))

    def stage_in_registry(self, registry: str, token: str) -> Mapping[str, Any]:
        return {"ref": f"{registry}/fake:{token}", "token": token}
