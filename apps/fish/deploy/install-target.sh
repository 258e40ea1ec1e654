#!/bin/sh
# install-target.sh - prepares a host so fish can run catalog scripts on it (Option B).
#
# What it installs (idempotent: running it again with the same inputs changes nothing):
#   $PREFIX/bin/fish-wrapper                 the forced-command wrapper (root:root 0755)
#   $SYSCONFDIR/fish/allow-triples           one "<pattern id> <script> <verb>" line for each
#                                            script a pattern names (fix -> run, verify ->
#                                            verify, rollback -> rollback) that exists in
#                                            <catalog>/scripts: the wrapper allows exactly these
#   $FISH_HOME_SCRIPTS (/opt/fish/catalog/scripts)  exactly those scripts (0755); scripts no
#                                            longer referenced are removed (and so are the
#                                            allow-list/allow-scripts files of older versions)
#   $SYSCONFDIR/sudoers.d/fish               fish may run the wrapper as root, nothing else
#   user `fish` (system user, shell /bin/sh, home /var/lib/fish-target) and, when PUBKEY and
#   FROM are given, its ~/.ssh/authorized_keys holding only fish's forced-command line.
#
# usage: install-target.sh <export-dir | catalog-dir>
#   <export-dir>   what `fish-sre catalog export-target --out DIR` wrote: allow-triples and scripts/,
#                  from the catalog as fish loads it (every layer: `catalog: [bundled, ./mine]`,
#                  overrides and disables applied). Use this one with a layered catalog.
#   <catalog-dir>  one catalog folder: pattern YAML files (any depth) and a scripts/ folder; its
#                  triples are read from the YAML here (one layer only: no override, no disable)
# environment:
#   DESTDIR      install under this root instead of / (tests, packaging). With DESTDIR set the
#                user is not created unless CREATE_USER=1.
#   PREFIX       default /usr/local          SYSCONFDIR  default /etc
#   FISH_OPT     default /opt/fish           FISH_USER   default fish
#   PUBKEY       fish's public key file      FROM        allowed source IPs/CIDRs (comma list)
#   HOME_DIR     default /var/lib/fish-target (home of the fish user on the target)
set -eu
LC_ALL=C
export LC_ALL
umask 022

die() {
  printf 'install-target.sh: %s\n' "$1" >&2
  exit 2
}

[ "$#" -eq 1 ] || die 'usage: install-target.sh <export-dir | catalog-dir>'
catalog=$1
[ -d "$catalog" ] || die "no catalog folder at $catalog"
[ -d "$catalog/scripts" ] || die "no scripts/ folder in $catalog"

here=$(cd "$(dirname "$0")" && pwd)
destdir=${DESTDIR:-}
prefix=${PREFIX:-/usr/local}
sysconfdir=${SYSCONFDIR:-/etc}
fish_opt=${FISH_OPT:-/opt/fish}
fish_user=${FISH_USER:-fish}
home_dir=${HOME_DIR:-/var/lib/fish-target}
pubkey=${PUBKEY:-}
from=${FROM:-}

case $fish_user in '' | *[!abcdefghijklmnopqrstuvwxyz0123456789_-]*) die "bad FISH_USER: $fish_user" ;; esac
for path in "$prefix" "$sysconfdir" "$fish_opt" "$home_dir"; do
  case $path in /*) ;; *) die "paths must be absolute: $path" ;; esac
done

wrapper_path=$prefix/bin/fish-wrapper
scripts_dir=$fish_opt/catalog/scripts
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

# Installs $1 as $2 with mode $3 only when the content or mode differs (keeps mtimes stable).
put() {
  if [ -f "$2" ] && cmp -s "$1" "$2" && [ "$(stat -c %a "$2")" = "$3" ]; then
    return 0
  fi
  mkdir -p "$(dirname "$2")"
  cp "$1" "$2.fish-new"
  chmod "$3" "$2.fish-new"
  mv -f "$2.fish-new" "$2"
  printf 'installed %s\n' "$2"
}

# 1. The triples. Only lines matching the wrapper's grammar are kept.
triple='^[a-z0-9][a-z0-9-]{0,62}[a-z0-9] [a-z0-9][a-z0-9_-]{0,62}\.sh (run|verify|rollback)$'
if [ -f "$catalog/allow-triples" ]; then
  # An export: the triples fish derived from the whole layered catalog. A line that is not a
  # comment and not a triple means the file is not what export-target wrote: refuse it whole.
  grep -v -e '^#' -e '^$' "$catalog/allow-triples" >"$work/exported" || :
  if grep -vqE "$triple" "$work/exported"; then
    die "$catalog/allow-triples: not a <pattern> <script> <verb> line: $(grep -vE "$triple" "$work/exported" | head -n 1)"
  fi
  sort -u "$work/exported" >"$work/candidates"
else
  # One catalog folder: each pattern file's top-level `id:` and the `script:` under its top-level
  # fix/verify/rollback.
  find "$catalog" -type f \( -name '*.yaml' -o -name '*.yml' \) | sort | while IFS= read -r file; do
    awk '
      function value(line) {
        sub(/^[^:]*:[[:space:]]*/, "", line)
        sub(/[[:space:]]+#.*$/, "", line)
        sub(/[[:space:]]+$/, "", line)
        if (line ~ /^".*"$/ || line ~ /^\047.*\047$/) line = substr(line, 2, length(line) - 2)
        return line
      }
      /^id:/ { id = value($0) }
      /^[^[:space:]#][^:]*:/ { section = $0; sub(/:.*/, "", section) }
      /^[[:space:]]+script:/ {
        if (section == "fix") verbs[++count] = "run"
        else if (section == "verify" || section == "rollback") verbs[++count] = section
        else next
        scripts[count] = value($0)
      }
      END { for (i = 1; i <= count; i++) print id, scripts[i], verbs[i] }
    ' "$file"
  done | grep -E "$triple" | sort -u >"$work/candidates" || :
fi
: >"$work/allow-triples"
while read -r pattern script verb; do
  if [ -f "$catalog/scripts/$script" ]; then
    printf '%s %s %s\n' "$pattern" "$script" "$verb" >>"$work/allow-triples"
  else
    printf 'install-target.sh: warning: %s (%s of %s) is not in %s/scripts; not allowed\n' "$script" "$verb" "$pattern" "$catalog" >&2
  fi
done <"$work/candidates"
[ -s "$work/allow-triples" ] || die "no pattern with an installable script found in $catalog"
cut -d ' ' -f 2 "$work/allow-triples" | sort -u >"$work/allow-scripts"

# 2. Wrapper, allow-lists, scripts.
put "$here/fish-wrapper" "$destdir$wrapper_path" 755
put "$work/allow-triples" "$destdir$sysconfdir/fish/allow-triples" 644
for old in allow-list allow-scripts; do
  if [ -e "$destdir$sysconfdir/fish/$old" ]; then
    rm -f -- "$destdir$sysconfdir/fish/$old"
    printf 'removed %s\n' "$destdir$sysconfdir/fish/$old"
  fi
done
mkdir -p "$destdir$scripts_dir"
while IFS= read -r script; do
  put "$catalog/scripts/$script" "$destdir$scripts_dir/$script" 755
done <"$work/allow-scripts"
for installed in "$destdir$scripts_dir"/*; do
  [ -e "$installed" ] || continue
  name=${installed##*/}
  if ! grep -qxF -e "$name" -- "$work/allow-scripts"; then
    rm -f -- "$installed"
    printf 'removed %s\n' "$installed"
  fi
done

# 3. sudoers drop-in (path and user substituted), checked before it is put in place.
sed -e "s#/usr/local/bin/fish-wrapper#$wrapper_path#g" -e "s#^fish ALL#$fish_user ALL#" "$here/sudoers.d/fish" >"$work/sudoers"
if command -v visudo >/dev/null 2>&1; then
  visudo -cqf "$work/sudoers" || die 'the generated sudoers drop-in does not parse'
fi
put "$work/sudoers" "$destdir$sysconfdir/sudoers.d/fish" 440

# 4. The fish user (a real shell: sshd runs forced commands with the user's shell).
if [ -z "$destdir" ] || [ "${CREATE_USER:-0}" = 1 ]; then
  if ! id "$fish_user" >/dev/null 2>&1; then
    # Password '*': no password login, but not "locked" ('!'), which sshd refuses when UsePAM is off.
    useradd --system --create-home --home-dir "$home_dir" --shell /bin/sh --password '*' --comment 'fish SRE bot' "$fish_user"
    printf 'created user %s\n' "$fish_user"
  fi
fi

# 5. authorized_keys: only fish's forced-command line.
if [ -n "$pubkey" ]; then
  [ -n "$from" ] || die 'PUBKEY needs FROM (the addresses fish connects from)'
  "$here/authorized-keys-line.sh" "$pubkey" "$from" >"$work/authorized_keys"
  put "$work/authorized_keys" "$destdir$home_dir/.ssh/authorized_keys" 600
  if [ -z "$destdir" ]; then
    chown -R "$fish_user:" "$home_dir/.ssh"
    chmod 700 "$home_dir/.ssh"
  fi
fi
printf 'fish target ready: %s pattern(s), %s script(s), %s allowed triple(s)\n' "$(cut -d ' ' -f 1 "$work/allow-triples" | sort -u | wc -l | tr -d ' ')" "$(wc -l <"$work/allow-scripts" | tr -d ' ')" "$(wc -l <"$work/allow-triples" | tr -d ' ')"
