#!/bin/sh
# qdrant-snapshots-tmp-reset.sh: clear Qdrant's snapshots/tmp and restart Qdrant
# (pattern qdrant-snapshot-permission-denied).
#
# Qdrant writes snapshots through <snapshots>/tmp. Leftovers there owned by another user (an
# earlier run as root, a restore done by hand), or a container started without DAC_OVERRIDE and
# FOWNER, make snapshot creation and start-up fail with "Permission denied (os error 13)". The
# leftovers are partial snapshot files: removing them loses nothing that was complete.
#
# The snapshots folder belongs to the container, which controls every name inside. The script
# refuses a snapshots folder or tmp folder that is a symbolic link, or that sits below a folder
# someone other than root can change; `find -P -delete` removes links themselves, never what they
# point to; before `chown -R -P` it refuses a folder holding a hard-linked file.
#
# Verbs (passed as $1 by the fish wrapper):
#   run       empty <snapshots>/tmp, optionally chown the snapshots folder, restart the container
#   verify    the container is running and Qdrant's port 6333 accepts connections inside it
#             (the image has no curl/wget: bash's /dev/tcp, as its own healthcheck does) (bounded retries)
#   rollback  not supported (exit 64): the removed files were partial snapshots
#
# Settings (environment, or /etc/fish/catalog.env: NAME=value lines read, never sourced; see load_settings):
#   FISH_QDRANT_CONTAINER      container name                                 (default qdrant)
#   FISH_QDRANT_SNAPSHOTS_DIR  host folder mounted at /qdrant/snapshots       (default /opt/qdrant/snapshots)
#   FISH_QDRANT_OWNER          uid:gid to give the snapshots folder, if set   (default: leave ownership)
#   FISH_VERIFY_ATTEMPTS / FISH_VERIFY_DELAY                                  (default 10 / 3 s)
# `docker` is taken from PATH.
set -eu

log() { printf '%s\n' "qdrant-snapshots-tmp-reset: $*"; }
fail() { printf '%s\n' "qdrant-snapshots-tmp-reset: $*" >&2; exit 1; }

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

CONTAINER=${FISH_QDRANT_CONTAINER:-qdrant}
SNAPSHOTS_DIR=${FISH_QDRANT_SNAPSHOTS_DIR:-/opt/qdrant/snapshots}
OWNER=${FISH_QDRANT_OWNER:-}
VERIFY_ATTEMPTS=${FISH_VERIFY_ATTEMPTS:-10}
VERIFY_DELAY=${FISH_VERIFY_DELAY:-3}

case $SNAPSHOTS_DIR in
  /*/*) ;;
  *) fail "FISH_QDRANT_SNAPSHOTS_DIR must be an absolute path at least two levels deep (got '$SNAPSHOTS_DIR')" ;;
esac
case $OWNER in
  '' | [0-9]*:[0-9]*) case $OWNER in *[!0-9:]* | *:*:*) fail "FISH_QDRANT_OWNER must be uid:gid in numbers (got '$OWNER')" ;; esac ;;
  *) fail "FISH_QDRANT_OWNER must be uid:gid in numbers (got '$OWNER')" ;;
esac

do_run() {
  [ ! -L "$SNAPSHOTS_DIR" ] || fail "$SNAPSHOTS_DIR is a symbolic link; refusing"
  [ -d "$SNAPSHOTS_DIR" ] || fail "$SNAPSHOTS_DIR does not exist"
  root_path "$SNAPSHOTS_DIR/" >/dev/null || fail "a folder above $SNAPSHOTS_DIR is not root's alone; refusing"
  [ ! -L "$SNAPSHOTS_DIR/tmp" ] || fail "$SNAPSHOTS_DIR/tmp is a symbolic link; refusing"
  if [ -d "$SNAPSHOTS_DIR/tmp" ]; then
    count=$(find -P "$SNAPSHOTS_DIR/tmp" -mindepth 1 -maxdepth 1 -printf . | wc -c | tr -d ' ')
    find -P "$SNAPSHOTS_DIR/tmp" -mindepth 1 -delete
    log "removed $count entr(y/ies) from $SNAPSHOTS_DIR/tmp"
  else
    log "$SNAPSHOTS_DIR/tmp does not exist, nothing to clear"
  fi
  if [ -n "$OWNER" ]; then
    if [ -n "$(find -P "$SNAPSHOTS_DIR" ! -type d -links +1 -print -quit)" ]; then
      fail "$SNAPSHOTS_DIR holds a hard-linked file; refusing to chown (it could be a link to a file outside)"
    fi
    chown -R -P -- "$OWNER" "$SNAPSHOTS_DIR"
    log "chown -R $OWNER $SNAPSHOTS_DIR"
  fi
  docker restart "$CONTAINER" >/dev/null || fail "docker restart $CONTAINER failed"
  log "restarted container $CONTAINER"
}

do_verify() {
  attempt=1
  while :; do
    state=$(docker inspect -f '{{.State.Status}}' "$CONTAINER" 2>/dev/null || echo missing)
    if [ "$state" != running ]; then
      problem="container $CONTAINER is $state"
    elif ! docker exec "$CONTAINER" bash -c ':> /dev/tcp/127.0.0.1/6333' >/dev/null 2>&1; then
      problem="Qdrant does not accept connections on 6333 yet"
    else
      log "verified: $CONTAINER running and listening on 6333"
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
    printf '%s\n' "qdrant-snapshots-tmp-reset: rollback is not supported (the removed files were partial snapshots)" >&2
    exit 64
    ;;
  *)
    printf '%s\n' "usage: qdrant-snapshots-tmp-reset.sh run|verify" >&2
    exit 64
    ;;
esac
