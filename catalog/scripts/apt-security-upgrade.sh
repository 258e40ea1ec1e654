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
# Settings (environment, or /etc/fish/catalog.env: NAME=value lines read, never sourced; see load_settings):
#   FISH_APT_LOCK_TIMEOUT  seconds to wait for the dpkg lock (unattended-upgrades may hold it) (default 300)
#   FISH_REBOOT_REQUIRED_FILE                                  (default /var/run/reboot-required)
# `apt-get` is taken from PATH.
set -eu

log() { printf '%s\n' "apt-security-upgrade: $*"; }
fail() { printf '%s\n' "apt-security-upgrade: $*" >&2; exit 1; }

# ---- fish common: begin (the same in every catalog script; a test keeps the copies identical) ----
# Copied on purpose, not sourced: each script is installed and allow-listed on the host alone,
# and a script running as root must not run a second file that could be swapped under it.
# The script runs as root on a host where containers and unprivileged users own some folders.
# It never runs a file it reads, and never trusts a path someone else could change under it.
SELF_UID=$(id -u)

# owner_only PATH UID: PATH is no symbolic link, belongs to UID, and neither its group nor others
# may write it (a sticky folder such as /tmp excepted: others cannot replace what root put there).
owner_only() {
  [ ! -L "$1" ] && [ -e "$1" ] || return 1
  meta=$(stat -c '%u %A' -- "$1") || return 1
  [ "${meta%% *}" = "$2" ] || return 1
  case ${meta#* } in
    d????????t) return 0 ;;
    ?????w???? | ????????w?) return 1 ;;
  esac
  return 0
}

# root_path PATH: prints PATH with its links resolved, after checking that every folder above it
# belongs to root (or to this script's own user) and that only that owner may change it, so that
# nobody else can swap a component.
root_path() {
  resolved=$(readlink -f -- "$1") && [ -n "$resolved" ] || return 1
  above=$resolved
  while :; do
    above=${above%/*}
    owner_only "${above:-/}" "$SELF_UID" || owner_only "${above:-/}" 0 || return 1
    [ -n "$above" ] || break
  done
  printf '%s\n' "$resolved"
}

# Settings: the environment, then FISH_ENV_FILE (default /etc/fish/catalog.env) when it exists.
# The file is read as NAME=value lines (FISH_* names only, optional quotes), never sourced: a value
# like "$(command)" stays text. It must be a regular file root owns and only root can change.
load_settings() {
  settings=${FISH_ENV_FILE:-/etc/fish/catalog.env}
  [ -e "$settings" ] || [ -L "$settings" ] || return 0
  if [ -L "$settings" ] || [ ! -f "$settings" ] || ! owner_only "$settings" "$SELF_UID" || ! root_path "$settings" >/dev/null; then
    fail "refusing settings file $settings: it must be a regular file (no link) that root owns and only root can change"
  fi
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line#export }
    case $line in FISH_*=*) ;; *) continue ;; esac
    name=${line%%=*}
    case $name in *[!A-Z0-9_]*) continue ;; esac
    value=${line#*=}
    case $value in
      \"*\") value=${value#\"} value=${value%\"} ;;
      \'*\') value=${value#\'} value=${value%\'} ;;
    esac
    # The name is [A-Z0-9_] only; the value is assigned as it is, never evaluated.
    eval "$name=\$value"
  done <"$settings"
}
# ---- fish common: end ----
load_settings

LOCK_TIMEOUT=${FISH_APT_LOCK_TIMEOUT:-300}
REBOOT_REQUIRED_FILE=${FISH_REBOOT_REQUIRED_FILE:-/var/run/reboot-required}
DEBIAN_FRONTEND=noninteractive
export DEBIAN_FRONTEND

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
