"""The gigafactory policy pack: `pulumi preview --policy-pack policy --policy-pack-config policy/policy-config.json`.

Thin wiring only: the policies come from gigafactory_policies.py (next to this file), the
rules from the installed gigafactory library. Constructing PolicyPack starts the analyzer
server and blocks, so nothing imports this file.
"""

import importlib.util
import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

# The sibling module by its path: nothing is added to sys.path, so `gigafactory` is always
# the installed library, never a folder that happens to sit next to the pack.
_spec = importlib.util.spec_from_file_location(
    "gigafactory_policies", Path(__file__).resolve().with_name("gigafactory_policies.py")
)
assert _spec is not None and _spec.loader is not None
_pack = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _pack
_spec.loader.exec_module(_pack)

PolicyPack(
    name=_pack.PACK_NAME,
    policies=_pack.policies(),
    # Each policy carries its own level from gigafactory/data/policy.yaml; this is only the
    # fallback for a policy without one.
    enforcement_level=EnforcementLevel.MANDATORY,
)
