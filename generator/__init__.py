"""Code generation for the KEI-Agent SDK: everything derived from ``openapi/kei-agent.yaml``.

``python -m generator`` regenerates every derived artefact; ``python -m generator --check``
regenerates into a temporary directory and fails with a unified diff when the committed files
differ; ``python -m generator --changes [REV]`` reports how the spec changed since a git revision.

Layout:

* :mod:`generator.steps` - the list of generation steps (each renders one target directory).
* :mod:`generator.lowlevel` - step 1: openapi-python-client -> ``kei_agent/_generated``.
* :mod:`generator.contract` - step 2: ``kei_agent/_contract`` (spec.json and the operation table).
* :mod:`generator.sync_twin` - step 3: ``kei_agent_sync`` from ``kei_agent_async`` (unasync).
* :mod:`generator.postprocess` - pinned, isolated ruff fix/format and the do-not-edit header.
* :mod:`generator.drift` - render into a temp dir, then swap (generate) or diff (check).
* :mod:`generator.changes` - the spec change report (breaking / compatible).
* ``generator/templates`` - overrides of openapi-python-client templates (path parameters encoded
  with their dots so no dot segment changes the target, finite timeout, no secret
  in ``repr``, non-standard status codes, models readable as mappings).
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = REPO_ROOT / "openapi" / "kei-agent.yaml"

#: Tool versions the committed output was produced with; other versions produce other bytes.
PINNED_VERSIONS = {"openapi-python-client": "0.29.1", "ruff": "0.17.6", "unasync": "0.6.0"}
