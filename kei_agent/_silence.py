"""The SDK is silent by default: each of its packages disables its loguru records when imported,
unless the application already turned them on with ``configure_logging`` (which may run before a
client flavour is imported)."""

from __future__ import annotations

from loguru import logger

_sdk_logs_enabled = False


def silence(package: str) -> None:
    """Disable ``package``'s records, unless the application enabled the SDK's logs."""
    if not _sdk_logs_enabled:
        logger.disable(package)


def set_sdk_logs_enabled(enabled: bool) -> None:
    """Remember the application's choice (called by ``configure_logging`` / ``reset_logging``)."""
    global _sdk_logs_enabled
    _sdk_logs_enabled = enabled
