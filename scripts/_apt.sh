# Sourced by scripts/_venv.sh and .ci/run. `apt_install WHY PACKAGE...` installs Debian packages
# as root without their recommended packages (chromium's recommends alone were 115 packages,
# avahi-daemon among them), after saying which and why.
apt_install() {
  local why=$1
  shift
  echo "apt: installing $* with apt-get --no-install-recommends: $why"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}
