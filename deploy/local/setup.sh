#!/usr/bin/env bash
# Brings this checkout to a runnable state; idempotent and fast when nothing is missing.
#   1. Debian packages (installed with apt-get when root; otherwise named and exit 1)
#   2. .venv with the locked dependencies and the project (re-installed only when the lock changes)
#   3. Kafka jars copied by Maven (only when .local/kafka/libs is missing or stale)
#   4. .local/credentials.env (generated once; missing keys added later)
#   5. Keycloak, the local identity provider (fetched with Maven only when .local/keycloak lacks it)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
LOCAL="$ROOT/.local"
mkdir -p "$LOCAL/setup"
chmod 755 "$LOCAL"

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

# --- 1. Debian packages --------------------------------------------------------------------
DEB_PACKAGES=(postgresql-15 openjdk-17-jre-headless maven kcat prometheus wrk chromium chromium-driver fonts-noto-cjk)
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done
if ! command -v python3.11 >/dev/null 2>&1 && ! python3 -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
  missing+=(python3.11 python3.11-venv)
fi
if ((${#missing[@]})); then
  if [[ "$(id -u)" != 0 ]]; then
    echo "[setup] missing Debian packages (install them as root): ${missing[*]}" >&2
    exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The postgresql-15 package may start the system cluster on 5432; ours is separate (port 55432).

# --- 2. Python venv --------------------------------------------------------------------------
PYTHON_BIN="$(command -v python3.11 || command -v python3)"
if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv with $PYTHON_BIN"
  "$PYTHON_BIN" -m venv .venv
fi
pip_stamp="$LOCAL/setup/pip.stamp"
want="$(cat pyproject.toml requirements/dev.txt | sha256sum | cut -d" " -f1)"
if [[ "$(cat "$pip_stamp" 2>/dev/null || true)" != "$want" ]]; then
  # Every file pip fetches must match a hash of the lock (make lock writes it); the project itself
  # is then built with the locked setuptools, so nothing unhashed enters the environment.
  say "installing the locked dependencies into .venv (requirements/dev.txt, hash-checked)"
  if ! { .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements/dev.txt &&
         .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . ; } \
      >"$LOCAL/setup/pip.log" 2>&1; then
    cat "$LOCAL/setup/pip.log" >&2
    exit 1
  fi
  echo "$want" >"$pip_stamp"
fi

# --- 3. Kafka jars -----------------------------------------------------------------------------
POM=deploy/local/kafka/pom.xml
LIBS="$LOCAL/kafka/libs"
libs_stamp="$LOCAL/kafka/libs.stamp"
kafka_version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"
want="$(sha256sum "$POM" | cut -d' ' -f1)"
libs_ok=1
for jar in "kafka_2.13-$kafka_version.jar" "kafka-tools-$kafka_version.jar" "kafka-clients-$kafka_version.jar"; do
  [[ -f "$LIBS/$jar" ]] || libs_ok=0
done
compgen -G "$LIBS/log4j-core-*.jar" >/dev/null || libs_ok=0
[[ "$(cat "$libs_stamp" 2>/dev/null || true)" == "$want" ]] || libs_ok=0
if ((libs_ok == 0)); then
  say "copying Kafka $kafka_version jars with Maven into .local/kafka/libs"
  rm -rf "$LIBS"
  mkdir -p "$LIBS"
  if ! mvn -B -q -f "$POM" org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$LIBS" >"$LOCAL/setup/maven.log" 2>&1; then
    cat "$LOCAL/setup/maven.log" >&2
    exit 1
  fi
  echo "$want" >"$libs_stamp"
fi

# --- 4. credentials ------------------------------------------------------------------------------
.venv/bin/python deploy/local/credentials.py

# --- 5. Keycloak ---------------------------------------------------------------------------------
kc_version="$(sed -n 's/^VERSION = "\(.*\)"$/\1/p' deploy/local/keycloak.py)"
if [[ "$(cat "$LOCAL/keycloak/dist.stamp" 2>/dev/null || true)" != "$kc_version" \
    || ! -x "$LOCAL/keycloak/keycloak-$kc_version/bin/kc.sh" ]]; then
  say "fetching Keycloak $kc_version with Maven into .local/keycloak"
  if ! .venv/bin/python deploy/local/keycloak.py setup >"$LOCAL/setup/keycloak.log" 2>&1; then
    cat "$LOCAL/setup/keycloak.log" >&2
    exit 1
  fi
fi
