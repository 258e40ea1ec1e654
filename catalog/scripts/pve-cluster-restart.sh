#!/bin/sh
# pve-cluster-restart.sh: make /etc/pve writable again after a corosync recovery
# (pattern pmxcfs-ro-post-recovery).
#
# After corosync recovers quorum, pmxcfs (the pve-cluster service) can stay in its read-only
# state: writes under /etc/pve fail with "Permission denied" although `pvecm status` says the
# cluster is quorate. Restarting pve-cluster remounts /etc/pve read-write. Without quorum a restart
# cannot help (pmxcfs is read-only on purpose), so the script refuses and fish escalates.
#
# Verbs (passed as $1 by the fish wrapper):
#   run       check `pvecm status` reports Quorate: Yes, then `systemctl restart pve-cluster`
#   verify    pve-cluster is active and a file can be created and removed in /etc/pve (bounded retries)
#   rollback  not supported (exit 64): a service restart has nothing to undo
#
# Settings (environment, or /etc/fish/catalog.env: NAME=value lines read, never sourced; see load_settings):
#   FISH_PVE_DIR                               the pmxcfs mount point   (default /etc/pve)
#   FISH_VERIFY_ATTEMPTS / FISH_VERIFY_DELAY                            (default 10 / 3 s)
# `pvecm` and `systemctl` are taken from PATH.
set -eu

log() { printf '%s\n' "pve-cluster-restart: $*"; }
fail() { printf '%s\n' "pve-cluster-restart: $*" >&2; exit 1; }

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

PVE_DIR=${FISH_PVE_DIR:-/etc/pve}
VERIFY_ATTEMPTS=${FISH_VERIFY_ATTEMPTS:-10}
VERIFY_DELAY=${FISH_VERIFY_DELAY:-3}

quorate() {
  pvecm status 2>/dev/null | grep -Eq '^Quorate:[[:space:]]+Yes'
}

# pmxcfs answers a write with EACCES while read-only. The probe is a new dot-file at the top of
# /etc/pve with a random name, created exclusively (mktemp: O_EXCL, so a planted link is never
# followed) and removed at once; pmxcfs accepts arbitrary file names there for root (assumed from
# how admins keep their own files in /etc/pve; say so if your version refuses it).
writable() {
  probe=$(mktemp "$PVE_DIR/.fish-write-test.XXXXXX" 2>/dev/null) || return 1
  rm -f -- "$probe"
}

do_run() {
  if writable; then
    log "$PVE_DIR is already writable, nothing to do"
    return 0
  fi
  quorate || fail "the cluster is not quorate: restarting pve-cluster will not make $PVE_DIR writable; fix corosync first (pvecm status, journalctl -u corosync)"
  log "cluster quorate but $PVE_DIR read-only -> systemctl restart pve-cluster"
  systemctl restart pve-cluster || fail "systemctl restart pve-cluster failed"
  log "pve-cluster restarted"
}

do_verify() {
  attempt=1
  while :; do
    if ! systemctl is-active --quiet pve-cluster; then
      problem="pve-cluster is not active"
    elif ! writable; then
      problem="$PVE_DIR is still read-only"
    else
      log "verified: pve-cluster active and $PVE_DIR writable"
      return 0
    fi
    [ "$attempt" -lt "$VERIFY_ATTEMPTS" ] || fail "after $attempt attempts: $problem"
    log "attempt $attempt/$VERIFY_ATTEMPTS: $problem"
    attempt=$((attempt + 1))
    sleep "$VERIFY_DELAY"
  done
}

case ${1:-} in
  run) do_run ;;
  verify) do_verify ;;
  rollback)
    printf '%s\n' "pve-cluster-restart: rollback is not supported (a service restart has nothing to undo)" >&2
    exit 64
    ;;
  *)
    printf '%s\n' "usage: pve-cluster-restart.sh run|verify" >&2
    exit 64
    ;;
esac
