#!/usr/bin/env bash
# Creates (or updates) the Python venv the tests use, from requirements-test.txt.
# Skips pip entirely when the requirements have not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${INGEST_VENV:-$HOME/.cache/ingest-tasks/venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.requirements.sha256"
want="$(sha256sum requirements-test.txt | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
  echo "$want" > "$stamp"
fi
[ "$(cat "$venv/.requirements-dags.sha256" 2>/dev/null)" = "$(sha256sum requirements-dags.txt | cut -d' ' -f1)" ] || { "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dags.txt && sha256sum requirements-dags.txt | cut -d' ' -f1 > "$venv/.requirements-dags.sha256"; }
[ "$(cat "$venv/.requirements-snowflake.sha256" 2>/dev/null)" = "$(sha256sum requirements-snowflake.txt | cut -d' ' -f1)" ] || { "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r <(grep -v '^fakesnow' requirements-snowflake.txt) && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "$(grep '^fakesnow' requirements-snowflake.txt)" && sha256sum requirements-snowflake.txt | cut -d' ' -f1 > "$venv/.requirements-snowflake.sha256"; }
ext="$HOME/.duckdb/extensions/v1.5.5/linux_amd64"; [ -f "$ext/httpfs.duckdb_extension" ] || { mkdir -p "$ext" && cp "$("$venv/bin/python" -c 'import duckdb_extension_httpfs, pathlib; print(pathlib.Path(duckdb_extension_httpfs.__file__).parent)')/extensions/v1.5.5/httpfs.duckdb_extension" "$ext/"; }
"$venv/bin/python" -c 'import duckdb, moto, boto3, pytest; print("venv ok:", duckdb.__version__, "moto", moto.__version__)'
