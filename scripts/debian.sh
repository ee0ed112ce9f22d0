# Sourced by the setup scripts: install one of Debian's packages when it is missing.
# Usage: debian_install PACKAGE "What it is" (after defining say and fail).

debian_install() {
  local package=$1 what=$2
  [ "$(id -u)" = 0 ] || fail "$what is missing: apt-get install $package (as root)"
  say "installing $what from Debian's packages"
  # A fresh machine's package lists may be empty or stale: update once and retry.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$package" >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
         apt-get install -y -q --no-install-recommends "$package" >/dev/null; } \
    || fail "could not install $what with apt-get"
}
