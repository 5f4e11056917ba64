"""The policy engine, one module per concern; each imports only those above it:

- ``config``: the policy file (levels, typed and finite thresholds), checked at the boundary;
- ``resources``: the resource model (resources, values unknown at preview, walkers,
  quantities, image references);
- ``rule``: the one rule type (scope site, stack or resource), structured subjects,
  violations, what a stack deploys;
- ``site_rules`` / ``resource_rules``: the rules, nothing else;
- ``engine``: the catalogue, the packaged policy file, evaluation of a site or of stacks;
- ``docs``: docs/policies.md, the pack's config file and the thresholds' JSON schema.
"""
