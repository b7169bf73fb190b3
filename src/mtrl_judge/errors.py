"""User-facing errors.

Anything a user can cause (a bad file, a wrong field, an unknown task) raises `JudgeError`
with a one-line message naming the file, row and field. The CLI prints that line and exits
non-zero; only programming errors ever reach the user as a traceback.
"""

from __future__ import annotations


class JudgeError(Exception):
    """A mistake in the user's input, configuration or files, explained in one line."""


class UnknownTaskError(JudgeError, KeyError):
    """A task name the registry does not know. Also a KeyError, so dict-style lookups behave."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
