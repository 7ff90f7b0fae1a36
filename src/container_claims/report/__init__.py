"""Reports made from results (the JSON that ``--json`` writes)."""
