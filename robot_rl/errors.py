"""User-facing errors: the CLI prints these as one line and exits with status 2."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (a file, a field, a config value); the message says which."""
