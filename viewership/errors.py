"""Domain exceptions: each carries a message a person can act on, printed as one line."""

from __future__ import annotations


class ViewershipError(Exception):
    """Base class: the CLI prints the message on one line and exits non-zero."""

    exit_code = 1


class UsageError(ViewershipError):
    """A bad argument or a missing home folder."""

    exit_code = 2


class LandingError(ViewershipError):
    """The landing zone cannot be read as the contract requires (no catalog, unreadable file)."""


class PublicationRefused(ViewershipError):
    """A run's checks failed: nothing was published and the tables are as they were."""

    exit_code = 3


class SetupError(ViewershipError):
    """The environment is incomplete (no Java, no runtime jars)."""
