#!/usr/bin/env bash
# One-shot provisioning against any Kafka cluster (the `provision` target of the Dockerfile):
# SCRAM users of the services and the kiosks (when LS_PROVISION_SCRAM=true), then topics and
# ACLs from shared/events/topics.py with deploy/local/provision.py. Idempotent: run it after
# every upgrade that changes the catalogue.
#
# Reads the same variables as the services (KAFKA_BOOTSTRAP, KAFKA_SECURITY_PROTOCOL,
# KAFKA_SSL_CA_FILE, KAFKA_ADMIN_USERNAME/_PASSWORD, <PRINCIPAL>_KAFKA_USERNAME/_PASSWORD) and talks
# to Kafka through its admin protocol only (deploy/local/kafka_admin.py): no Java tool, so the image
# needs no JVM; nothing is written outside /app/.local.
set -euo pipefail
cd /app

# credentials.py fills .local/credentials.env from the environment (generated values only for
# keys the environment does not set; provisioning uses none of those).
python deploy/local/credentials.py >/dev/null

python - <<'PY'
import os, sys
sys.path.insert(0, "deploy/local")
import credentials, kafka_admin

creds = credentials.load()
# KAFKA_SECURITY_PROTOCOL (SASL_SSL in production) and KAFKA_SSL_CA_FILE come from the environment
try:
    conn = kafka_admin.AdminConnection.from_settings(creds)
    kafka_admin.wait_reachable(conn, float(os.environ.get("LS_PROVISION_WAIT_S", "120")))
except (kafka_admin.AdminSettingsError, RuntimeError) as error:
    sys.exit(f"provision: {error}")

if os.environ.get("LS_PROVISION_SCRAM", "false").lower() == "true":
    users = {creds[f"{p.upper()}_KAFKA_USERNAME"]: creds[f"{p.upper()}_KAFKA_PASSWORD"] for p in credentials.PRINCIPALS}
    kafka_admin.upsert_scram_users(conn.confluent_admin(), users)
    print(f"provision: SCRAM credentials of {', '.join(sorted(users))} set")
PY

exec python deploy/local/provision.py
