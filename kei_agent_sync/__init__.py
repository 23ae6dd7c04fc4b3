"""The blocking KEI-Agent client: same classes, methods and docstrings as :mod:`kei_agent_async`.

For scripts and Jupyter notebooks: no event loop is involved. Apart from the tiny hand-written
``_backend`` module, the code of this package is generated from :mod:`kei_agent_async` by
``python -m generator`` and checked for drift by ``python -m generator --check``.
"""

from __future__ import annotations

from loguru import logger as _logger

from kei_agent._version import __version__

# Silent by default, like every package of the SDK (loguru disables per package name).
_logger.disable("kei_agent_sync")

__all__ = ["__version__"]
