"""Pod placement, pod metadata, priority and the Airflow pool come from the deploy-time settings
(`INGEST_POD_SCHEDULING`, `INGEST_POD_SCHEDULING_<JOB>`), reach the pod that
`build_pod_request_obj` builds, and a bad value is an import error naming the setting."""

from __future__ import annotations

import json

import pytest
from dag_harness import EXPECTED, build_pod, load_dagbag

DEFAULTS = {
    "nodeSelector": {"nodegroup": "batch", "kubernetes.io/arch": "amd64"},
    "tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "batch", "effect": "NoSchedule"}
    ],
    "annotations": {
        "cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
        "cost-center": "data",
    },
    "labels": {"team": "data-platform"},
    "priorityClassName": "batch-low",
    "pool": "ingest",
}
PUSH_LOGS = {
    "nodeSelector": {"kubernetes.io/arch": "arm64"},
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "zone", "operator": "In", "values": ["eu-central-1a"]}
                        ]
                    }
                ]
            }
        }
    },
    "annotations": {"cost-center": "push"},
    "priorityClassName": "batch-high",
    "pool": "ingest-push",
    "poolSlots": 2,
}


@pytest.fixture()
def scheduled_bag(deploy_env, monkeypatch):
    monkeypatch.setenv("INGEST_POD_SCHEDULING", json.dumps(DEFAULTS))
    monkeypatch.setenv("INGEST_POD_SCHEDULING_PUSH_LOGS", json.dumps(PUSH_LOGS))
    bag = load_dagbag()
    assert bag.import_errors == {}
    return bag


def test_without_settings_the_pods_keep_kubernetes_defaults(dagbag):
    pod, _ = build_pod(dagbag, "ingest_telemetry", "load")
    assert pod.spec.node_selector in (None, {})
    assert not pod.spec.tolerations
    assert pod.spec.affinity in (None, {})
    assert pod.spec.priority_class_name is None
    assert dagbag.dags["ingest_telemetry"].get_task("load").pool == "default_pool"


def test_defaults_reach_every_job_and_the_job_setting_wins(scheduled_bag):
    from kubernetes.client import ApiClient

    pod, _ = build_pod(scheduled_bag, "ingest_telemetry", "load")
    assert pod.spec.node_selector == DEFAULTS["nodeSelector"]
    tolerations = ApiClient().sanitize_for_serialization(pod.spec.tolerations)
    assert tolerations == DEFAULTS["tolerations"]
    assert pod.metadata.annotations == DEFAULTS["annotations"]
    assert pod.metadata.labels["team"] == "data-platform"
    assert pod.metadata.labels["app.kubernetes.io/name"] == "telemetry"
    assert pod.spec.priority_class_name == "batch-low"
    task = scheduled_bag.dags["ingest_telemetry"].get_task("load")
    assert (task.pool, task.pool_slots) == ("ingest", 1)

    for task_id in EXPECTED["ingest_push_logs"]:
        pod, _ = build_pod(scheduled_bag, "ingest_push_logs", task_id)
        # Merged key by key: the job's arch wins, the default's nodegroup stays.
        assert pod.spec.node_selector == {"nodegroup": "batch", "kubernetes.io/arch": "arm64"}
        assert pod.metadata.annotations == {
            "cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
            "cost-center": "push",
        }
        affinity = ApiClient().sanitize_for_serialization(pod.spec.affinity)
        assert affinity == PUSH_LOGS["affinity"]
        assert pod.spec.priority_class_name == "batch-high"
        task = scheduled_bag.dags["ingest_push_logs"].get_task(task_id)
        assert (task.pool, task.pool_slots) == ("ingest-push", 2)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("INGEST_POD_SCHEDULING", "{not json", "INGEST_POD_SCHEDULING is not JSON"),
        ("INGEST_POD_SCHEDULING", '["a"]', "must be a JSON object, not list"),
        ("INGEST_POD_SCHEDULING", '{"nodeSelecter": {}}', "unknown key(s) nodeSelecter"),
        ("INGEST_POD_SCHEDULING_TELEMETRY", '{"poolSlots": "2"}', "poolSlots must be a JSON int"),
        ("INGEST_POD_SCHEDULING_TELEMETRY", '{"poolSlots": 0}', "poolSlots must be >= 1"),
        ("INGEST_POD_SCHEDULING", '{"labels": {"tier": 3}}', "every value of labels"),
        (
            "INGEST_POD_SCHEDULING",
            '{"labels": {"app.kubernetes.io/managed-by": "me"}}',
            "labels app.kubernetes.io/managed-by are set by the DAGs",
        ),
        ("INGEST_POD_SCHEDULING_TELEMETRY", '{"pool": "my pool"}', "is not an Airflow pool"),
    ],
)
def test_a_bad_setting_is_an_import_error_naming_it(
    deploy_env, monkeypatch, setting, value, message
):
    monkeypatch.setenv(setting, value)
    bag = load_dagbag()
    errors = [e for f, e in bag.import_errors.items() if f.endswith("telemetry.py")]
    assert len(errors) == 1, bag.import_errors
    assert setting in errors[0]
    assert message in errors[0]
