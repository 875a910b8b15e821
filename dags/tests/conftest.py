"""Pytest fixtures of the DAG tests; the harness (imported first: it sets AIRFLOW_HOME before
Airflow is imported) is in dag_harness.py."""

from dag_harness import dagbag, deploy_env  # noqa: F401 - fixtures


def pytest_configure(config):
    # Airflow's .airflowignore matcher uses a pathspec API that pathspec deprecates; not ours.
    config.addinivalue_line("filterwarnings", "ignore:GitWildMatchPattern:DeprecationWarning")
