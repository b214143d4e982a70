#!/usr/bin/env bash
# Local stand-ins for the public base images our Dockerfiles start FROM, for hosts that cannot pull from a registry
# (this project's CI host among them). Each stand-in is a minimal Debian bookworm made with debootstrap, given the
# host's CA bundle (TLS to package registries may go through an intercepting proxy) and imported under the exact name
# of the real image, so `docker build` finds it locally and never pulls. Elsewhere, skip this and pull the real bases.
#
#   deploy/images/standins.sh [python|node]...     (default: both; an image that already exists is kept)
set -euo pipefail

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DOCKER=${DOCKER:-docker}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
WORK=${STANDIN_WORKDIR:-/var/tmp/wagw-standins}

have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# rootfs NAME PACKAGES: a debootstrapped tree in $WORK/NAME, with the CA bundle, cleaned of apt lists and docs.
rootfs() {
  local dir="$WORK/$1"
  rm -rf "$dir"
  mkdir -p "$WORK"
  echo "debootstrap $1 (bookworm, minbase, +$2) from $MIRROR"
  debootstrap --variant=minbase --include="$2" bookworm "$dir" "$MIRROR" >"$WORK/$1.log" 2>&1 \
    || { tail -n 20 "$WORK/$1.log"; exit 1; }
  install -D -m 0644 "$CA_BUNDLE" "$dir/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/usr/share/doc/* "$dir"/usr/share/man/*
}

import_image() { # import_image NAME DIR CHANGES...
  local name=$1 dir=$2
  shift 2
  tar -C "$dir" -c . | "$DOCKER" import "$@" - "$name" >/dev/null
  echo "imported $name"
}

python_standin() {
  local name=python:3.11-slim
  if have_image "$name"; then echo "$name: present"; return; fi
  rootfs python "python3,python3-venv,ca-certificates"
  # The real image has `python` and `pip` on PATH and pip pointed at the system CA bundle.
  ln -sf python3 "$WORK/python/usr/bin/python"
  import_image "$name" "$WORK/python" \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python3"]'
  rm -rf "$WORK/python"
}

node_standin() {
  local name=node:22-slim
  if have_image "$name"; then echo "$name: present"; return; fi
  rootfs node "ca-certificates"
  # Debian's nodejs is 18; the workers need >= 20, so the stand-in carries the host's node and npm.
  local node_bin node_root
  node_bin=$(readlink -f "$(command -v node)")
  node_root=$(dirname "$(dirname "$node_bin")")
  install -D -m 0755 "$node_bin" "$WORK/node/usr/local/bin/node"
  if [[ -d "$node_root/lib/node_modules/npm" ]]; then
    mkdir -p "$WORK/node/usr/local/lib/node_modules"
    cp -a "$node_root/lib/node_modules/npm" "$WORK/node/usr/local/lib/node_modules/"
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$WORK/node/usr/local/bin/npm"
  fi
  # The real image has a `node` user with uid 1000.
  chroot "$WORK/node" /usr/sbin/useradd --uid 1000 --create-home --shell /bin/sh node
  import_image "$name" "$WORK/node" \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["node"]'
  rm -rf "$WORK/node"
}

targets=("$@")
((${#targets[@]})) || targets=(python node)
for target in "${targets[@]}"; do
  case "$target" in
    python) python_standin ;;
    node) node_standin ;;
    *) echo "unknown stand-in: $target (python, node)" >&2; exit 2 ;;
  esac
done
