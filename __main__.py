"""The Pulumi program: read the stack config, build one GpuCluster, export what it made.

Thin: the typed stack config (gigafactory.stack.config, keys and defaults declared in
Pulumi.yaml) and the program body (components.program) are shared with the engine that
``gigafactory up`` drives through the Automation API, so both run the same code.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from components.program import program
from gigafactory.stack.config import from_strings

settings = from_strings(pulumi.get_stack(), pulumi.runtime.get_config, Path(__file__).resolve().parent)
program(settings, Path(__file__).resolve().parent)
