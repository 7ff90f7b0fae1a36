"""What a kind of step is: the class each kind subclasses, with its fields beside it, and the
scenario a kind sees while the file loads. The kinds and their table are in :mod:`.steps`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, Self

from container_claims.errors import ScenarioError
from container_claims.scenario.fields import Shape, any_value
from container_claims.scenario.loader import MarkedDict
from container_claims.scenario.model import ContainerSpec, MainContainer

#: Where a step is written: while the main container lives, or after it ended.
Section = Literal["steps", "after"]


class ScenarioSoFar(Protocol):
    """The file being loaded, as a step's :meth:`Step.build` sees it: what the steps before
    it started, and how to report a mistake at a line."""

    @property
    def main(self) -> MainContainer | None:
        """The scenario's main container, if it has one."""

    @property
    def containers(self) -> Mapping[str, None]:
        """The containers started before this step, by scenario name, in that order."""

    @property
    def detached(self) -> Mapping[str, None]:
        """Those of them left running (``run:`` with ``detach: true`` and a ``name``)."""

    @property
    def directories(self) -> Mapping[str, None]:
        """The host directories the scenario declares (``directories:``), by name."""

    def error(
        self, line: int | None, message: str, hint: Callable[[], str] | None = None
    ) -> ScenarioError:
        """The error to raise for ``line``; ``hint`` adds to the message only if it is shown
        (a "did you mean" costs, and a file may have thousands of errors)."""

    def check_refs(self, data: Any, line: int) -> None:
        """Raise for a ``{{ name.field }}`` in ``data`` that no earlier step saves."""

    def check_ref(self, path: str, line: int) -> Shape:
        """What ``path`` (``name.field``) names; raise when no earlier step saves it so."""

    def spec(self, block: MarkedDict, line: int) -> ContainerSpec:
        """A container's options, checked as ``container:`` and ``run:`` take them."""

    def started(self, name: str, *, detached: bool, spec: ContainerSpec | None) -> None:
        """Record a named container for the steps after this one."""

    def needs_of(self, container: str) -> frozenset[str]:
        """What starting ``container`` needed of a runtime."""


@dataclass(frozen=True, kw_only=True)
class Step(ABC):
    """One step of a scenario. A kind is a subclass with its own fields, registered with
    :func:`register_step` under its key in a file (:attr:`kind`)."""

    kind: ClassVar[str]
    #: What ``save:`` keeps (the shape a claim's ``that:`` walks).
    yields: ClassVar[Shape] = any_value()
    #: The JSON Schema of the kind's value, for a kind ``schema.json`` does not declare.
    value_schema: ClassVar[Mapping[str, Any] | None] = None
    #: Whether the step takes ``with:`` (arguments).
    takes_arguments: ClassVar[bool] = False

    line: int
    save: str | None = None
    timeout: float | None = None

    @classmethod
    @abstractmethod
    def build(cls, raw: MarkedDict, line: int, section: Section, scenario: ScenarioSoFar) -> Self:
        """The step written as ``raw`` (schema-valid) at ``line``; raises
        ``scenario.error(...)`` for what the schema cannot see."""

    @classmethod
    def common(cls, raw: MarkedDict, line: int) -> dict[str, Any]:
        """The fields every step has, as ``raw`` writes them: for a kind's :meth:`build`."""
        return {"line": line, "save": raw.get("save"), "timeout": raw.get("timeout")}

    @classmethod
    def yields_of(cls, raw: MarkedDict) -> Shape:
        """What the step written as ``raw`` saves, also when it had errors."""
        return cls.yields

    @classmethod
    def assume(cls, raw: MarkedDict, scenario: ScenarioSoFar) -> None:
        """After an error in ``raw``: record what it would have started all the same, so
        that one mistake is not reported again where later steps use it."""
        return  # most kinds start nothing that later steps could name

    @abstractmethod
    def describe(self, fill: Callable[[str], str] = str) -> str:
        """A short human description for evidence and error messages; ``fill`` fills in the
        templates of its texts, so the evidence shows what the step really did."""

    def capabilities(self) -> frozenset[str]:
        """What a runtime must be able to do for this step to observe anything."""
        return frozenset()

    def texts(self) -> Iterable[str]:
        """The strings of the step that may hold ``{{ templates }}``."""
        return ()

    @property
    def extra_seconds(self) -> float:
        """Seconds the step may take beyond the default timeout (a stop's grace period)."""
        return 0
