"""The rule every ledger backend applies to the schema version it finds: older upgrades, newer is refused."""

from __future__ import annotations

from msgrelay.errors import ConfigurationError

__all__ = ["NewerSchemaError", "check_version"]


class NewerSchemaError(ConfigurationError):
    """The ledger was written by a newer msgrelay: its tables would be misread, so it is not opened.

    A `ConfigurationError`, so the CLI prints it as one line (exit 2): the fix is the setup, not a retry.
    """


def check_version(found: int, supported: int, where: str) -> None:
    """Raise `NewerSchemaError` when ``found`` is above the ``supported`` version.

    Args:
        found: the version stored in the ledger.
        supported: the newest version this msgrelay knows.
        where: the ledger's file or database, without credentials.
    """
    if found > supported:
        raise NewerSchemaError(
            f"{where} was written by a newer msgrelay (schema {found}; this one knows up to {supported}): "
            "upgrade msgrelay, or point MSGRELAY_LEDGER_URL at another ledger"
        )
