"""Training loops (one offline, one online), evaluation, checkpoints and logging."""
