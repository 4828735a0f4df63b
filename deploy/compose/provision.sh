#!/usr/bin/env bash
# One-shot provisioning against any Kafka cluster (the `provision` target of the Dockerfile):
# SCRAM users of the services and the kiosks (when LS_PROVISION_SCRAM=true), then topics and
# ACLs from shared/events/topics.py with deploy/local/provision.py. Idempotent: run it after
# every upgrade that changes the catalogue.
#
# Reads the same variables as the services (KAFKA_BOOTSTRAP, KAFKA_ADMIN_USERNAME/_PASSWORD,
# <PRINCIPAL>_KAFKA_USERNAME/_PASSWORD); nothing is written outside /app/.local.
set -euo pipefail
cd /app

# credentials.py fills .local/credentials.env from the environment (generated values only for
# keys the environment does not set; provisioning uses none of those).
python deploy/local/credentials.py >/dev/null

python - <<'PY'
import asyncio, os, sys, time
sys.path.insert(0, "deploy/local")
import credentials, stack

creds = credentials.load()
stack.admin_properties(creds["KAFKA_ADMIN_USERNAME"], creds["KAFKA_ADMIN_PASSWORD"])

deadline = time.monotonic() + float(os.environ.get("LS_PROVISION_WAIT_S", "120"))
while True:
    try:
        asyncio.run(stack.kafka_metadata(creds["KAFKA_BOOTSTRAP"], creds["KAFKA_ADMIN_USERNAME"],
                                         creds["KAFKA_ADMIN_PASSWORD"]))
        break
    except Exception as error:
        if time.monotonic() > deadline:
            sys.exit(f"provision: Kafka at {creds['KAFKA_BOOTSTRAP']} not reachable: {error!r}")
        time.sleep(2)

if os.environ.get("LS_PROVISION_SCRAM", "false").lower() == "true":
    for p in credentials.PRINCIPALS:
        user = creds[f"{p.upper()}_KAFKA_USERNAME"]
        stack.java_tool(
            "kafka.admin.ConfigCommand", "--bootstrap-server", creds["KAFKA_BOOTSTRAP"],
            "--command-config", str(stack.KAFKA_ADMIN_PROPS), "--alter", "--entity-type", "users",
            "--entity-name", user, "--add-config", f"SCRAM-SHA-512=[password={creds[f'{p.upper()}_KAFKA_PASSWORD']}]",
        )
        print(f"provision: SCRAM credentials of {user} set")
PY

exec python deploy/local/provision.py
