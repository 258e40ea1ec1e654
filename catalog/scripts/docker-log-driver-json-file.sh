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
# Settings (environment, or /etc/fish/catalog.env: NAME=value lines read, never sourced; see load_settings):
#   FISH_DOCKER_DAEMON_JSON   daemon configuration file     (default /etc/docker/daemon.json)
#   FISH_DOCKER_LOG_MAX_SIZE  json-file max-size            (default 10m)
#   FISH_DOCKER_LOG_MAX_FILE  json-file max-file            (default 3)
#   FISH_DOCKER_STEADY_SECONDS  how long docker must run without a restart (default 20)
#   FISH_VERIFY_ATTEMPTS / FISH_VERIFY_DELAY                (default 10 / 3 s)
# `docker`, `systemctl`, `jq` (only when daemon.json already exists) and `dockerd` are taken from PATH.
set -eu

log() { printf '%s\n' "docker-log-driver-json-file: $*"; }
fail() { printf '%s\n' "docker-log-driver-json-file: $*" >&2; exit 1; }

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

DAEMON_JSON=${FISH_DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}
MAX_SIZE=${FISH_DOCKER_LOG_MAX_SIZE:-10m}
MAX_FILE=${FISH_DOCKER_LOG_MAX_FILE:-3}
VERIFY_ATTEMPTS=${FISH_VERIFY_ATTEMPTS:-10}
VERIFY_DELAY=${FISH_VERIFY_DELAY:-3}
STEADY_SECONDS=${FISH_DOCKER_STEADY_SECONDS:-20}
BACKUP="$DAEMON_JSON.fish-backup"
CREATED_MARKER="$DAEMON_JSON.fish-created"
case $DAEMON_JSON in /*/*) ;; *) fail "FISH_DOCKER_DAEMON_JSON must be an absolute path (got '$DAEMON_JSON')" ;; esac
DAEMON_DIR=${DAEMON_JSON%/*}

restart_docker() {
  # After a crash loop the unit may have hit its start limit; a restart would then be refused.
  systemctl reset-failed docker.service docker.socket >/dev/null 2>&1 || true
  systemctl restart docker || fail "systemctl restart docker failed"
  log "docker restarted"
}

# The configuration folder and everything above it must be root's alone, and daemon.json and its
# backup no links: then nobody else can change a name the script writes. New content is built in a
# private temporary folder and put in place by a rename inside the configuration folder.
prepare() {
  umask 077
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$DAEMON_DIR"
  [ ! -L "$DAEMON_DIR" ] || fail "$DAEMON_DIR is a symbolic link; refusing"
  if ! root_path "$DAEMON_DIR/" >/dev/null || ! owner_only "$DAEMON_DIR" "$SELF_UID"; then
    fail "$DAEMON_DIR or a folder above it is not root's alone; refusing"
  fi
  for file in "$DAEMON_JSON" "$BACKUP" "$CREATED_MARKER"; do
    if [ -L "$file" ] || { [ -e "$file" ] && ! owner_only "$file" "$SELF_UID"; }; then
      fail "$file is a symbolic link or not root's alone; refusing"
    fi
  done
}

# Puts a copy of $1 in place of $2 (mode 0644) by a rename inside the same folder.
replace_file() {
  staged=$(mktemp "$DAEMON_DIR/.fish-XXXXXX")
  if ! { cat -- "$1" >"$staged" && chmod 644 "$staged" && mv -f -- "$staged" "$2"; }; then
    rm -f -- "$staged"
    fail "could not replace $2"
  fi
}

configured_driver() {
  [ -f "$DAEMON_JSON" ] || return 0
  jq -r '."log-driver" // ""' "$DAEMON_JSON"
}

do_run() {
  prepare
  new="$work/daemon.json"
  if [ -f "$DAEMON_JSON" ]; then
    command -v jq >/dev/null || fail "jq is needed to edit the existing $DAEMON_JSON"
    driver=$(configured_driver) || fail "$DAEMON_JSON is not valid JSON"
    if [ "$driver" = json-file ]; then
      log "$DAEMON_JSON already sets json-file"
    else
      if [ ! -f "$BACKUP" ]; then
        replace_file "$DAEMON_JSON" "$BACKUP"
        log "backed up $DAEMON_JSON to $BACKUP"
      fi
      jq --arg size "$MAX_SIZE" --arg files "$MAX_FILE" \
        '."log-driver" = "json-file" | ."log-opts" = {"max-size": $size, "max-file": $files}' \
        "$DAEMON_JSON" >"$new" || fail "could not rewrite $DAEMON_JSON"
    fi
  else
    printf '{\n  "log-driver": "json-file",\n  "log-opts": { "max-size": "%s", "max-file": "%s" }\n}\n' "$MAX_SIZE" "$MAX_FILE" >"$new"
    : >"$work/created"
    replace_file "$work/created" "$CREATED_MARKER"
    log "no $DAEMON_JSON yet: creating one"
  fi
  if [ -f "$new" ]; then
    if command -v dockerd >/dev/null 2>&1; then
      dockerd --validate --config-file "$new" >/dev/null || fail "dockerd rejects the new configuration"
    fi
    replace_file "$new" "$DAEMON_JSON"
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
  prepare
  if [ -f "$BACKUP" ]; then
    replace_file "$BACKUP" "$DAEMON_JSON"
    rm -f -- "$BACKUP"
    log "restored $DAEMON_JSON from $BACKUP"
  elif [ -f "$CREATED_MARKER" ]; then
    rm -f -- "$DAEMON_JSON" "$CREATED_MARKER"
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
