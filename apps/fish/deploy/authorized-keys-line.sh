#!/bin/sh
# Prints the authorized_keys line for fish's key on a target host:
#   command="sudo -n /usr/local/bin/fish-wrapper",from="<sources>",restrict <type> <key> <comment>
#
# usage: authorized-keys-line.sh <public-key-file> <from-pattern-list>
#   public-key-file    fish's public key (e.g. /var/lib/fish/id_ed25519.pub)
#   from-pattern-list  where fish connects from: IPs or CIDRs, comma-separated (no spaces),
#                      e.g. 192.168.1.10,100.64.0.0/10
# WRAPPER=/path overrides the wrapper path (default /usr/local/bin/fish-wrapper).
#
# `restrict` turns off port/agent/X11 forwarding, pty and ~/.ssh/rc; `command=` forces the wrapper
# for every exec, shell and subsystem request; `from=` limits the source addresses.
set -eu
LC_ALL=C
export LC_ALL

die() {
  printf 'authorized-keys-line.sh: %s\n' "$1" >&2
  exit 2
}

[ "$#" -eq 2 ] || die 'usage: authorized-keys-line.sh <public-key-file> <from-pattern-list>'
key_file=$1
from=$2
wrapper=${WRAPPER:-/usr/local/bin/fish-wrapper}

case $from in
  '' | *[!0123456789abcdefABCDEF.:/,]*) die "from list must be IPs/CIDRs separated by commas, got: $from" ;;
esac
case $from in ,* | *, | *,,*) die 'from list has an empty entry' ;; esac
case $wrapper in
  /*) ;;
  *) die 'WRAPPER must be an absolute path' ;;
esac
case $wrapper in *[!abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-]*) die 'WRAPPER has unsafe characters' ;; esac
[ -r "$key_file" ] || die "cannot read $key_file"

# One key per file: take the first non-comment line.
line=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' -- "$key_file" | head -n 1)
[ -n "$line" ] || die "no key in $key_file"
set -f
# shellcheck disable=SC2086 # splitting the key line into its fields is intended
set -- $line
set +f
[ "$#" -ge 2 ] || die 'the key line needs a type and a key'
key_type=$1
key_data=$2
comment=${3:-fish}
case $key_type in
  ssh-ed25519 | ecdsa-sha2-nistp256 | ecdsa-sha2-nistp384 | ecdsa-sha2-nistp521 | ssh-rsa | sk-ssh-ed25519@openssh.com) ;;
  *) die "unsupported key type: $key_type (is this a public key?)" ;;
esac
case $key_data in
  '' | *[!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=]*) die 'the key is not base64' ;;
esac
case $comment in *[!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@._-]*) comment=fish ;; esac

printf 'command="sudo -n %s",from="%s",restrict %s %s %s\n' "$wrapper" "$from" "$key_type" "$key_data" "$comment"
