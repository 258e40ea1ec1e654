#!/bin/sh
# docker-log-driver-json-file.sh: switch dockerd's default log driver from journald to json-file
# (pattern dockerd-sigbus-loop).
#
# On ARM boards (Raspberry Pi) dockerd's journald log driver can die with SIGBUS while reading
# the journal files it maps into memory; systemd restarts dockerd, which crashes again, until the
# unit hits its start limit. json-file does not map the journal. Alloy/Promtail can still ship the
# container logs (docker discovery reads json-file logs).
#
# Verbs (passed as $1 by the fish wrapper):
#   run       back up daemon.json once, set "log-driver": "json-file" with bounded log-opts,
#             validate it (dockerd --validate, when available), reset the start limit, restart docker
#   verify    docker is active, `docker info` reports the json-file logging driver, and systemd's
#             restart counter (NRestarts) holds still for FISH_DOCKER_STEADY_SECONDS (bounded retries)
#   rollback  put the backed-up daemon.json back (or remove the one this script created), restart docker
#
# Containers keep the log driver they were created with: the script lists those still on
# journald; they move to json-file when recreated (`docker compose up -d --force-recreate`), and
# compose files that set `logging: driver: journald` explicitly must be edited by hand.
#
# Settings (environment, or /etc/fish/catalog.env, a root-owned file sourced if readable):
#   FISH_DOCKER_DAEMON_JSON   daemon configuration file     (default /etc/docker/daemon.json)
#   FISH_DOCKER_LOG_MAX_SIZE  json-file max-size            (default 10m)
#   FISH_DOCKER_LOG_MAX_FILE  json-file max-file            (default 3)
#   FISH_DOCKER_STEADY_SECONDS  how long docker must run without a restart (default 20)
#   FISH_VERIFY_ATTEMPTS / FISH_VERIFY_DELAY                (default 10 / 3 s)
# `docker`, `systemctl`, `jq` (only when daemon.json already exists) and `dockerd` are taken from PATH.
set -eu

FISH_ENV_FILE=${FISH_ENV_FILE:-/etc/fish/catalog.env}
if [ -r "$FISH_ENV_FILE" ]; then
  # shellcheck source=/dev/null
  . "$FISH_ENV_FILE"
fi

DAEMON_JSON=${FISH_DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}
MAX_SIZE=${FISH_DOCKER_LOG_MAX_SIZE:-10m}
MAX_FILE=${FISH_DOCKER_LOG_MAX_FILE:-3}
VERIFY_ATTEMPTS=${FISH_VERIFY_ATTEMPTS:-10}
VERIFY_DELAY=${FISH_VERIFY_DELAY:-3}
STEADY_SECONDS=${FISH_DOCKER_STEADY_SECONDS:-20}
BACKUP="$DAEMON_JSON.fish-backup"
CREATED_MARKER="$DAEMON_JSON.fish-created"

log() { printf '%s\n' "docker-log-driver-json-file: $*"; }
fail() { printf '%s\n' "docker-log-driver-json-file: $*" >&2; exit 1; }

restart_docker() {
  # After a crash loop the unit may have hit its start limit; a restart would then be refused.
  systemctl reset-failed docker.service docker.socket >/dev/null 2>&1 || true
  systemctl restart docker || fail "systemctl restart docker failed"
  log "docker restarted"
}

configured_driver() {
  [ -f "$DAEMON_JSON" ] || return 0
  jq -r '."log-driver" // ""' "$DAEMON_JSON"
}

do_run() {
  new="$DAEMON_JSON.fish-new"
  if [ -f "$DAEMON_JSON" ]; then
    command -v jq >/dev/null || fail "jq is needed to edit the existing $DAEMON_JSON"
    driver=$(configured_driver) || fail "$DAEMON_JSON is not valid JSON"
    if [ "$driver" = json-file ]; then
      log "$DAEMON_JSON already sets json-file"
    else
      if [ ! -f "$BACKUP" ]; then
        cp -p "$DAEMON_JSON" "$BACKUP"
        log "backed up $DAEMON_JSON to $BACKUP"
      fi
      jq --arg size "$MAX_SIZE" --arg files "$MAX_FILE" \
        '."log-driver" = "json-file" | ."log-opts" = {"max-size": $size, "max-file": $files}' \
        "$DAEMON_JSON" >"$new" || fail "could not rewrite $DAEMON_JSON"
    fi
  else
    mkdir -p "$(dirname "$DAEMON_JSON")"
    printf '{\n  "log-driver": "json-file",\n  "log-opts": { "max-size": "%s", "max-file": "%s" }\n}\n' "$MAX_SIZE" "$MAX_FILE" >"$new"
    : >"$CREATED_MARKER"
    log "no $DAEMON_JSON yet: creating one"
  fi
  if [ -f "$new" ]; then
    if command -v dockerd >/dev/null 2>&1; then
      dockerd --validate --config-file "$new" >/dev/null || { rm -f "$new"; fail "dockerd rejects the new configuration"; }
    fi
    # Overwrite in place: keeps the file's owner and mode.
    cat "$new" >"$DAEMON_JSON"
    rm -f "$new"
    log "$DAEMON_JSON: log-driver json-file (max-size $MAX_SIZE, max-file $MAX_FILE)"
  fi
  restart_docker
  still=''
  for container in $(docker ps -aq); do
    type=$(docker inspect -f '{{.HostConfig.LogConfig.Type}}' "$container" 2>/dev/null || true)
    if [ "$type" = journald ]; then
      still="$still $(docker inspect -f '{{.Name}}' "$container" | sed 's|^/||')"
    fi
  done
  if [ -n "$still" ]; then
    log "containers still on journald until recreated:$still"
  fi
}

do_verify() {
  attempt=1
  while :; do
    if ! systemctl is-active --quiet docker; then
      problem="docker is not active"
    else
      driver=$(docker info --format '{{.LoggingDriver}}' 2>/dev/null || true)
      if [ "$driver" != json-file ]; then
        problem="docker's logging driver is '$driver'"
      else
        # A crash loop shows as systemd restarting the unit: the count must hold still.
        before=$(systemctl show -p NRestarts --value docker 2>/dev/null || echo unknown)
        sleep "$STEADY_SECONDS"
        after=$(systemctl show -p NRestarts --value docker 2>/dev/null || echo unknown)
        if [ "$before" = "$after" ] && systemctl is-active --quiet docker; then
          log "verified: docker active and steady for ${STEADY_SECONDS}s (NRestarts $after), default logging driver json-file"
          return 0
        fi
        problem="docker restarted during the check (NRestarts $before -> $after)"
      fi
    fi
    [ "$attempt" -lt "$VERIFY_ATTEMPTS" ] || fail "after $attempt attempts: $problem"
    log "attempt $attempt/$VERIFY_ATTEMPTS: $problem"
    attempt=$((attempt + 1))
    sleep "$VERIFY_DELAY"
  done
}

do_rollback() {
  if [ -f "$BACKUP" ]; then
    cat "$BACKUP" >"$DAEMON_JSON"
    rm -f "$BACKUP"
    log "restored $DAEMON_JSON from $BACKUP"
  elif [ -f "$CREATED_MARKER" ]; then
    rm -f "$DAEMON_JSON" "$CREATED_MARKER"
    log "removed the $DAEMON_JSON this script created"
  else
    log "nothing to roll back (no backup, no created file)"
    return 0
  fi
  rm -f "$CREATED_MARKER"
  restart_docker
}

case ${1:-} in
  run) do_run ;;
  verify) do_verify ;;
  rollback) do_rollback ;;
  *)
    printf '%s\n' "usage: docker-log-driver-json-file.sh run|verify|rollback" >&2
    exit 64
    ;;
esac
