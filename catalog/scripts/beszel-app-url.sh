#!/bin/sh
# beszel-app-url.sh: put Beszel's PocketBase `meta.appURL` back to the public URL
# (pattern beszel-oidc-reset).
#
# Beszel's hub copies the APP_URL / BESZEL_HUB_APP_URL environment variable into PocketBase's
# `meta.appURL` every time it starts. When that variable holds an internal address, every restart
# resets the URL PocketBase builds its OAuth2 redirect from (`<appURL>/api/oauth2-redirect`), and the
# OIDC provider (Authelia) rejects the login with a redirect_uri mismatch. This script sets the
# setting back through PocketBase's settings API (superuser), which takes effect at once. The
# permanent fix is to set BESZEL_HUB_APP_URL to the public URL in the hub's compose file.
#
# Verbs (passed as $1 by the fish wrapper):
#   run       PATCH /api/settings {"meta":{"appURL":"<FISH_BESZEL_APP_URL>"}} if it differs
#   verify    GET /api/settings shows the expected appURL, and /api/health answers (bounded retries)
#   rollback  not supported (exit 64): the previous value is the broken one
#
# Settings (environment, or /etc/fish/catalog.env: NAME=value lines read, never sourced; see load_settings):
#   FISH_BESZEL_URL               hub base URL as seen from this host    (default http://127.0.0.1:8090)
#   FISH_BESZEL_APP_URL           the public URL to restore              (required, e.g. https://beszel.example.com)
#   FISH_BESZEL_CREDENTIALS_FILE  two lines: superuser email, password   (default /etc/fish/beszel-superuser, mode 0600)
#   FISH_VERIFY_ATTEMPTS / FISH_VERIFY_DELAY                             (default 10 / 3 s)
# Needs `curl` and `jq` from PATH. Uses PocketBase >= 0.23's `_superusers` auth (Beszel >= 0.9).
# Secrets never reach argv: the password goes to jq through stdin, and the token to curl through a
# mode-0600 header file in a private temporary folder.
set -eu

log() { printf '%s\n' "beszel-app-url: $*"; }
fail() { printf '%s\n' "beszel-app-url: $*" >&2; exit 1; }

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

BESZEL_URL=${FISH_BESZEL_URL:-http://127.0.0.1:8090}
BESZEL_APP_URL=${FISH_BESZEL_APP_URL:-}
CREDENTIALS_FILE=${FISH_BESZEL_CREDENTIALS_FILE:-/etc/fish/beszel-superuser}
VERIFY_ATTEMPTS=${FISH_VERIFY_ATTEMPTS:-10}
VERIFY_DELAY=${FISH_VERIFY_DELAY:-3}

# Checks the settings and tools, and makes the private work folder.
prepare() {
  [ -n "$BESZEL_APP_URL" ] || fail "FISH_BESZEL_APP_URL is not set (the public URL Beszel must use)"
  case $BESZEL_APP_URL in
    http://* | https://*) ;;
    *) fail "FISH_BESZEL_APP_URL must start with http:// or https://" ;;
  esac
  command -v curl >/dev/null || fail "curl is not installed"
  command -v jq >/dev/null || fail "jq is not installed"
  umask 077
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
}

# Authenticates as a PocketBase superuser; writes the Authorization header to $work/auth.
authenticate() {
  [ -r "$CREDENTIALS_FILE" ] || fail "cannot read $CREDENTIALS_FILE (line 1: superuser email, line 2: password)"
  if [ ! -f "$CREDENTIALS_FILE" ] || ! owner_only "$CREDENTIALS_FILE" "$SELF_UID" || ! root_path "$CREDENTIALS_FILE" >/dev/null; then
    fail "refusing $CREDENTIALS_FILE: it must be a regular file (no link) that root owns and only root can change"
  fi
  # The file reaches the request body through jq's stdin: the password is never an argument.
  jq -R -s 'split("\n") | {identity: .[0], password: (.[1] // "")}' <"$CREDENTIALS_FILE" >"$work/login.json"
  if ! curl -fsS --max-time 10 -H 'Content-Type: application/json' --data-binary @"$work/login.json" \
    "$BESZEL_URL/api/collections/_superusers/auth-with-password" >"$work/login-response.json"; then
    fail "superuser login to $BESZEL_URL failed"
  fi
  token=$(jq -r '.token // empty' "$work/login-response.json")
  [ -n "$token" ] || fail "superuser login answered without a token"
  printf 'Authorization: %s\n' "$token" >"$work/auth"
}

# Prints the current meta.appURL.
current_app_url() {
  curl -fsS --max-time 10 -H @"$work/auth" "$BESZEL_URL/api/settings" >"$work/settings.json" || return 1
  jq -r '.meta.appURL // ""' "$work/settings.json"
}

do_run() {
  prepare
  authenticate
  current=$(current_app_url) || fail "could not read $BESZEL_URL/api/settings"
  if [ "$current" = "$BESZEL_APP_URL" ]; then
    log "meta.appURL is already $BESZEL_APP_URL, nothing to do"
    return 0
  fi
  log "meta.appURL is '$current', setting it to $BESZEL_APP_URL"
  jq -n --arg url "$BESZEL_APP_URL" '{meta: {appURL: $url}}' >"$work/patch.json"
  curl -fsS --max-time 10 -X PATCH -H @"$work/auth" -H 'Content-Type: application/json' \
    --data-binary @"$work/patch.json" "$BESZEL_URL/api/settings" >/dev/null || fail "PATCH $BESZEL_URL/api/settings failed"
  log "meta.appURL set; make it permanent with BESZEL_HUB_APP_URL=$BESZEL_APP_URL in the hub's environment"
}

do_verify() {
  prepare
  attempt=1
  while :; do
    if curl -fsS --max-time 5 "$BESZEL_URL/api/health" >/dev/null 2>&1; then
      authenticate
      current=$(current_app_url) || current='(unreadable)'
      if [ "$current" = "$BESZEL_APP_URL" ]; then
        log "verified: hub healthy and meta.appURL is $BESZEL_APP_URL"
        return 0
      fi
      problem="meta.appURL is '$current', expected $BESZEL_APP_URL"
    else
      problem="$BESZEL_URL/api/health does not answer"
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
    printf '%s\n' "beszel-app-url: rollback is not supported (the previous value is the broken one)" >&2
    exit 64
    ;;
  *)
    printf '%s\n' "usage: beszel-app-url.sh run|verify" >&2
    exit 64
    ;;
esac
