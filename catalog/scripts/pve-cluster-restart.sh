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
# Settings (environment, or /etc/fish/catalog.env, a root-owned file sourced if readable):
#   FISH_PVE_DIR                               the pmxcfs mount point   (default /etc/pve)
#   FISH_VERIFY_ATTEMPTS / FISH_VERIFY_DELAY                            (default 10 / 3 s)
# `pvecm` and `systemctl` are taken from PATH.
set -eu

FISH_ENV_FILE=${FISH_ENV_FILE:-/etc/fish/catalog.env}
if [ -r "$FISH_ENV_FILE" ]; then
  # shellcheck source=/dev/null
  . "$FISH_ENV_FILE"
fi

PVE_DIR=${FISH_PVE_DIR:-/etc/pve}
VERIFY_ATTEMPTS=${FISH_VERIFY_ATTEMPTS:-10}
VERIFY_DELAY=${FISH_VERIFY_DELAY:-3}

log() { printf '%s\n' "pve-cluster-restart: $*"; }
fail() { printf '%s\n' "pve-cluster-restart: $*" >&2; exit 1; }

quorate() {
  pvecm status 2>/dev/null | grep -Eq '^Quorate:[[:space:]]+Yes'
}

# pmxcfs answers a write with EACCES while read-only. The probe is a dot-file at the top of
# /etc/pve, removed at once; pmxcfs accepts arbitrary file names there for root (assumed from
# how admins keep their own files in /etc/pve; say so if your version refuses it).
writable() {
  probe="$PVE_DIR/.fish-write-test"
  if touch "$probe" 2>/dev/null; then
    rm -f "$probe"
    return 0
  fi
  return 1
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
