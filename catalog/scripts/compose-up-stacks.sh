#!/bin/sh
# compose-up-stacks.sh: bring back compose stacks whose containers are not running
# (pattern docker-compose-stopped-post-reboot).
#
# A stack taken down with `docker compose down` (or stopped with `docker compose stop`) stays down
# after a reboot: `restart: unless-stopped` only restarts containers that exist and were not
# stopped by hand. `up -d --no-recreate` starts what is missing and leaves running containers alone.
#
# Verbs (passed as $1 by the fish wrapper):
#   run       docker compose up -d --no-recreate, for every configured stack
#   verify    every service of every configured stack is running (bounded retries)
#   rollback  not supported (exit 64): starting a stack has nothing to undo; fish escalates
#
# Settings (environment, or /etc/fish/catalog.env: NAME=value lines read, never sourced; see load_settings):
#   FISH_COMPOSE_DIR          folder with one sub-folder per stack      (default /opt/stacks)
#   FISH_COMPOSE_STACKS_FILE  allow-list: one stack folder name a line  (default /etc/fish/compose-stacks)
#                             required: without it the script refuses (it never starts every
#                             stack it finds: some are stopped on purpose)
#   FISH_COMPOSE_OWNER        uid the stack folders and compose files belong to (default 0, root)
#   FISH_VERIFY_ATTEMPTS      verify attempts                           (default 10)
#   FISH_VERIFY_DELAY         seconds between verify attempts           (default 3)
# `docker` is taken from PATH (a sandbox may put a fake one first).
#
# `docker compose up` runs what the compose file says as root. The script therefore starts only
# stacks named in the root-owned allow-list, and only from a stack folder and compose file that are
# no symbolic links, belong to FISH_COMPOSE_OWNER and that nobody else can write, below folders
# only root can change.
set -eu

log() { printf '%s\n' "compose-up-stacks: $*"; }
fail() { printf '%s\n' "compose-up-stacks: $*" >&2; exit 1; }

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

COMPOSE_DIR=${FISH_COMPOSE_DIR:-/opt/stacks}
STACKS_FILE=${FISH_COMPOSE_STACKS_FILE:-/etc/fish/compose-stacks}
COMPOSE_OWNER=${FISH_COMPOSE_OWNER:-0}
case $COMPOSE_OWNER in '' | *[!0-9]*) fail "FISH_COMPOSE_OWNER must be a numeric uid (got '$COMPOSE_OWNER')" ;; esac
VERIFY_ATTEMPTS=${FISH_VERIFY_ATTEMPTS:-10}
VERIFY_DELAY=${FISH_VERIFY_DELAY:-3}

# Prints the compose file of a stack folder, or fails. The folder and the file must be no links,
# belong to FISH_COMPOSE_OWNER, and be writable by nobody else.
compose_file() {
  [ -e "$1" ] || [ -L "$1" ] || return 1
  owner_only "$1" "$COMPOSE_OWNER" || return 2
  for name in compose.yaml compose.yml docker-compose.yaml docker-compose.yml; do
    if [ -e "$1/$name" ] || [ -L "$1/$name" ]; then
      owner_only "$1/$name" "$COMPOSE_OWNER" && [ -f "$1/$name" ] || return 2
      printf '%s\n' "$1/$name"
      return 0
    fi
  done
  return 1
}

# Prints the configured stack names, one a line, from the allow-list (required, root's alone).
list_stacks() {
  [ -e "$STACKS_FILE" ] || fail "no stack allow-list at $STACKS_FILE: list the stacks fish may start, one folder name a line"
  if ! owner_only "$STACKS_FILE" "$SELF_UID" || [ ! -f "$STACKS_FILE" ] || ! root_path "$STACKS_FILE" >/dev/null; then
    fail "refusing $STACKS_FILE: it must be a regular file (no link) that root owns and only root can change"
  fi
  sed -e 's/#.*//' -e 's/[[:space:]]//g' "$STACKS_FILE" | grep -v '^$' || true
}

valid_name() {
  case $1 in
    '' | .* | *[!A-Za-z0-9._-]*) return 1 ;;
    *) return 0 ;;
  esac
}

# Prints the services of a stack that are configured but not running.
missing_services() {
  expected=$(docker compose -f "$1" config --services </dev/null) || return 1
  running=$(docker compose -f "$1" ps --services --status running </dev/null) || return 1
  for service in $expected; do
    if ! printf '%s\n' "$running" | grep -qx "$service"; then
      printf '%s\n' "$service"
    fi
  done
}

# Joins its arguments with spaces (used to flatten a one-a-line list).
flatten() {
  [ "$#" -eq 0 ] || printf '%s ' "$@"
}

# Prints "<stack> <compose file>" for each configured stack (notes go to stderr).
stacks() {
  names=$(list_stacks)
  root_path "$COMPOSE_DIR/" >/dev/null || fail "a folder above $COMPOSE_DIR is not root's alone; refusing"
  found=0
  while IFS= read -r stack; do
    [ -n "$stack" ] || continue
    if ! valid_name "$stack"; then
      log "skipping invalid stack name '$stack'" >&2
      continue
    fi
    status=0
    file=$(compose_file "$COMPOSE_DIR/$stack") || status=$?
    if [ "$status" = 2 ]; then
      log "skipping $stack: $COMPOSE_DIR/$stack or its compose file is a link, or not uid $COMPOSE_OWNER's alone" >&2
      continue
    elif [ "$status" != 0 ]; then
      log "skipping $stack: no compose file in $COMPOSE_DIR/$stack" >&2
      continue
    fi
    found=1
    printf '%s %s\n' "$stack" "$file"
  done <<NAMES
$names
NAMES
  [ "$found" = 1 ] || fail "no compose stack found (FISH_COMPOSE_DIR=$COMPOSE_DIR, FISH_COMPOSE_STACKS_FILE=$STACKS_FILE)"
}

do_run() {
  list=$(stacks)
  failed=''
  started=0
  while read -r stack file; do
    if ! missing=$(missing_services "$file"); then
      failed="$failed $stack"
      continue
    fi
    # shellcheck disable=SC2086
    missing=$(flatten $missing)
    if [ -z "$missing" ]; then
      log "$stack: all services running, nothing to do"
      continue
    fi
    log "$stack: not running: $missing-> docker compose up -d --no-recreate"
    # stdin from /dev/null: the loop reads the stack list from its own stdin.
    if docker compose -f "$file" up -d --no-recreate </dev/null; then
      started=$((started + 1))
    else
      failed="$failed $stack"
    fi
  done <<LIST
$list
LIST
  [ -z "$failed" ] || fail "docker compose up failed for:$failed"
  log "done: $started stack(s) started"
}

do_verify() {
  list=$(stacks)
  attempt=1
  while :; do
    problems=''
    while read -r stack file; do
      if ! missing=$(missing_services "$file"); then
        problems="$problems $stack:[docker compose failed]"
        continue
      fi
      # shellcheck disable=SC2086
      missing=$(flatten $missing)
      [ -z "$missing" ] || problems="$problems $stack:[ $missing]"
    done <<LIST
$list
LIST
    if [ -z "$problems" ]; then
      log "verified: every service of every stack is running"
      return 0
    fi
    if [ "$attempt" -ge "$VERIFY_ATTEMPTS" ]; then
      fail "still not running after $attempt attempts:$problems"
    fi
    log "attempt $attempt/$VERIFY_ATTEMPTS: not running yet:$problems"
    attempt=$((attempt + 1))
    sleep "$VERIFY_DELAY"
  done
}

case ${1:-} in
  run) do_run ;;
  verify) do_verify ;;
  rollback)
    printf '%s\n' "compose-up-stacks: rollback is not supported (starting a stack has nothing to undo)" >&2
    exit 64
    ;;
  *)
    printf '%s\n' "usage: compose-up-stacks.sh run|verify" >&2
    exit 64
    ;;
esac
