# Sourced by scripts/run and scripts/test: make .venv with caas (and extras "$1") installed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "caas needs Python 3.11 or newer ($PY is $("$PY" --version 2>&1))" >&2; exit 1
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    # Debian ships venv separately.
    if [ "$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q python3-venv; else
      echo "python3 -m venv failed: install python3-venv" >&2; exit 1; fi
    rm -rf .venv && "$PY" -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".${1:-}"
# The netns driver (the default as root) runs nft, OpenSSH's sshd and ip: install them when missing
# (ping too: instances of the host image share the host's programs, and the tests ping).
if [ "$(id -u)" = 0 ]; then
  NEED=()
  command -v nft >/dev/null || [ -x /usr/sbin/nft ] || NEED+=(nftables)
  [ -x /usr/sbin/sshd ] || NEED+=(openssh-server)
  command -v ip >/dev/null || [ -x /usr/sbin/ip ] || NEED+=(iproute2)
  command -v ping >/dev/null || [ -x /usr/bin/ping ] || NEED+=(iputils-ping)
  if [ ${#NEED[@]} -gt 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${NEED[@]}"
  fi
fi
