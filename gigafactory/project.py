"""Where the project is: the folder holding ``Pulumi.yaml``, ``stacks/``, ``sites/`` and ``playbooks/``.

The project is always the one the user works in, never the folder the package was
installed from: a pull request checked in a second checkout or worktree must be checked
against its own files, so the gate fails closed when it cannot find them.

Resolution, first match wins:

1. an explicit folder (the CLI's ``--project-dir``);
2. the environment variable ``GIGAFACTORY_PROJECT_DIR``;
3. the working directory or its nearest parent that holds ``Pulumi.yaml``.
"""

from __future__ import annotations

import os
from pathlib import Path

from gigafactory.errors import ProjectNotFoundError

ENV_VAR = "GIGAFACTORY_PROJECT_DIR"
MARKER = "Pulumi.yaml"

_override: Path | None = None


def set_project_dir(path: Path | None) -> None:
    """Pin the project folder for this process (the CLI's ``--project-dir``); None unpins."""
    global _override
    _override = path


def project_dir(start: Path | None = None) -> Path:
    """The project folder (see the module docstring). Raises ProjectNotFoundError."""
    explicit = _override or (Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else None)
    if explicit is not None:
        root = explicit.expanduser().resolve()
        if not (root / MARKER).is_file():
            source = "--project-dir" if _override is not None else ENV_VAR
            raise ProjectNotFoundError(
                f"{source} {explicit}: no {MARKER} there; allowed: a gigafactory project folder"
            )
        return root
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / MARKER).is_file():
            return folder
    raise ProjectNotFoundError(
        f"no {MARKER} in {here} or any parent folder: run inside a gigafactory checkout, "
        f"or give --project-dir or {ENV_VAR}"
    )
