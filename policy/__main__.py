"""The gigafactory policy pack: `pulumi preview --policy-pack policy --policy-pack-config policy/policy-config.json`.

Thin wiring only: the policies come from gigafactory_policies.py, the rules from the library.
Constructing PolicyPack starts the analyzer server and blocks, so nothing imports this file.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gigafactory_policies import PACK_NAME, policies
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name=PACK_NAME,
    policies=policies(),
    # Each policy carries its own level from gigafactory/data/policy.yaml; this is only the
    # fallback for a policy without one.
    enforcement_level=EnforcementLevel.MANDATORY,
)
