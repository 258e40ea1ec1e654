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
# Settings (environment, or /etc/fish/catalog.env, a root-owned file sourced if readable):
#   FISH_COMPOSE_DIR          folder with one sub-folder per stack      (default /opt/stacks)
#   FISH_COMPOSE_STACKS_FILE  allow-list: one stack folder name a line  (default /etc/fish/compose-stacks)
#                             when absent, every sub-folder of FISH_COMPOSE_DIR holding a compose
#                             file is a stack, except folders holding a `.fish-skip` file
#   FISH_VERIFY_ATTEMPTS      verify attempts                           (default 10)
#   FISH_VERIFY_DELAY         seconds between verify attempts           (default 3)
# `docker` is taken from PATH (a sandbox may put a fake one first).
set -eu

FISH_ENV_FILE=${FISH_ENV_FILE:-/etc/fish/catalog.env}
if [ -r "$FISH_ENV_FILE" ]; then
  # shellcheck source=/dev/null
  . "$FISH_ENV_FILE"
fi

COMPOSE_DIR=${FISH_COMPOSE_DIR:-/opt/stacks}
STACKS_FILE=${FISH_COMPOSE_STACKS_FILE:-/etc/fish/compose-stacks}
VERIFY_ATTEMPTS=${FISH_VERIFY_ATTEMPTS:-10}
VERIFY_DELAY=${FISH_VERIFY_DELAY:-3}

log() { printf '%s\n' "compose-up-stacks: $*"; }
fail() { printf '%s\n' "compose-up-stacks: $*" >&2; exit 1; }

# Prints the compose file of a stack folder, or fails.
compose_file() {
  for name in compose.yaml compose.yml docker-compose.yaml docker-compose.yml; do
    if [ -f "$1/$name" ]; then
      printf '%s\n' "$1/$name"
      return 0
    fi
  done
  return 1
}

# Prints the configured stack names, one a line.
list_stacks() {
  if [ -f "$STACKS_FILE" ]; then
    sed -e 's/#.*//' -e 's/[[:space:]]//g' "$STACKS_FILE" | grep -v '^$' || true
    return 0
  fi
  for dir in "$COMPOSE_DIR"/*/; do
    [ -d "$dir" ] || continue
    stack=$(basename "$dir")
    [ -e "$COMPOSE_DIR/$stack/.fish-skip" ] && continue
    compose_file "$COMPOSE_DIR/$stack" >/dev/null || continue
    printf '%s\n' "$stack"
  done
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
  found=0
  for stack in $(list_stacks); do
    if ! valid_name "$stack"; then
      log "skipping invalid stack name '$stack'" >&2
      continue
    fi
    if ! file=$(compose_file "$COMPOSE_DIR/$stack"); then
      log "skipping $stack: no compose file in $COMPOSE_DIR/$stack" >&2
      continue
    fi
    found=1
    printf '%s %s\n' "$stack" "$file"
  done
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
