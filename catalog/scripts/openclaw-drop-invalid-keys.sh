#!/bin/sh
# openclaw-drop-invalid-keys.sh: remove configuration keys OpenClaw is known to reject
# (pattern openclaw-invalid-config-key).
#
# OpenClaw validates openclaw.json strictly at start-up and exits on an unrecognized key, so the
# container crash-loops. Only keys on the fixed list below are removed: they are known to have no
# effect in any OpenClaw version (they were never valid), so removing them changes no behaviour.
# Any other unrecognized key needs a human (it may be a typo of a setting that matters): then
# `run` fails without touching anything, and fish escalates.
#
# Known-invalid keys (jq paths):
#   .tools.web.fetch.readability   valid keys of tools.web.fetch: enabled, maxChars,
#                                  timeoutSeconds, cacheTtlMinutes, maxRedirects
#
# Verbs (passed as $1 by the fish wrapper):
#   run       back up openclaw.json once, delete the known-invalid keys present, restart the container
#   verify    the container is running and its restart count stays still over one delay (bounded retries)
#   rollback  put the backed-up openclaw.json back and restart the container
#
# Settings (environment, or /etc/fish/catalog.env, a root-owned file sourced if readable):
#   FISH_OPENCLAW_CONFIG     host path of openclaw.json     (default /opt/openclaw/data/openclaw.json)
#   FISH_OPENCLAW_CONTAINER  container name                 (default openclaw)
#   FISH_VERIFY_ATTEMPTS / FISH_VERIFY_DELAY                (default 10 / 5 s)
# `docker` and `jq` are taken from PATH. A JSON5 file (comments) is refused: jq cannot edit it.
set -eu

FISH_ENV_FILE=${FISH_ENV_FILE:-/etc/fish/catalog.env}
if [ -r "$FISH_ENV_FILE" ]; then
  # shellcheck source=/dev/null
  . "$FISH_ENV_FILE"
fi

CONFIG=${FISH_OPENCLAW_CONFIG:-/opt/openclaw/data/openclaw.json}
CONTAINER=${FISH_OPENCLAW_CONTAINER:-openclaw}
VERIFY_ATTEMPTS=${FISH_VERIFY_ATTEMPTS:-10}
VERIFY_DELAY=${FISH_VERIFY_DELAY:-5}
BACKUP="$CONFIG.fish-backup"
KNOWN_INVALID='.tools.web.fetch.readability'

log() { printf '%s\n' "openclaw-drop-invalid-keys: $*"; }
fail() { printf '%s\n' "openclaw-drop-invalid-keys: $*" >&2; exit 1; }

restart() {
  docker restart "$CONTAINER" >/dev/null || fail "docker restart $CONTAINER failed"
  log "restarted container $CONTAINER"
}

do_run() {
  command -v jq >/dev/null || fail "jq is not installed"
  [ -f "$CONFIG" ] || fail "$CONFIG does not exist"
  jq -e . "$CONFIG" >/dev/null 2>&1 || fail "$CONFIG is not plain JSON (JSON5?); edit it by hand"
  present=''
  for path in $KNOWN_INVALID; do
    parent=${path%.*}
    key=${path##*.}
    if jq -e --arg key "$key" "($parent | objects | has(\$key)) // false" "$CONFIG" >/dev/null; then
      present="$present $path"
    fi
  done
  if [ -z "$present" ]; then
    fail "no known-invalid key in $CONFIG: the unrecognized key in the log needs a human (see the pattern's diagnosis)"
  fi
  if [ ! -f "$BACKUP" ]; then
    cp -p "$CONFIG" "$BACKUP"
    log "backed up $CONFIG to $BACKUP"
  fi
  filter=$(printf '%s\n' "$present" | sed -e 's/^ //' -e 's/ /, /g')
  new="$CONFIG.fish-new"
  jq "del($filter)" "$CONFIG" >"$new" || { rm -f "$new"; fail "jq could not rewrite $CONFIG"; }
  # Overwrite in place: keeps the owner (the container's uid 1000) and the mode.
  cat "$new" >"$CONFIG"
  rm -f "$new"
  log "removed:$present"
  restart
}

do_verify() {
  attempt=1
  while :; do
    before=$(docker inspect -f '{{.State.Status}} {{.RestartCount}}' "$CONTAINER" 2>/dev/null || echo 'missing -')
    sleep "$VERIFY_DELAY"
    after=$(docker inspect -f '{{.State.Status}} {{.RestartCount}}' "$CONTAINER" 2>/dev/null || echo 'missing -')
    case $after in
      running\ *)
        if [ "$before" = "$after" ]; then
          log "verified: $CONTAINER running, restart count steady (${after#running })"
          return 0
        fi
        problem="$CONTAINER restarted during the check ($before -> $after)"
        ;;
      *) problem="$CONTAINER is ${after% *}" ;;
    esac
    [ "$attempt" -lt "$VERIFY_ATTEMPTS" ] || fail "after $attempt attempts: $problem"
    log "attempt $attempt/$VERIFY_ATTEMPTS: $problem"
    attempt=$((attempt + 1))
  done
}

do_rollback() {
  if [ ! -f "$BACKUP" ]; then
    log "no backup at $BACKUP, nothing to roll back"
    return 0
  fi
  cat "$BACKUP" >"$CONFIG"
  rm -f "$BACKUP"
  log "restored $CONFIG from $BACKUP"
  restart
}

case ${1:-} in
  run) do_run ;;
  verify) do_verify ;;
  rollback) do_rollback ;;
  *)
    printf '%s\n' "usage: openclaw-drop-invalid-keys.sh run|verify|rollback" >&2
    exit 64
    ;;
esac
