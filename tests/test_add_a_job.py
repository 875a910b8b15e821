"""docs/dags.md, "Add a job end to end", done for real: a copy of the repository gets a new job
from one new crate (tasks/license-exports copied as `widget-exports`, with its own table) and one
new DAG file (dags/license_exports.py copied), touching no other file by hand. Then the job
registry's generator refreshes its generated files, and every part that must know the job does:
the workspace builds it, its `--print-contract` works, the DAG contract test and the DagBag load
cover it, the chart renders its settings and its Secret keys (the real helm), preflight checks it,
and the image check and the images workflow's matrix include it.

The build shares CARGO_TARGET_DIR with the main build: registry dependencies and, since cargo
hashes path crates relative to the workspace root, ingest-runtime are reused, so only the new
crate compiles (about a minute the first time, on a fresh target directory).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import binary, clean_env

REPO = Path(__file__).resolve().parents[1]
NEW = "widget-exports"
NEW_KEY = "WIDGET_EXPORTS"
NEW_TABLE = "widgets.exports"
# What `scripts/registry.py write` may change for a new job, and Cargo.lock (cargo adds the crate).
GENERATED = {
    "dags/ingest/registry.json",
    "helm/ingest-tasks/values.yaml",
    "helm/ingest-tasks/values.schema.json",
}
UPDATED_BY_CARGO = {"Cargo.lock"}


def target_dir() -> Path:
    """The main build's target directory (so dependencies are reused)."""
    if os.environ.get("CARGO_TARGET_DIR"):
        return Path(os.environ["CARGO_TARGET_DIR"])
    bins = os.environ.get("INGEST_BIN_DIR")
    if bins and Path(bins).name == "debug":
        return Path(bins).parent
    return Path.home() / ".cache" / "ingest-tasks" / "target"


def helm() -> str:
    tools = Path(os.environ.get("INGEST_TOOLS", Path.home() / ".cache" / "ingest-tasks" / "tools"))
    found = shutil.which("helm", path=f"{tools / 'bin'}:{os.environ.get('PATH', '')}")
    if not found:
        pytest.fail("helm not found: run scripts/install-tools.sh", pytrace=False)
    return found


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 900):
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under `root`."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def copy_repository(dest: Path) -> None:
    """The files git knows (tracked, and new ones not ignored), as a checkout would have them."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], REPO)
    assert listed.returncode == 0, listed.stderr
    for rel in filter(None, listed.stdout.split("\0")):
        src = REPO / rel
        if src.is_file():  # a tracked file deleted in the working tree is not copied
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)  # keeps mtimes: cargo sees the shared crates as built


def renamed(text: str) -> str:
    return (
        text.replace("license-exports", NEW)
        .replace("license_exports", NEW.replace("-", "_"))
        .replace("LICENSE_EXPORTS", NEW_KEY)
        .replace("licenses.licenses", NEW_TABLE)
    )


def add_the_job(root: Path) -> None:
    """The guide's two steps: the crate (a copy of license-exports under the new name, with its
    own table) and the DAG file."""
    crate = root / "tasks" / NEW
    shutil.copytree(root / "tasks" / "license-exports", crate)
    for path in crate.rglob("*"):
        if path.suffix in (".rs", ".toml"):
            path.write_text(renamed(path.read_text()))
    dag = root / "dags" / "license_exports.py"
    (root / "dags" / f"{NEW.replace('-', '_')}.py").write_text(renamed(dag.read_text()))


@dataclass
class Scratch:
    root: Path
    target: Path
    by_hand: list[str]
    regenerated: list[str]
    stale_before: str


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Scratch:
    root = tmp_path_factory.mktemp("repo")
    copy_repository(root)
    before = tree(root)
    add_the_job(root)
    after = tree(root)
    by_hand = sorted(p for p in after if before.get(p) != after[p])

    target = target_dir()
    env = {**os.environ, "CARGO_TARGET_DIR": str(target), "CARGO_TERM_COLOR": "never"}
    built = run(["cargo", "build", "-p", NEW], root, env)
    assert built.returncode == 0, built.stderr[-3000:]

    stale = run(["scripts/registry.py", "check"], root)
    wrote = run(["scripts/registry.py", "write"], root)
    assert wrote.returncode == 0, wrote.stderr
    regenerated = sorted(p for p, h in tree(root).items() if after.get(p) != h)
    return Scratch(root, target, by_hand, regenerated, stale.stderr if stale.returncode else "")


def test_a_new_job_is_one_crate_and_one_dag_file(scratch):
    crate = [p for p in scratch.by_hand if p.startswith(f"tasks/{NEW}/")]
    dag = [p for p in scratch.by_hand if p.startswith("dags/")]
    assert dag == [f"dags/{NEW.replace('-', '_')}.py"]
    assert sorted(crate + dag) == scratch.by_hand, "a file outside the crate and the DAG changed"
    assert f"tasks/{NEW}/Cargo.toml" in crate
    # What the generator and cargo refresh, no more.
    assert set(scratch.regenerated) == GENERATED | UPDATED_BY_CARGO, scratch.regenerated
    print(
        f"\nadd a job: {len(scratch.by_hand)} files by hand ({len(crate)} in tasks/{NEW}/, "
        f"{len(dag)} DAG file), {len(GENERATED)} regenerated by scripts/registry.py write, "
        f"{len(UPDATED_BY_CARGO)} updated by cargo"
    )


def test_the_registry_check_catches_the_stale_files_and_passes_after_write(scratch):
    for path in GENERATED:
        assert path in scratch.stale_before, (path, scratch.stale_before)
    again = run(["scripts/registry.py", "check"], scratch.root)
    assert again.returncode == 0, again.stderr
    listed = run(["scripts/registry.py", "list", "--role", "job"], scratch.root)
    assert NEW in listed.stdout.split()


def test_the_workspace_builds_it_and_it_prints_its_contract(scratch):
    out = run([str(scratch.target / "debug" / NEW), "--print-contract"], scratch.root)
    assert out.returncode == 0, out.stderr
    contract = json.loads(out.stdout)
    assert contract["job"] == NEW
    assert contract["default_table"] == NEW_TABLE
    help_text = run([str(scratch.target / "debug" / NEW), "--help"], scratch.root).stdout
    assert f"Usage: {NEW}" in help_text


def test_the_dag_tests_cover_it(scratch):
    """The scratch copy's own DAG tests, on the new job: the DagBag load, the secrets entry and
    the contract test against the new binary (run in a separate pytest, as CI would)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("INGEST_", "AIRFLOW_", "PYTEST"))
    }
    env["INGEST_BIN_DIR"] = str(scratch.target / "debug")
    wanted = {
        "test_dagbag_loads_every_dag_without_import_errors",
        "test_every_job_has_a_dag_and_a_secrets_entry",
        f"test_pods_match_the_binary_contract[{NEW}]",
        f"test_the_binary_accepts_the_rendered_pod_command[ingest_{NEW_KEY.lower()}-load]",
        f"test_dag_has_what_operations_needs[ingest_{NEW_KEY.lower()}]",
    }
    selection = " or ".join(
        ["widget", "dagbag_loads_every_dag", "every_job_has_a_dag_and_a_secrets_entry"]
    )
    out = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "dags/tests",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rA",
            "-k",
            selection,
        ],
        scratch.root,
        env,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    # -rA: one "PASSED dags/tests/<file>::<test id>" line per passed test.
    passed = {
        line.split("::", 1)[1].strip()
        for line in out.stdout.splitlines()
        if line.startswith("PASSED ") and "::" in line
    }
    assert wanted <= passed, f"missing: {wanted - passed}\n{out.stdout[-2000:]}"


def render(root: Path, *args: str) -> subprocess.CompletedProcess:
    return run([helm(), "template", "x", str(root / "helm" / "ingest-tasks"), *args], root)


def test_the_chart_renders_its_settings_and_secret_keys(scratch):
    import yaml

    source = "s3://acme-widgets/exports"
    out = render(
        scratch.root,
        "--set",
        f"jobs.{NEW}.sources={{{source}}}",
        "--set",
        "preflight.hook.enabled=true",
        "--set",
        "image.tag=0.9.0",
        # The chart-managed Secret (opt-in), to see which keys the chart gives it.
        "--set",
        "secret.create=true",
    )
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    data = config["data"]
    assert data[f"INGEST_IMAGE_{NEW_KEY}"] == f"ghcr.io/acme/ingest-tasks/{NEW}:0.9.0"
    assert data[f"INGEST_SOURCE_{NEW_KEY}"] == source
    (test_pod,) = [d for d in docs if d["kind"] == "Pod" and "test-images" in d["metadata"]["name"]]
    assert NEW in [c["name"] for c in test_pod["spec"]["containers"]]
    (hook,) = [d for d in docs if d["kind"] == "Job"]
    (container,) = hook["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert NEW in env["INGEST_JOBS"].split(",")
    assert env[f"INGEST_SOURCE_{NEW_KEY}"] == source
    # The Secret the job pods read holds a key for every secret its registry entry declares.
    registry = json.loads((scratch.root / "dags/ingest/registry.json").read_text())
    (secret,) = [
        d for d in docs
        if d["kind"] == "Secret" and not d["metadata"]["name"].endswith("-preflight-candidate")
    ]
    for env_name in registry["jobs"][NEW]["secrets"]:
        assert env_name.lower().replace("_", "-") in secret["stringData"], env_name

    lint = run([helm(), "lint", "--strict", str(scratch.root / "helm/ingest-tasks")], scratch.root)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # Its values have the single-source shape; a misspelt job is still refused.
    wrong = render(scratch.root, "--set", f"jobs.{NEW}.deployments={{us}}")
    assert wrong.returncode != 0 and "additional properties 'deployments'" in wrong.stderr
    typo = render(scratch.root, "--set", "jobs.widget-export.enabled=true")
    assert typo.returncode != 0 and "additional properties 'widget-export'" in typo.stderr
    # The unmodified chart does not know the job: the regenerated schema is what admits it.
    before = render(REPO, "--set", f"jobs.{NEW}.enabled=true")
    assert before.returncode != 0 and f"additional properties '{NEW}'" in before.stderr


def test_preflight_knows_it(scratch):
    """preflight's default job list is the registry file it embeds (now listing the job), and in
    a deployment it checks the jobs the chart names: run on the chart's hook env, it checks the
    new job's source (none is configured here, which it reports)."""
    embedded = (scratch.root / "tasks/preflight/src/plan.rs").read_text()
    assert 'include_str!("../../../dags/ingest/registry.json")' in embedded
    registry = json.loads((scratch.root / "dags/ingest/registry.json").read_text())
    assert NEW in registry["jobs"]

    out = render(scratch.root, "--set", "preflight.hook.enabled=true")
    assert out.returncode == 0, out.stderr
    import yaml

    (hook,) = [d for d in yaml.safe_load_all(out.stdout) if d and d["kind"] == "Job"]
    jobs = {e["name"]: e["value"] for e in hook["spec"]["template"]["spec"]["containers"][0]["env"]}
    result = run(
        [str(binary("preflight")), "--skip-kubernetes"],
        scratch.root,
        clean_env(
            {
                "INGEST_JOBS": jobs["INGEST_JOBS"],
                "KUBECONFIG": "/nonexistent/kubeconfig",
                "INGEST_LOG_FORMAT": "json",
            }
        ),
        timeout=120,
    )
    doc = next(
        json.loads(line)
        for line in reversed(result.stdout.splitlines())
        if line.startswith("{") and '"preflight"' in line
    )
    rows = {c["jobs"]: c for c in doc["checks"] if c["check"] == "s3-list"}
    assert NEW in rows, rows
    assert rows[NEW]["target"] == f"INGEST_SOURCE_{NEW_KEY}*"
    assert "no source configured" in rows[NEW]["detail"]


def test_the_image_check_and_the_images_workflow_include_it(scratch):
    import yaml

    # check-images iterates the registry; --list shows what it would build and load.
    listed = run(["scripts/check-images.sh", "--list"], scratch.root)
    assert listed.returncode == 0, listed.stderr
    lines = dict(line.split("|", 1) for line in listed.stdout.splitlines())
    assert lines[NEW] == f"licenses --rows 100|2026-11-21||{NEW_TABLE}"

    # The images workflow's matrix is `scripts/registry.py matrix`, computed in its first job.
    workflow = yaml.safe_load((scratch.root / ".github/workflows/images.yml").read_text())
    image = workflow["jobs"]["image"]
    assert image["needs"] == "registry"
    assert image["strategy"]["matrix"]["job"] == "${{ fromJSON(needs.registry.outputs.images) }}"
    steps = workflow["jobs"]["registry"]["steps"]
    assert any("scripts/registry.py matrix" in s.get("run", "") for s in steps)
    matrix = run(["scripts/registry.py", "matrix"], scratch.root)
    assert NEW in json.loads(matrix.stdout)

    # The Dockerfile builds any image from its one runtime stage by --build-arg JOB.
    dockerfile = (scratch.root / "Dockerfile").read_text()
    stages = [line.split()[-1] for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert stages[-1] == "runtime" and not {"license-exports", NEW} & set(stages)
    assert "COPY --from=bin /out/${JOB} /usr/local/bin/job" in dockerfile
    assert 'ENTRYPOINT ["/usr/local/bin/job"]' in dockerfile
