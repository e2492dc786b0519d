#!/usr/bin/env bash
# Make sure a container engine answers on this machine: install Debian's docker.io if dockerd is missing,
# start dockerd in the background when nothing listens on its socket (no systemd here), wait for it.
# Exit 0 when `docker info` works; exit 3 when no engine can be started (callers report and fail).
set -uo pipefail
DOCKER=${DOCKER:-/usr/bin/docker}   # Debian's client: the newer one on PATH lacks buildx
LOG=${DOCKERD_LOG:-/var/log/aisetl-dockerd.log}

if "$DOCKER" info >/dev/null 2>&1; then exit 0; fi

if ! command -v dockerd >/dev/null 2>&1 || [ ! -x "$DOCKER" ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "docker-up: no dockerd and cannot install it (needs root and apt-get)" >&2; exit 3
    fi
    echo "docker-up: installing docker.io from Debian" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null \
        || { echo "docker-up: apt-get install docker.io failed" >&2; exit 3; }
fi

if [ "$(id -u)" != 0 ]; then
    echo "docker-up: dockerd is not running and only root can start it here" >&2; exit 3
fi
echo "docker-up: starting dockerd (log: $LOG)" >&2
nohup dockerd >"$LOG" 2>&1 &
for _ in $(seq 1 120); do
    if "$DOCKER" info >/dev/null 2>&1; then exit 0; fi
    sleep 0.5
done
echo "docker-up: dockerd did not answer within 60 s; the end of $LOG:" >&2
tail -n 20 "$LOG" >&2
exit 3
