"""User-facing errors.

Anything a user can cause (a bad file, a wrong field, an unknown task) raises `JudgeError`
with a one-line message naming the file, row and field. The CLI prints that line and exits
non-zero; only programming errors ever reach the user as a traceback.

A judge request (task, images, text) that fails its one check (`mtrl_judge.requests`) raises
one of the subclasses below, so that each surface can react to the kind of mistake without
parsing messages: the HTTP service maps each class to one status code (serve/inputs.py), the
CLI and the Python API just print or raise it.
"""

from __future__ import annotations


class JudgeError(Exception):
    """A mistake in the user's input, configuration or files, explained in one line."""


class UnknownTaskError(JudgeError, KeyError):
    """A task name the registry does not know. Also a KeyError, so dict-style lookups behave."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InvalidRequestError(JudgeError):
    """A judge request whose fields do not fit its task: wrong image count, missing or non-string text,
    text that is not valid Unicode."""


class RequestTooLargeError(InvalidRequestError):
    """A judge request over a configured bound (text length in characters or tokens)."""


class InvalidImageError(JudgeError):
    """An image that cannot be judged: not found, not decodable, too many pixels, too elongated."""
