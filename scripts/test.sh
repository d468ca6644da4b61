#!/usr/bin/env bash
# The test command (README: `make test`; CI: .ci/run). Stages: lint, package, sanity, unit, molecule; default all, in that
# order, stopping at the first failure. Expects scripts/setup.sh to have run (make test does that first).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_HOME="${ANSIBLE_HOME:-$PWD/.ansible}"
stages=("$@")
((${#stages[@]})) || stages=(lint package sanity unit molecule)
log() { printf '\033[1m== %s\033[0m\n' "$*"; }

lint() {
  log "ansible-lint (production profile)"
  ansible-lint
  log "changelog fragments"
  antsibull-changelog lint
}

sanity() {
  # ansible-test needs the collection at .../ansible_collections/opsready/runbooks: copy the tracked tree there.
  local root
  root=$(mktemp -d)
  trap 'rm -rf "$root"' RETURN
  mkdir -p "$root/ansible_collections/opsready/runbooks"
  git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} cp --parents {} "$root/ansible_collections/opsready/runbooks/"
  # Machines without ansible-test's download host cannot fetch get-pip for its venvs: use ensurepip + PyPI.
  getent hosts ci-files.testing.ansible.com >/dev/null 2>&1 || scripts/ansible-test-offline.sh
  log "ansible-test sanity"
  (cd "$root/ansible_collections/opsready/runbooks" && git init -q && git add -A &&
    ansible-test sanity --venv --python "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')")
}

package() {
  log "collection build + offline install"
  local out
  out=$(mktemp -d)
  trap 'rm -rf "$out"' RETURN
  ansible-galaxy collection build --output-path "$out"
  # A blank config and home, so the checkout's own link in .ansible/collections does not count as installed.
  touch "$out/ansible.cfg"
  ANSIBLE_CONFIG="$out/ansible.cfg" ANSIBLE_HOME="$out/home" ansible-galaxy collection install --offline -p "$out/installed" "$out"/opsready-runbooks-*.tar.gz
  test -f "$out/installed/ansible_collections/opsready/runbooks/MANIFEST.json"
}

unit() {
  log "unit tests"
  python -m pytest -q -n 3 --dist loadfile tests/unit   # a file's tests share its servers: one worker each
}

# The lab needs none of lint, package and sanity: with molecule among several stages it comes up meanwhile (one
# lab/up.yml run, its output in a file), and molecule's create (lab/create.yml) then finds it up.
lab_log=${TMPDIR:-/tmp}/opsready-lab-up.log
lab_pid=
lab_early() {
  log "lab/up.yml in the background while the other stages run (its output: $lab_log)"
  ansible-playbook lab/up.yml >"$lab_log" 2>&1 &
  lab_pid=$!
}
lab_stop() {  # the script stopped before molecule: no bring-up left running, no lab left up
  sanity_stop
  if [[ -n $lab_pid ]]; then
    kill "$lab_pid" 2>/dev/null && wait "$lab_pid" 2>/dev/null
    ansible-playbook lab/down.yml >>"$lab_log" 2>&1 || true
  fi
}

molecule_all() {
  if [[ -n $lab_pid ]]; then
    log "waiting for the lab bring-up"
    local status=0
    wait "$lab_pid" || status=$?
    lab_pid=
    tail -n 12 "$lab_log"
    if ((status)); then
      echo "lab/up.yml failed (exit $status); its whole output: $lab_log" >&2
      return "$status"
    fi
    export OPSREADY_LAB_UP=1
  fi
  log "molecule: every scenario against one lab bring-up"
  molecule test --all
}

# lint and ansible-test sanity are each mostly one process: with both asked for, sanity runs beside lint (its output
# in a file, shown at its turn; in a session of its own, so a stop before its turn stops all of it).
sanity_log=${TMPDIR:-/tmp}/opsready-sanity.log
sanity_pid=
sanity_stop() { [[ -z $sanity_pid ]] || kill -- "-$sanity_pid" 2>/dev/null || true; }
if [[ " ${stages[*]} " == *" lint "* && " ${stages[*]} " == *" sanity "* ]]; then
  setsid bash "$0" sanity >"$sanity_log" 2>&1 &
  sanity_pid=$!
fi
sanity_wait() {
  local status=0
  wait "$sanity_pid" || status=$?
  sanity_pid=
  cat "$sanity_log"
  return "$status"
}

if ((${#stages[@]} > 1)) && [[ " ${stages[*]} " == *" molecule "* ]]; then
  lab_early
fi
trap lab_stop EXIT

for stage in "${stages[@]}"; do
  case "$stage" in
    lint) lint ;;
    sanity) if [[ -n $sanity_pid ]]; then sanity_wait; else sanity; fi ;;
    package) package ;;
    unit) unit ;;
    molecule) molecule_all ;;
    *) echo "unknown stage $stage (lint package sanity unit molecule)" >&2; exit 2 ;;
  esac
done
log "all passed: ${stages[*]}"
