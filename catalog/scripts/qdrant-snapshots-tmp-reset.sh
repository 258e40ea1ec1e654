#!/bin/sh
# qdrant-snapshots-tmp-reset.sh: clear Qdrant's snapshots/tmp and restart Qdrant
# (pattern qdrant-snapshot-permission-denied).
#
# Qdrant writes snapshots through <snapshots>/tmp. Leftovers there owned by another user (an
# earlier run as root, a restore done by hand), or a container started without DAC_OVERRIDE and
# FOWNER, make snapshot creation and start-up fail with "Permission denied (os error 13)". The
# leftovers are partial snapshot files: removing them loses nothing that was complete.
#
# Verbs (passed as $1 by the fish wrapper):
#   run       empty <snapshots>/tmp, optionally chown the snapshots folder, restart the container
#   verify    the container is running and Qdrant's port 6333 accepts connections inside it
#             (the image has no curl/wget: bash's /dev/tcp, as its own healthcheck does) (bounded retries)
#   rollback  not supported (exit 64): the removed files were partial snapshots
#
# Settings (environment, or /etc/fish/catalog.env, a root-owned file sourced if readable):
#   FISH_QDRANT_CONTAINER      container name                                 (default qdrant)
#   FISH_QDRANT_SNAPSHOTS_DIR  host folder mounted at /qdrant/snapshots       (default /opt/qdrant/snapshots)
#   FISH_QDRANT_OWNER          uid:gid to give the snapshots folder, if set   (default: leave ownership)
#   FISH_VERIFY_ATTEMPTS / FISH_VERIFY_DELAY                                  (default 10 / 3 s)
# `docker` is taken from PATH.
set -eu

FISH_ENV_FILE=${FISH_ENV_FILE:-/etc/fish/catalog.env}
if [ -r "$FISH_ENV_FILE" ]; then
  # shellcheck source=/dev/null
  . "$FISH_ENV_FILE"
fi

CONTAINER=${FISH_QDRANT_CONTAINER:-qdrant}
SNAPSHOTS_DIR=${FISH_QDRANT_SNAPSHOTS_DIR:-/opt/qdrant/snapshots}
OWNER=${FISH_QDRANT_OWNER:-}
VERIFY_ATTEMPTS=${FISH_VERIFY_ATTEMPTS:-10}
VERIFY_DELAY=${FISH_VERIFY_DELAY:-3}

log() { printf '%s\n' "qdrant-snapshots-tmp-reset: $*"; }
fail() { printf '%s\n' "qdrant-snapshots-tmp-reset: $*" >&2; exit 1; }

case $SNAPSHOTS_DIR in
  /*/*) ;;
  *) fail "FISH_QDRANT_SNAPSHOTS_DIR must be an absolute path at least two levels deep (got '$SNAPSHOTS_DIR')" ;;
esac
case $OWNER in
  '' | [0-9]*:[0-9]*) ;;
  *) fail "FISH_QDRANT_OWNER must be uid:gid in numbers (got '$OWNER')" ;;
esac

do_run() {
  [ -d "$SNAPSHOTS_DIR" ] || fail "$SNAPSHOTS_DIR does not exist"
  if [ -d "$SNAPSHOTS_DIR/tmp" ]; then
    count=$(find "$SNAPSHOTS_DIR/tmp" -mindepth 1 -maxdepth 1 | wc -l | tr -d ' ')
    find "$SNAPSHOTS_DIR/tmp" -mindepth 1 -delete
    log "removed $count entr(y/ies) from $SNAPSHOTS_DIR/tmp"
  else
    log "$SNAPSHOTS_DIR/tmp does not exist, nothing to clear"
  fi
  if [ -n "$OWNER" ]; then
    chown -R "$OWNER" "$SNAPSHOTS_DIR"
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
