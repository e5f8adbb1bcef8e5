#!/usr/bin/env bash
# Build the emulator's base image without a registry: Debian bookworm (minbase) with debootstrap
# from an apt mirror, plus python3 and the protocol clients, then `docker import`.
#
#   compose/base-image.sh            # prints the tag; builds only when that tag is missing
#   MIRROR=http://my-mirror/debian compose/base-image.sh
#
# The tag is a hash of this script (the suite and the package list), so a changed list makes a
# new image and an unchanged one is never built twice. Needs root (debootstrap) and docker.
set -euo pipefail

SUITE=bookworm
PACKAGES=python3,python3-pip,python3-venv,ca-certificates,iproute2,ipmitool,snmp,openssh-client,sshpass,curl
# the mirror apt is configured with, else Debian's
default_mirror() {
    grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d 2>/dev/null \
        | grep -oE 'https?://[^ ]+' | head -n1 || true
}
MIRROR=${MIRROR:-$(default_mirror)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

here=$(cd "$(dirname "$0")" && pwd)
digest=$(sha256sum "$here/base-image.sh" | cut -c1-12)
TAG=${BASE_TAG:-scaleunit-base:$SUITE-$digest}

if docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "$TAG"
    exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
command -v debootstrap >/dev/null || {
    echo "error: debootstrap is not installed (apt-get install debootstrap)" >&2
    exit 1
}

root=$(mktemp -d /tmp/scaleunit-base.XXXXXX)
trap 'as_root rm -rf "$root"' EXIT
echo "building $TAG from $MIRROR (debootstrap $SUITE, about a minute)" >&2
as_root debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" >&2
# what an image does not need: the apt lists and caches, the docs
as_root rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
    "$root"/var/cache/apt/archives/*.deb "$root"/usr/share/doc/* "$root"/usr/share/man/* \
    "$root"/usr/share/locale/*
as_root tar -C "$root" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$TAG" >&2
echo "$TAG"
