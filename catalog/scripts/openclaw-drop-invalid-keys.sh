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
# The data folder belongs to the container's user, so a compromised container controls every name
# in it. The script therefore refuses a config that is a symbolic link, not a regular file, hard
# linked, or not owned by FISH_OPENCLAW_OWNER; reads and writes it only as that user (setpriv), so
# that a link planted between the check and the write reaches nothing that user could not already
# write; edits a copy in a private root-owned temporary folder; and keeps its backup in a root-owned
# folder (FISH_BACKUP_DIR), never next to the config.
#
# Settings (environment, or /etc/fish/catalog.env: NAME=value lines read, never sourced; see load_settings):
#   FISH_OPENCLAW_CONFIG     host path of openclaw.json     (default /opt/openclaw/data/openclaw.json)
#   FISH_OPENCLAW_CONTAINER  container name                 (default openclaw)
#   FISH_OPENCLAW_OWNER      uid:gid the config belongs to  (default 1000:1000, the image's `node` user)
#   FISH_BACKUP_DIR          root-owned folder for backups  (default /var/backups/fish)
#   FISH_VERIFY_ATTEMPTS / FISH_VERIFY_DELAY                (default 10 / 5 s)
# `docker`, `jq` and `setpriv` (util-linux) are taken from PATH. A JSON5 file (comments) is refused: jq cannot edit it.
set -eu

log() { printf '%s\n' "openclaw-drop-invalid-keys: $*"; }
fail() { printf '%s\n' "openclaw-drop-invalid-keys: $*" >&2; exit 1; }

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

CONFIG=${FISH_OPENCLAW_CONFIG:-/opt/openclaw/data/openclaw.json}
CONTAINER=${FISH_OPENCLAW_CONTAINER:-openclaw}
OWNER=${FISH_OPENCLAW_OWNER:-1000:1000}
BACKUP_DIR=${FISH_BACKUP_DIR:-/var/backups/fish}
VERIFY_ATTEMPTS=${FISH_VERIFY_ATTEMPTS:-10}
VERIFY_DELAY=${FISH_VERIFY_DELAY:-5}
KNOWN_INVALID='.tools.web.fetch.readability'

case $CONFIG in /*/*) ;; *) fail "FISH_OPENCLAW_CONFIG must be an absolute path (got '$CONFIG')" ;; esac
case $OWNER in
  *[!0-9:]* | :* | *: | *:*:*) fail "FISH_OPENCLAW_OWNER must be uid:gid in numbers (got '$OWNER')" ;;
  *:*) ;;
  *) fail "FISH_OPENCLAW_OWNER must be uid:gid in numbers (got '$OWNER')" ;;
esac
OWNER_UID=${OWNER%:*}
OWNER_GID=${OWNER#*:}
case $CONTAINER in '' | -* | *[!A-Za-z0-9_.-]*) fail "bad container name '$CONTAINER'" ;; esac

restart() {
  docker restart "$CONTAINER" >/dev/null || fail "docker restart $CONTAINER failed"
  log "restarted container $CONTAINER"
}

# Runs a command as the config's owner only (no root, no supplementary groups).
as_owner() {
  setpriv --reuid="$OWNER_UID" --regid="$OWNER_GID" --clear-groups -- "$@"
}

# Checks the config and the folders above it; makes the private work folder and the backup folder.
prepare() {
  umask 077
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  folder=${CONFIG%/*}
  [ ! -L "$folder" ] || fail "$folder is a symbolic link; refusing"
  root_path "$folder/" >/dev/null || fail "a folder above $folder is not root's alone; refusing"
  if [ -L "$CONFIG" ] || [ ! -f "$CONFIG" ]; then
    fail "$CONFIG is missing, a symbolic link or not a regular file; refusing"
  fi
  meta=$(stat -c '%u %h' -- "$CONFIG")
  [ "${meta% *}" = "$OWNER_UID" ] || fail "$CONFIG belongs to uid ${meta% *}, not $OWNER_UID; refusing"
  [ "${meta#* }" = 1 ] || fail "$CONFIG has ${meta#* } hard links; refusing"
  mkdir -p "$BACKUP_DIR/openclaw-drop-invalid-keys"
  if ! backup_folder=$(root_path "$BACKUP_DIR/openclaw-drop-invalid-keys/") || ! owner_only "$backup_folder" "$SELF_UID"; then
    fail "backup folder $BACKUP_DIR/openclaw-drop-invalid-keys is not root's alone; refusing"
  fi
  BACKUP=$backup_folder/openclaw.json
}

# Replaces the config with $1 (a file in the work folder), written as the config's owner.
write_config() {
  as_owner tee -- "$CONFIG" <"$1" >/dev/null || fail "could not write $CONFIG as uid $OWNER_UID"
}

do_run() {
  command -v jq >/dev/null || fail "jq is not installed"
  prepare
  as_owner cat -- "$CONFIG" >"$work/current" || fail "could not read $CONFIG as uid $OWNER_UID"
  jq -e . "$work/current" >/dev/null 2>&1 || fail "$CONFIG is not plain JSON (JSON5?); edit it by hand"
  present=''
  for path in $KNOWN_INVALID; do
    parent=${path%.*}
    key=${path##*.}
    if jq -e --arg key "$key" "($parent | objects | has(\$key)) // false" "$work/current" >/dev/null; then
      present="$present $path"
    fi
  done
  if [ -z "$present" ]; then
    fail "no known-invalid key in $CONFIG: the unrecognized key in the log needs a human (see the pattern's diagnosis)"
  fi
  if [ ! -f "$BACKUP" ]; then
    cp -- "$work/current" "$BACKUP.new" && mv -f -- "$BACKUP.new" "$BACKUP"
    log "backed up $CONFIG to $BACKUP"
  fi
  filter=$(printf '%s\n' "$present" | sed -e 's/^ //' -e 's/ /, /g')
  jq "del($filter)" "$work/current" >"$work/new" || fail "jq could not rewrite $CONFIG"
  # Written in place as the owner: keeps the owner and the mode.
  write_config "$work/new"
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
  prepare
  if [ ! -f "$BACKUP" ]; then
    log "no backup at $BACKUP, nothing to roll back"
    return 0
  fi
  write_config "$BACKUP"
  rm -f -- "$BACKUP"
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
