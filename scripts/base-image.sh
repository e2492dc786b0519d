#!/usr/bin/env bash
# Make the `python:X.Y-slim` base image locally when it is missing: no registry is reachable from the
# project's machines, so the image is a Debian minbase (debootstrap, the release this machine runs) with
# Debian's python3, made to look like the official image to a Dockerfile (`python`, `pip`, pip allowed to
# install system-wide). The machine's extra CA certificates (/usr/local/share/ca-certificates/) go into
# its trust store so that `pip install` inside builds trusts the package index behind a TLS-re-signing
# proxy. Cached: nothing is done when the image exists. Prints the image name.
set -euo pipefail
DOCKER=${DOCKER:-/usr/bin/docker}
. /etc/os-release
SUITE=${SUITE:-$VERSION_CODENAME}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

# The Python Debian provides in that release decides the tag (bookworm: 3.11).
PYVER=${PYVER:-$(apt-cache show python3 2>/dev/null | sed -n 's/^Version: \([0-9]*\.[0-9]*\).*/\1/p' | head -n1)}
[ -n "$PYVER" ] || { echo "base-image: cannot tell the python3 version of $SUITE" >&2; exit 1; }
IMAGE=${IMAGE:-python:$PYVER-slim}

if "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then echo "$IMAGE"; exit 0; fi
command -v debootstrap >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}

ROOT=$(mktemp -d /tmp/aisetl-base.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
echo "base-image: debootstrap $SUITE into $ROOT (a few minutes, once)" >&2
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates,passwd \
    "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 || { tail -n 30 "$ROOT.log" >&2; exit 1; }
rm -f "$ROOT.log"

if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
fi
chroot "$ROOT" update-ca-certificates >/dev/null
# As in the official image: pip installs into the system Python (no PEP 668 marker); `pip` is on PATH.
rm -f "$ROOT"/usr/lib/python3*/EXTERNALLY-MANAGED
[ -e "$ROOT/usr/bin/pip" ] || ln -s pip3 "$ROOT/usr/bin/pip"
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb

tar -C "$ROOT" -c . | "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python3"]' \
    --message "aisetl stand-in for $IMAGE: Debian $SUITE minbase + python3" - "$IMAGE" >/dev/null
echo "$IMAGE"
