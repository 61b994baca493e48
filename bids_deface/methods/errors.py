"""Errors the science raises: each names the file and the reason.

An error of one of these types fails one image (exit code 1); any other exception
is a bug (exit code 3).
"""

from __future__ import annotations

from os import PathLike


class BidsDefaceError(Exception):
    """Base of every expected, user-facing failure: the file it concerns and the reason."""

    def __init__(self, path: str | PathLike | None, reason: str):
        self.path = None if path is None else str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class InputImageError(BidsDefaceError):
    """An input image cannot be used: unreadable, truncated, wrong shape or affine."""


class RegistrationError(BidsDefaceError):
    """The template did not register plausibly; defacing would not be trustworthy."""
