"""Exceptions that the CLI turns into one-line messages and exit codes."""

from __future__ import annotations

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


class DograhError(Exception):
    """A known failure: the CLI prints the message and exits with ``exit_code``."""

    exit_code = EXIT_PROBLEMS


class InputError(DograhError):
    """An input value (flag, environment variable or prompt answer) is invalid."""

    exit_code = EXIT_USAGE

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


class UsageError(DograhError):
    """The command cannot run: a missing directory, an unreadable file, bad usage."""

    exit_code = EXIT_USAGE


class ExistingInstallError(DograhError):
    """An install already exists and the user did not ask to overwrite it."""


class LockedError(DograhError):
    """Another dograh process holds the install directory's lock."""
