#!/usr/bin/env bash
# Prepare this machine for the lab and the tests, from nothing; safe to run again (it only does what is missing).
#   1. host packages with apt, as root: for the tests (shellcheck, systemd-analyze; PostgreSQL 15, PgBouncer, Redis,
#      HAProxy and nginx binaries that the unit tests start on loopback as throwaway servers) and for the lab (podman, runc,
#      debootstrap)
#   2. the virtualenv .venv with the pinned requirements, and the collection linked where Ansible looks for it
#   3. the lab image (debootstrap + podman import; cached by a hash of its inputs)
#   4. a podman that can run systemd containers here: if the default runtime fails (cgroups v1 hosts, rlimits above
#      the hard limits), a containers.conf drop-in selects runc with explicit ulimits. Laptops with cgroups v2 and
#      a working crun are left alone.
# `scripts/setup.sh venv` does only 1 (the test packages, when root) and 2: what `make lint` and `make unit` need,
# without podman. Without root, missing test servers are skipped by the unit tests (and fail them in CI).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '\033[1m== %s\033[0m\n' "$*"; }
mode=${1:-all}

missing=()
needs=(shellcheck:shellcheck systemd-analyze:systemd /usr/lib/postgresql/15/bin/initdb:postgresql-15
       /usr/sbin/pgbouncer:pgbouncer redis-server:redis-server haproxy:haproxy nginx:nginx-light)
[ "$mode" = venv ] || needs+=(podman:podman runc:runc debootstrap:debootstrap)
for pair in "${needs[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    log "installing host packages: ${missing[*]}"
    apt-get update -q
    # The servers are only wanted as binaries for the tests: do not start them (policy-rc.d refuses service starts).
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  elif [ "$mode" = venv ]; then
    echo "setup: not installed: ${missing[*]} (needs root: sudo $0); tests that need them are skipped" >&2
  else
    echo "setup: install ${missing[*]} (needs root: sudo $0)" >&2
    exit 1
  fi
fi

stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-test.txt | sha256sum | cut -c1-64)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "virtualenv .venv"
  python3 -m venv .venv
  # (this machine kind's pip config names local mirrors that may be missing: drop its warnings, keep errors)
  .venv/bin/pip install -q --upgrade pip 2>&1 | { grep -v '^WARNING: Location' || true; }
  .venv/bin/pip install -q -r requirements-test.txt 2>&1 | { grep -v '^WARNING: Location' || true; }
  echo "$want" > "$stamp"
fi

link=.ansible/collections/ansible_collections/opsready/runbooks
if [ ! -L "$link" ]; then
  mkdir -p "$(dirname "$link")"
  ln -s ../../../.. "$link"
fi

[ "$mode" = venv ] && exit 0

log "lab image"
image=$(lab/image/build.sh | tail -n 1)

probe() { podman run --rm --network none "$image" /bin/true >/dev/null; }
if ! probe 2>/tmp/opsready-podman-probe.err; then
  dropin=/etc/containers/containers.conf.d/opsready-lab.conf
  log "podman's default runtime fails here ($(tail -n 1 /tmp/opsready-podman-probe.err)); writing $dropin"
  # runc, and rlimits at or below the host's hard limits (crun and podman's defaults fail on cgroups v1 hosts).
  nofile=$(( $(ulimit -Hn) < 20000 ? $(ulimit -Hn) : 20000 ))
  mkdir -p "$(dirname "$dropin")"
  cat > "$dropin" <<CONF
# Written by opsready.runbooks scripts/setup.sh: podman's defaults fail on this host.
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF
  probe || { echo "setup: podman still cannot run a container; see above" >&2; exit 1; }
fi
log "ready: $image"
