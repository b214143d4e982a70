#!/usr/bin/env bash
# `make images`: the control plane's image and every worker image that can be built here, tagged `:dev`
# (IMAGE_TAG to change). Base images are pulled when a registry answers; on hosts without one (this project's CI),
# local stand-ins of the same names are made first (deploy/images/standins.sh).
#
# EXTRA_ENGINES="unix:///run/docker-n2.sock ..." also loads the worker images into those engines (other nodes).
set -euo pipefail
cd "$(dirname "$0")/../.."

TAG=${IMAGE_TAG:-dev}
DOCKER=${DOCKER:-docker}
step() { printf '\n-- %s\n' "$*"; }

if ! "$DOCKER" info >/dev/null 2>&1; then
  echo "no Docker engine answers (start dockerd, or set DOCKER_HOST)" >&2
  exit 1
fi

base() { # base IMAGE STANDIN: present, pulled, or made locally
  if "$DOCKER" image inspect "$1" >/dev/null 2>&1; then return; fi
  if timeout 30 "$DOCKER" pull -q "$1" >/dev/null 2>&1; then echo "pulled $1"; return; fi
  echo "$1 cannot be pulled here: making a local stand-in"
  deploy/images/standins.sh "$2"
}

build() { # build IMAGE CONTEXT [DOCKERFILE]
  local image=$1 context=$2 dockerfile=${3:-$2/Dockerfile} started=$SECONDS
  step "$image ($dockerfile)"
  local output
  if ! output=$(DOCKER_BUILDKIT=0 "$DOCKER" build -f "$dockerfile" -t "$image" "$context" 2>&1); then
    printf '%s\n' "$output" | tail -n 40 >&2
    echo "building $image failed" >&2
    exit 1
  fi
  printf '   %s: %s MB in %ss\n' "$image" \
    "$(( $("$DOCKER" image inspect -f '{{.Size}}' "$image") / 1000000 ))" "$(( SECONDS - started ))"
}

step "base images"
base python:3.11-slim python
base node:22-slim node

workers=()
build "wagw/gateway:$TAG" . deploy/images/gateway.Dockerfile
build "wagw/sandbox-worker:$TAG" . deploy/images/sandbox-worker.Dockerfile
workers+=("wagw/sandbox-worker:$TAG")

# A provider's image packs its built worker (`make workers`): skipped, with the reason, when it is not built.
provider_image() { # provider_image NAME ARTEFACT
  local name=$1 artefact=$2
  if [[ ! -f providers/$name/Dockerfile ]]; then
    echo "-- wagw/$name-worker: no providers/$name/Dockerfile, skipped"
  elif [[ ! -e providers/$name/$artefact ]]; then
    echo "-- wagw/$name-worker: providers/$name/$artefact is not built (make workers), skipped"
  else
    # The Node.js workers depend on providers/node-kit (file:../node-kit), so their context is providers/.
    case $name in
      whatsmeow) build "wagw/$name-worker:$TAG" "providers/$name" ;;
      *) build "wagw/$name-worker:$TAG" providers "providers/$name/Dockerfile" ;;
    esac
    workers+=("wagw/$name-worker:$TAG")
  fi
}
provider_image whatsmeow bin/whatsmeow-worker
provider_image baileys dist/main.js
provider_image wawebjs dist/main.js

for engine in ${EXTRA_ENGINES:-}; do
  step "loading worker images into $engine"
  "$DOCKER" save "${workers[@]}" | "$DOCKER" -H "$engine" load -q
done
step "done: ${workers[*]} wagw/gateway:$TAG"
