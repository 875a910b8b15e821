"""The two example values files for the Airflow chart (helm/ingest-tasks/examples): the official
chart's and Bitnami's give the DAGs the same things, under the names this chart renders.

Neither Airflow chart can be fetched on this machine (the official one is served from
airflow.apache.org, Bitnami's from an OCI registry), so neither is rendered here and their
schemas are not checked. What runs: both files parse; each wires the ConfigMap's settings into
every Airflow component that parses or runs the DAGs, the webhook from the jobs' Secret, the
triggerer (the deadline alerts run there) and the DAG bundle at `dags/` of this repository; and
the ConfigMap and Secret names they use are the ones `helm template` of this chart renders for
the release `ingest-tasks` (yamllint runs on them in scripts/check-deploy.sh).
"""

from __future__ import annotations

import subprocess

import yaml

from tests.rehearsal.cluster import CHART, helm_binary

EXAMPLES = CHART / "examples"


def rendered_names() -> tuple[str, str]:
    out = subprocess.run(
        [helm_binary(), "template", "ingest-tasks", str(CHART), "--namespace", "airflow"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    (configmap,) = [d for d in yaml.safe_load_all(out.stdout) if d and d["kind"] == "ConfigMap"]
    return configmap["metadata"]["name"], configmap["data"]["INGEST_SECRET_NAME"]


def test_the_official_chart_example_wires_the_dags():
    configmap, secret = rendered_names()
    values = yaml.safe_load((EXAMPLES / "airflow-values.yaml").read_text())
    # extraEnvFrom reaches every Airflow component in the official chart.
    env_from = yaml.safe_load(values["extraEnvFrom"])
    assert env_from == [{"configMapRef": {"name": configmap}}]
    assert values["secret"] == [
        {
            "envName": "INGEST_ALERT_WEBHOOK_URL",
            "secretName": secret,
            "secretKey": "mattermost-webhook-url",
        }
    ]
    assert values["triggerer"]["enabled"] is True
    assert values["dags"]["gitSync"]["enabled"] is True
    assert values["dags"]["gitSync"]["subPath"] == "dags"


def test_the_bitnami_chart_example_wires_the_same():
    configmap, secret = rendered_names()
    values = yaml.safe_load((EXAMPLES / "airflow-bitnami-values.yaml").read_text())
    # Bitnami's top-level extraEnvVarsCM / extraEnvVars go to every Airflow container.
    assert values["extraEnvVarsCM"] == configmap
    assert values["extraEnvVars"] == [
        {
            "name": "INGEST_ALERT_WEBHOOK_URL",
            "valueFrom": {"secretKeyRef": {"name": secret, "key": "mattermost-webhook-url"}},
        }
    ]
    assert values["dagProcessor"]["enabled"] is True
    assert values["triggerer"]["enabled"] is True
    (repo,) = values["git"]["dags"]["repositories"]
    assert values["git"]["dags"]["enabled"] is True
    assert repo["path"] == "dags"
    assert values["serviceAccount"]["name"] == "airflow"
