"""Durable evaluations: datasets through agents and workflows, scored and compared
(the public names are in `tether.evals`)."""
