#!/usr/bin/env bash
# Set up everything parcelflow and its tests need on a Debian machine:
# a virtualenv with the package and its dev tools, Tesseract, and (for the
# test suite) PostgreSQL and Redis running on loopback.
# Usage: scripts/setup.sh [--services]
set -euo pipefail
cd "$(dirname "$0")/.."

want_services=0
[ "${1:-}" = "--services" ] && want_services=1

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "setup: need root for: $*" >&2; return 1; fi; }

apt_updated=0
apt_install() {
  [ "$apt_updated" = 1 ] || { as_root apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# Python environment.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade "pip>=25.1"
.venv/bin/python -m pip install -q -e ".[geo,distributed,api]" --group dev

# OCR engine (Debian package).
command -v tesseract >/dev/null || apt_install tesseract-ocr

[ "$want_services" = 1 ] || exit 0

# PostgreSQL on 127.0.0.1:5432 (trust auth for the tests' own databases).
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql postgresql-client
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  conf=/etc/postgresql/$version/main
  if ! grep -q "parcelflow-tests" "$conf/pg_hba.conf"; then
    as_root sed -i '1i host all all 127.0.0.1/32 trust # parcelflow-tests' "$conf/pg_hba.conf"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p 5432
fi

# Redis on 127.0.0.1:6379 (nothing kept on disk).
if ! (command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1); then
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done
fi
