# Sourced by scripts/run and scripts/test: make .venv with caas (and extras "$1") installed,
# one line per phase. pip runs only when pyproject.toml or the extras changed since the last
# install: .venv/caas-installed holds pyproject.toml's SHA-256 and the extras installed with it
# (the install is editable, so changes to src/ need none).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/_apt.sh
source scripts/_apt.sh
EXTRAS=${1:-}
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "caas needs Python 3.11 or newer ($PY is $("$PY" --version 2>&1))" >&2; exit 1
fi
if [ -x .venv/bin/python ]; then
  echo "venv: $ROOT/.venv ($(.venv/bin/python --version))"
else
  echo "venv: creating $ROOT/.venv ($PY -m venv, $("$PY" --version))"
  if ! "$PY" -m venv .venv 2>/dev/null; then
    if [ "$(id -u)" != 0 ]; then echo "$PY -m venv failed: install python3-venv" >&2; exit 1; fi
    apt_install "Debian ships Python's venv module separately" python3-venv
    rm -rf .venv && "$PY" -m venv .venv
  fi
fi
STAMP=.venv/caas-installed
WANT=$(sha256sum pyproject.toml | cut -d ' ' -f 1)
HAVE_HASH="" HAVE_EXTRAS=""
[ -f "$STAMP" ] && read -r HAVE_HASH HAVE_EXTRAS <"$STAMP"
if [ "$HAVE_HASH" = "$WANT" ] && { [ -z "$EXTRAS" ] || [ "$HAVE_EXTRAS" = "$EXTRAS" ]; } && [ -x .venv/bin/caas ]; then
  echo "packages: caas$EXTRAS is installed and pyproject.toml has not changed: not reinstalling"
else
  echo "packages: installing caas$EXTRAS and its dependencies into .venv with pip (a minute or two the first time)"
  rm -f "$STAMP"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".$EXTRAS"
  echo "$WANT $EXTRAS" >"$STAMP"
fi
# The netns driver (the default as root) runs nft, OpenSSH's sshd and ip: install them when missing
# (ping too: instances of the host image share the host's programs, and the tests ping).
if [ "$(id -u)" = 0 ]; then
  NEED=()
  command -v nft >/dev/null || [ -x /usr/sbin/nft ] || NEED+=(nftables)
  [ -x /usr/sbin/sshd ] || NEED+=(openssh-server)
  command -v ip >/dev/null || [ -x /usr/sbin/ip ] || NEED+=(iproute2)
  command -v ping >/dev/null || [ -x /usr/bin/ping ] || NEED+=(iputils-ping)
  if [ ${#NEED[@]} -gt 0 ]; then
    apt_install "the netns driver (caas's default as root) runs nft, sshd and ip in its instances' namespaces, and ping" \
      "${NEED[@]}"
  fi
  # The slurm profile on the host image runs the host's Slurm, munge and Open MPI in the instances.
  if [ ! -x /usr/sbin/slurmctld ] || [ ! -x /usr/sbin/slurmd ] || [ ! -x /usr/sbin/munged ] || ! command -v mpicc >/dev/null; then
    apt_install "the slurm profile's clusters on the host image run Debian's Slurm, munge and Open MPI" \
      slurmctld slurmd slurm-client munge openmpi-bin libopenmpi-dev
  fi
fi
