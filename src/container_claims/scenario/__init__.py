"""Scenarios: YAML files that describe claims and how to observe them.

Flow: :mod:`.loader` reads YAML and keeps line numbers, :mod:`.validate` checks it against the
JSON Schema (``schema.json``) and the rules a schema cannot express, :mod:`.model` holds the
result as typed, immutable objects, and :mod:`.steps` holds the kinds of step, one class each (:mod:`.step_kind` what they share).
:mod:`.image_steps` adds the kinds that make images, after the others, whoever loads the table.
"""

from container_claims.scenario import image_steps  # noqa: F401 - registers commit and build
from container_claims.scenario.model import Claim, Expectation, Scenario
from container_claims.scenario.step_kind import Step
from container_claims.scenario.validate import load_scenario

__all__ = ["Claim", "Expectation", "Scenario", "Step", "load_scenario"]
