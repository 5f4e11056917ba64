"""One base error, narrow subclasses. The CLI turns each into one line and exit code 2."""

from __future__ import annotations


class GigafactoryError(Exception):
    """Base of every error the suite raises on bad input or configuration."""


class SiteFileError(GigafactoryError):
    """A site file is missing, unreadable, not YAML, or fails the schema.

    The message is one line: ``<file>: <field path>: <what is wrong and what is allowed>``.
    """

    def __init__(self, file: str, path: str, message: str) -> None:
        self.file = file
        self.path = path
        self.message = message
        where = f"{file}: {path}" if path else file
        super().__init__(f"{where}: {message}")


class CatalogError(GigafactoryError):
    """A catalog or policy data file shipped with the package is broken."""


class PolicyConfigError(GigafactoryError):
    """A policy configuration file is missing or invalid."""


class StackConfigError(GigafactoryError):
    """A Pulumi stack configuration is missing a key or points at something that does not exist."""


class ProjectNotFoundError(GigafactoryError):
    """The project folder (with Pulumi.yaml) cannot be found from the working directory."""


class NotFoundError(GigafactoryError, KeyError):
    """A lookup by name failed; the message names what was asked and what is allowed."""

    def __init__(self, what: str, name: str, allowed: list[str], within: str = "") -> None:
        self.what = what
        self.name = name
        self.allowed = allowed
        where = f" in {within}" if within else ""
        super().__init__(f"no {what} {name!r}{where}; allowed: {', '.join(allowed) or '(none)'}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class AddressPlanError(GigafactoryError):
    """An address the suite would emit does not fit its hall's network."""
