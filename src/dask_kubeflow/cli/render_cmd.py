"""``dask-kubeflow render``: print one namespace's manifests, for review or GitOps."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from ..kube.names import check_namespace_name, is_label_key, is_label_value  # the rules the policy applies
from ..policy import NamespaceFacts, PolicyError, load_policy, resolve
from ..render import PlatformError, platform_from_env, render_namespace, to_yaml
from .app import app, err_console, fail


def parse_labels(pairs: list[str]) -> dict[str, str]:
    """``k=v`` strings -> labels; a malformed one is an error naming it and the expected form."""
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--label {pair!r} is not of the form key=value, e.g. --label team=ml")
        if not is_label_key(key):
            raise ValueError(
                f"--label {pair!r}: {key!r} is not a valid label key (letters, digits, '-', '_', '.', "
                f"at most 63 characters, optionally prefixed by a DNS name and '/')"
            )
        if not is_label_value(value):
            raise ValueError(
                f"--label {pair!r}: {value!r} is not a valid label value (at most 63 letters, digits, "
                f"'-', '_' or '.', starting and ending with a letter or digit)"
            )
        labels[key] = value
    return labels


@app.command("render")
def render(
    policy: Path = typer.Option(..., "--policy", help="policy YAML file (see deploy/policy.example.yaml)"),
    namespace: str = typer.Option(..., "--namespace", "-n", help="profile namespace to render for"),
    owner: str | None = typer.Option(None, "--owner", help="the profile owner's email (tiers may match on it)"),
    label: list[str] = typer.Option([], "--label", "-l", help="a namespace label key=value; repeat for more"),
    contributor: list[str] = typer.Option([], "--contributor", help="a contributor's email; repeat for more"),
) -> None:
    """Print the YAML stream the controller would apply to NAMESPACE (empty if its tier is disabled)."""
    try:
        check_namespace_name(namespace)
        labels = parse_labels(label)
        platform = platform_from_env(os.environ)  # the controller's DASK_KUBEFLOW_*_NAMESPACE, if set
    except (ValueError, PlatformError) as err:
        raise fail(str(err)) from None
    try:
        loaded = load_policy(policy)
    except PolicyError as err:
        raise fail(f"{err}\nrun 'dask-kubeflow policy check {policy}' for a table of what is wrong") from None
    facts = NamespaceFacts(name=namespace, labels=labels, owner=owner, contributors=tuple(contributor))
    shape = resolve(loaded, facts)
    manifests = render_namespace(facts, shape, platform)
    if not manifests:
        err_console.print(f"namespace {namespace} resolves to tier {shape.tier!r}, which is disabled: nothing to render",
                          highlight=False)
    typer.echo(to_yaml(manifests), nl=False)
