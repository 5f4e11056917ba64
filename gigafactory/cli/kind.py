"""`gigafactory kind-config`: the kind cluster config of a laptop stack."""

from __future__ import annotations

from typing import Annotated

import typer
import yaml

from gigafactory.stack.config import load_stack_config
from gigafactory.stack.kind import DEFAULT_NAME, kind_config
from gigafactory.stack.render import resolve_target

StackOpt = Annotated[str, typer.Option("--stack", "-s", help="Stack name: stacks/Pulumi.<stack>.yaml.")]
NameOpt = Annotated[str, typer.Option("--name", help="kind cluster name (context kind-<name>).")]


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (kubeadm patches) as literal blocks, readable as kind's docs show them."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def kind_config_cmd(stack: StackOpt = "kind", name: NameOpt = DEFAULT_NAME) -> None:
    """Print the kind cluster config (YAML) whose nodes carry the pools' labels and taints.
    Exit 0, or 2 when the stack is not a kind stack."""
    config = load_stack_config(stack)
    site, cluster = resolve_target(config.site, config.cluster, config.platform)
    typer.echo(yaml.dump(kind_config(site, cluster, name), Dumper=_Dumper, sort_keys=False), nl=False)


def register(app: typer.Typer) -> None:
    app.command("kind-config")(kind_config_cmd)
