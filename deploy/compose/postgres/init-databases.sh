#!/usr/bin/env bash
# Runs once, on the first start of an empty data volume (postgres image's initdb hook): one role
# and one database per service, each owned by its role (services migrate their own schema).
set -euo pipefail
for s in activities enrolment scoring notify; do
  var="LS_DB_PASSWORD_${s^^}"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v role="learnstreet_$s" -v pw="${!var:?$var is not set}" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'pw';
CREATE DATABASE :"role" OWNER :"role";
SQL
done
