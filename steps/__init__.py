"""Step definitions of the drill suite, one module per area; shared steps live in steps.common."""
