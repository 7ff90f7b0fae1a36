"""Probes: readings of the host (:mod:`.host`) and of the engine (:mod:`.engine`).

What a scenario can name, and with which arguments, is the format's vocabulary:
:mod:`container_claims.scenario.probes`. What a probe may use when it runs is its API:
:mod:`.api`.
"""
