#!/bin/sh
# data-dir-owners.sh: give containers' bind-mounted data folders back to the uid the image runs as
# (patterns grafana-data-dir-not-writable, loki-data-dir-permission-denied).
#
# Images that run as a fixed non-root user (Grafana 472, Loki 10001, VictoriaMetrics 1000, ...)
# cannot write a bind-mounted folder created by root or by the deploy user, and refuse to start.
# The folders and owners come from a root-owned list; nothing is guessed. Only folders whose
# ownership is wrong are changed, and only their containers are restarted.
#
# The folders belong to containers, which control every name inside. The script refuses a listed
# folder that is a symbolic link or sits below a folder someone other than root can change, and a
# folder holding a hard-linked file (a link to a root file would be chowned with it); `chown -R -P`
# never follows the links inside. The list itself must be root's alone.
#
# Verbs (passed as $1 by the fish wrapper):
#   run       for each listed folder with a file not owned by uid:gid: chown -R, restart its container
#   verify    every listed folder is owned right and its container runs without restarting (bounded retries)
#   rollback  not supported (exit 64): the previous owners were the broken state
#
# Settings (environment, or /etc/fish/catalog.env: NAME=value lines read, never sourced; see load_settings):
#   FISH_DATA_DIR_OWNERS_FILE  the list                        (default /etc/fish/data-dir-owners)
#                              one line each: <container> <absolute host folder> <uid>:<gid>, e.g.
#                                grafana  /opt/javisi/data/grafana  472:0
#                                loki     /opt/javisi/data/loki     10001:10001
#   FISH_STEADY_SECONDS        how long a container must run without a restart   (default 10)
#   FISH_VERIFY_ATTEMPTS / FISH_VERIFY_DELAY                                     (default 10 / 3 s)
# `docker` is taken from PATH.
set -eu

log() { printf '%s\n' "data-dir-owners: $*"; }
fail() { printf '%s\n' "data-dir-owners: $*" >&2; exit 1; }

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

OWNERS_FILE=${FISH_DATA_DIR_OWNERS_FILE:-/etc/fish/data-dir-owners}
STEADY_SECONDS=${FISH_STEADY_SECONDS:-10}
VERIFY_ATTEMPTS=${FISH_VERIFY_ATTEMPTS:-10}
VERIFY_DELAY=${FISH_VERIFY_DELAY:-3}

# Prints the checked entries "<container> <folder> <uid> <gid>", one a line.
entries() {
  [ -r "$OWNERS_FILE" ] || fail "cannot read $OWNERS_FILE (one line each: <container> <host folder> <uid>:<gid>)"
  if ! owner_only "$OWNERS_FILE" "$SELF_UID" || ! root_path "$OWNERS_FILE" >/dev/null; then
    fail "refusing $OWNERS_FILE: it must be a regular file (no link) that root owns and only root can change"
  fi
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
  [ -n "$(find -P "$1" \( ! -uid "$2" -o ! -gid "$3" \) -print -quit 2>/dev/null)" ]
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
    [ ! -L "$folder" ] || fail "$folder is a symbolic link; list the real folder"
    [ -d "$folder" ] || fail "$folder does not exist"
    root_path "$folder/" >/dev/null || fail "a folder above $folder is not root's alone; refusing"
    if [ -n "$(find -P "$folder" ! -type d -links +1 -print -quit)" ]; then
      fail "$folder holds a hard-linked file; refusing to chown (it could be a link to a file outside)"
    fi
    if ! misowned "$folder" "$uid" "$gid"; then
      log "$folder already owned by $uid:$gid"
      continue
    fi
    chown -R -P -- "$uid:$gid" "$folder"
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
