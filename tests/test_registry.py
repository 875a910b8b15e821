"""scripts/registry.py: the entries of the real workspace (through cargo metadata), and a malformed
entry refused with a message naming the crate's Cargo.toml and the key."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("registry_script", REPO / "scripts" / "registry.py")
registry = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(registry)


@pytest.fixture(scope="module")
def packages() -> dict[str, dict]:
    return {p["name"]: p for p in registry.cargo_packages()}


def test_the_workspace_entries(packages):
    reg = registry.load()
    assert sorted(reg) == [
        "license-exports",
        "preflight",
        "push-logs",
        "server-pingbacks",
        "telemetry",
    ]
    assert reg["preflight"]["role"] == "preflight"
    push = reg["push-logs"]
    assert push["source"]["setting"] == "INGEST_SOURCE_PUSH_LOGS"
    assert push["source"]["deployments"] == ["us", "test", "eu"]
    assert reg["telemetry"]["source"]["count"] == 2
    assert reg["license-exports"]["resources"] == {"cpu": "500m", "memory": "256Mi"}
    # The crates without an entry (the runtime, the sample generator) are not images.
    assert "ingest-runtime" in packages and "ingest-runtime" not in reg


def test_the_cli_lists_what_the_scripts_iterate():
    def cli(*args: str) -> str:
        out = subprocess.run(
            [str(REPO / "scripts" / "registry.py"), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert cli("list", "--role", "job").split() == [
        "license-exports",
        "push-logs",
        "server-pingbacks",
        "telemetry",
    ]
    assert "preflight" in json.loads(cli("matrix"))
    assert cli("get", "license-exports", "sample.file_date").strip() == "next"
    assert cli("check").startswith("registry: 5 entries")


def broken(packages, name: str, change) -> str:
    package = copy.deepcopy(packages[name])
    change(package["metadata"]["ingest"])
    with pytest.raises(registry.RegistryError) as err:
        registry.parse_entry(package)
    return str(err.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: m.update(tables=["licenses"]), "[package.metadata.ingest] tables: expected"),
        (lambda m: m.update(resources={"cpu": "1"}), "resources: expected"),
        (lambda m: m["resources"].update(memory="lots"), "resources.memory: expected"),
        (lambda m: m.update(secrets=["mattermost"]), "secrets: expected"),
        (lambda m: m.update(role="cron"), "role: expected one of job, preflight"),
        (lambda m: m.update(tabels=["a.b"]), "got unknown ['tabels']"),
        (lambda m: m["source"].update(count=2), "source.examples: expected 2 example(s), got 1"),
        (lambda m: m["source"].update(examples=["http://x/y"]), "s3://bucket/prefix"),
        (lambda m: m["sample"].update(file_date="tomorrow"), "sample.file_date"),
        (lambda m: m.pop("source"), "expected the key `source`"),
    ],
)
def test_a_malformed_entry_names_the_file_and_the_key(packages, change, expected):
    message = broken(packages, "license-exports", change)
    assert message.startswith("tasks/license-exports/Cargo.toml: "), message
    assert expected in message, message


def test_per_deployment_tables_need_deployments(packages):
    def one_source(meta):
        meta["source"].pop("deployments")
        meta["source"]["examples"] = meta["source"]["examples"][:1]

    message = broken(packages, "push-logs", one_source)
    assert "tasks/push-logs/Cargo.toml" in message and "'{deployment}'" in message
