"""Command line: `robot-rl <stage> [hydra overrides]`; one thin module per stage."""
