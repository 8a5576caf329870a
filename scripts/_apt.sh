# Sourced by scripts/_venv.sh and .ci/run. `apt_install WHY PACKAGE...` installs Debian packages
# as root without their recommended packages (chromium's recommends alone were 115 packages,
# avahi-daemon among them), after saying which and why. The package lists are updated once per
# run (CAAS_APT_UPDATED, exported, so .ci/run's update serves the scripts/test it runs).
apt_install() {
  local why=$1
  shift
  echo "apt: installing $* with apt-get --no-install-recommends: $why"
  if [ -z "${CAAS_APT_UPDATED:-}" ]; then
    apt-get update -q
    export CAAS_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}
