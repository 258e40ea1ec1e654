#!/bin/sh
# apt-security-upgrade.sh: install the pending security upgrades, and only those
# (pattern apt-security-updates-pending).
#
# Verbs (passed as $1 by the fish wrapper):
#   run       apt-get update, then `apt-get install --only-upgrade` of the packages that
#             `apt-get -s upgrade` would take from a *-security suite (keeps existing conffiles)
#   verify    `apt-get -s upgrade` lists no security upgrade; says whether a reboot is required
#   rollback  not supported (exit 64): downgrading security fixes is not a safe automatic step
#
# Settings (environment, or /etc/fish/catalog.env, a root-owned file sourced if readable):
#   FISH_APT_LOCK_TIMEOUT  seconds to wait for the dpkg lock (unattended-upgrades may hold it) (default 300)
#   FISH_REBOOT_REQUIRED_FILE                                  (default /var/run/reboot-required)
# `apt-get` is taken from PATH.
set -eu

FISH_ENV_FILE=${FISH_ENV_FILE:-/etc/fish/catalog.env}
if [ -r "$FISH_ENV_FILE" ]; then
  # shellcheck source=/dev/null
  . "$FISH_ENV_FILE"
fi

LOCK_TIMEOUT=${FISH_APT_LOCK_TIMEOUT:-300}
REBOOT_REQUIRED_FILE=${FISH_REBOOT_REQUIRED_FILE:-/var/run/reboot-required}
DEBIAN_FRONTEND=noninteractive
export DEBIAN_FRONTEND

log() { printf '%s\n' "apt-security-upgrade: $*"; }
fail() { printf '%s\n' "apt-security-upgrade: $*" >&2; exit 1; }

# Prints the names of the packages with a pending upgrade from a security suite, one a line.
# `apt-get -s upgrade` prints e.g.
#   Inst libssl3 [3.0.15-1~deb12u1] (3.0.16-1~deb12u1 Debian-Security:12/stable-security [arm64])
security_upgrades() {
  simulation=$(apt-get -o DPkg::Lock::Timeout="$LOCK_TIMEOUT" -s upgrade) || return 1
  # The origin is in the parentheses; a package whose *name* says "security" does not count.
  printf '%s\n' "$simulation" | awk '/^Inst / && /\(.*[Ss]ecurity.*\)/ { print $2 }' | while read -r package; do
    # Package names are checked before they reach apt-get's argv.
    case $package in
      *[!a-z0-9+.:-]*) ;;
      *) printf '%s\n' "$package" ;;
    esac
  done
}

do_run() {
  log "apt-get update"
  apt-get -o DPkg::Lock::Timeout="$LOCK_TIMEOUT" -q update || fail "apt-get update failed"
  packages=$(security_upgrades) || fail "apt-get -s upgrade failed"
  if [ -z "$packages" ]; then
    log "no security upgrade pending, nothing to do"
    return 0
  fi
  # shellcheck disable=SC2086
  log "upgrading:" $packages
  # shellcheck disable=SC2086
  apt-get -o DPkg::Lock::Timeout="$LOCK_TIMEOUT" -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef \
    -y -q install --only-upgrade $packages || fail "apt-get install --only-upgrade failed"
  log "security upgrades installed"
}

do_verify() {
  packages=$(security_upgrades) || fail "apt-get -s upgrade failed"
  if [ -n "$packages" ]; then
    # shellcheck disable=SC2086
    fail "security upgrades still pending:" $packages
  fi
  if [ -f "$REBOOT_REQUIRED_FILE" ]; then
    log "verified: no security upgrade pending; a reboot is required to load them ($REBOOT_REQUIRED_FILE)"
  else
    log "verified: no security upgrade pending"
  fi
}

case ${1:-} in
  run) do_run ;;
  verify) do_verify ;;
  rollback)
    printf '%s\n' "apt-security-upgrade: rollback is not supported (downgrading security fixes is not safe)" >&2
    exit 64
    ;;
  *)
    printf '%s\n' "usage: apt-security-upgrade.sh run|verify" >&2
    exit 64
    ;;
esac
