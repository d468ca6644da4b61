#!/usr/bin/env bash
# Show the lab working the way a user meets it: the API over TLS through lb1 (verified against the lab CA), a write
# that lands on the primary and streams to the replica, and the load balancer's view of the app hosts.
set -euo pipefail
cd "$(dirname "$0")/.."
lb=$(python3 -c "import yaml; print(yaml.safe_load(open('inventories/lab/hosts.yml'))['all']['children']['lab']['children']['lb']['hosts']['lb1']['lab_ip'])")
name=$(python3 -c "import yaml; print(yaml.safe_load(open('inventories/lab/group_vars/all.yml'))['lab_public_name'])")
api() { curl -sS --fail-with-body --cacert .lab/pki/ca.crt --resolve "$name:443:$lb" "$@"; echo; }
psql_on() { podman exec "$1" runuser -u postgres -- psql -X -At -d demo -c "$2"; }

echo "== GET https://$name/health (TLS through lb1, verified by the lab CA)"
api "https://$name/health"
echo "== POST https://$name/api/items"
item=$(api -X POST -H 'Content-Type: application/json' -d "{\"name\": \"demo $(date -u +%FT%TZ)\"}" "https://$name/api/items")
echo "$item"
id=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['id'])" "$item")
sleep 1
echo "== the row on db1 (primary) and db2 (replica)"
echo "db1: $(psql_on db1 "SELECT id, name FROM items WHERE id = $id")"
echo "db2: $(psql_on db2 "SELECT id, name FROM items WHERE id = $id")"
echo "== replication seen from db1"
podman exec db1 runuser -u postgres -- psql -X -c "SELECT application_name, state, sync_state, replay_lag FROM pg_stat_replication"
echo "== HAProxy's app backend (admin socket on lb1)"
podman exec lb1 sh -c "echo 'show servers state app' | socat stdio /run/haproxy/admin.sock" | awk 'NR>2 && NF {print $4, ($6==2 ? "UP" : "state " $6)}'
echo "== playbooks/health_check.yml: every check the lab inventory declares, concurrently, one report"
if ! ansible-playbook playbooks/health_check.yml > .lab/health_check.log 2>&1; then
  tail -n 40 .lab/health_check.log
  echo "health check FAILED (full output: .lab/health_check.log)" >&2
  exit 1
fi
latest=$(printf '%s\n' evidence/health_check-*.json | sort | tail -n 1)   # names carry a sortable UTC time
cat "${latest%.json}.md"
echo "(evidence: $latest and ${latest%.json}.md)"
