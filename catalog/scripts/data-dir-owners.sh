#!/bin/sh
# data-dir-owners.sh: give containers' bind-mounted data folders back to the uid the image runs as
# (patterns grafana-data-dir-not-writable, loki-data-dir-permission-denied).
#
# Images that run as a fixed non-root user (Grafana 472, Loki 10001, VictoriaMetrics 1000, ...)
# cannot write a bind-mounted folder created by root or by the deploy user, and refuse to start.
# The folders and owners come from a root-owned list; nothing is guessed. Only folders whose
# ownership is wrong are changed, and only their containers are restarted.
#
# Verbs (passed as $1 by the fish wrapper):
#   run       for each listed folder with a file not owned by uid:gid: chown -R, restart its container
#   verify    every listed folder is owned right and its container runs without restarting (bounded retries)
#   rollback  not supported (exit 64): the previous owners were the broken state
#
# Settings (environment, or /etc/fish/catalog.env, a root-owned file sourced if readable):
#   FISH_DATA_DIR_OWNERS_FILE  the list                        (default /etc/fish/data-dir-owners)
#                              one line each: <container> <absolute host folder> <uid>:<gid>, e.g.
#                                grafana  /opt/javisi/data/grafana  472:0
#                                loki     /opt/javisi/data/loki     10001:10001
#   FISH_STEADY_SECONDS        how long a container must run without a restart   (default 10)
#   FISH_VERIFY_ATTEMPTS / FISH_VERIFY_DELAY                                     (default 10 / 3 s)
# `docker` is taken from PATH.
set -eu

FISH_ENV_FILE=${FISH_ENV_FILE:-/etc/fish/catalog.env}
if [ -r "$FISH_ENV_FILE" ]; then
  # shellcheck source=/dev/null
  . "$FISH_ENV_FILE"
fi

OWNERS_FILE=${FISH_DATA_DIR_OWNERS_FILE:-/etc/fish/data-dir-owners}
STEADY_SECONDS=${FISH_STEADY_SECONDS:-10}
VERIFY_ATTEMPTS=${FISH_VERIFY_ATTEMPTS:-10}
VERIFY_DELAY=${FISH_VERIFY_DELAY:-3}

log() { printf '%s\n' "data-dir-owners: $*"; }
fail() { printf '%s\n' "data-dir-owners: $*" >&2; exit 1; }

# Prints the checked entries "<container> <folder> <uid> <gid>", one a line.
entries() {
  [ -r "$OWNERS_FILE" ] || fail "cannot read $OWNERS_FILE (one line each: <container> <host folder> <uid>:<gid>)"
  sed -e 's/#.*//' "$OWNERS_FILE" | while read -r container folder owner extra; do
    [ -n "$container" ] || continue
    case $container in *[!A-Za-z0-9_.-]*) fail "bad container name '$container' in $OWNERS_FILE" ;; esac
    case $folder in /*/*) ;; *) fail "'$folder' in $OWNERS_FILE must be an absolute path at least two levels deep" ;; esac
    case $owner in
      *[!0-9:]* | :* | *: | *:*:*) fail "'$owner' in $OWNERS_FILE must be <uid>:<gid> in numbers" ;;
      *:*) ;;
      *) fail "'$owner' in $OWNERS_FILE must be <uid>:<gid> in numbers" ;;
    esac
    [ -z "$extra" ] || fail "extra field '$extra' in $OWNERS_FILE"
    printf '%s %s %s %s\n' "$container" "$folder" "${owner%:*}" "${owner#*:}"
  done
}

# True when some file under the folder has another owner or group.
misowned() {
  [ -n "$(find "$1" \( ! -uid "$2" -o ! -gid "$3" \) -print 2>/dev/null | head -n 1)" ]
}

steady() {
  before=$(docker inspect -f '{{.State.Status}} {{.RestartCount}}' "$1" </dev/null 2>/dev/null || echo 'missing -')
  sleep "$STEADY_SECONDS"
  after=$(docker inspect -f '{{.State.Status}} {{.RestartCount}}' "$1" </dev/null 2>/dev/null || echo 'missing -')
  case $after in
    running\ *) [ "$before" = "$after" ] ;;
    *) return 1 ;;
  esac
}

do_run() {
  list=$(entries)
  changed=0
  while read -r container folder uid gid; do
    [ -d "$folder" ] || fail "$folder does not exist"
    [ ! -L "$folder" ] || fail "$folder is a symbolic link; list the real folder"
    if ! misowned "$folder" "$uid" "$gid"; then
      log "$folder already owned by $uid:$gid"
      continue
    fi
    chown -R "$uid:$gid" "$folder"
    log "chown -R $uid:$gid $folder"
    # stdin from /dev/null: the loop reads the folder list from its own stdin.
    docker restart "$container" </dev/null >/dev/null || fail "docker restart $container failed"
    log "restarted container $container"
    changed=$((changed + 1))
  done <<LIST
$list
LIST
  log "done: $changed folder(s) fixed"
}

do_verify() {
  list=$(entries)
  attempt=1
  while :; do
    problems=''
    while read -r container folder uid gid; do
      if misowned "$folder" "$uid" "$gid"; then
        problems="$problems $folder:not-owned-by-$uid:$gid"
      elif ! steady "$container"; then
        problems="$problems $container:not-running-steadily"
      fi
    done <<LIST
$list
LIST
    if [ -z "$problems" ]; then
      log "verified: every listed folder owned right, every container running steadily"
      return 0
    fi
    [ "$attempt" -lt "$VERIFY_ATTEMPTS" ] || fail "after $attempt attempts:$problems"
    log "attempt $attempt/$VERIFY_ATTEMPTS:$problems"
    attempt=$((attempt + 1))
    sleep "$VERIFY_DELAY"
  done
}

case ${1:-} in
  run) do_run ;;
  verify) do_verify ;;
  rollback)
    printf '%s\n' "data-dir-owners: rollback is not supported (the previous owners were the broken state)" >&2
    exit 64
    ;;
  *)
    printf '%s\n' "usage: data-dir-owners.sh run|verify" >&2
    exit 64
    ;;
esac
