#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: health_check
short_description: Check a whole platform at once (HTTP, app metrics, TCP, TLS, PostgreSQL, Redis, disk, commands)
version_added: 0.1.0
description:
  - Runs a list of checks concurrently on a bounded pool of workers, each with its own timeout and the whole sweep
    with an overall deadline, and returns every result with a summary.
  - A check's timeout bounds the whole check, whatever the target does - a server that trickles its answer a byte at
    a time, redirects, retries, a TLS handshake that never ends. Every network operation only gets the time left.
    A check still blocked at its timeout (where no socket timeout reaches, for example a hung file system) is
    reported as timed out and is not started again while it stays blocked.
  - A check defined wrongly (a port out of range, a missing CA file, a timeout of 0, a warning threshold beyond the
    critical one, ...) is not run; it gets the state V(error) and a reason naming the setting, and the other checks
    still run. Settings of the whole run (O(timeout), O(deadline), ...) that make no sense fail the task before
    anything runs.
  - Each result has a state (V(ok), V(warning), V(critical), V(error), or V(skipped)), the values observed, the
    latency and a one-line reason a human can act on. V(error) means the check could not be evaluated at all (for
    example a Python package is missing on the host running it); a target that is down, refuses, times out or
    answers wrongly gets the check's O(checks[].severity).
  - Quantities are graded against V(warning) and V(critical) thresholds. The defaults are those of our runbooks
    (see O(thresholds)); O(thresholds) changes them for every check, and a check's own threshold options change
    them for that check.
  - The module never fails because a check failed unless O(fail_on) says so; by default it only reports, and the
    playbook decides (for example with C(failed_when) on RV(summary.failing)).
  - With O(wait_timeout) it sweeps again until every check is at most O(wait_until), or the time is up (the "wait
    until healthy" gate after a rollback or a failover). With O(watch) it sweeps until a check is worse than
    O(wait_until), or the time is up (the watch after a deploy that decides a rollback).
  - Checks run on the host the task runs on; the Python packages each type needs must be there
    (psycopg2 for V(postgres), redis for V(redis), cryptography for V(tls), jmespath for JSON expectations).
author:
  - opsready.runbooks developers (@opsready)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Checks only read. V(command) checks run in check mode only when they say O(checks[].command.read_only=true).
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  checks:
    description: The checks. Each has a unique O(checks[].name) and exactly one check type.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Unique name, used in results, reasons and evidence.
        type: str
        required: true
      severity:
        description: The state a failed check gets (unexpected status, unreachable target, wrong role...).
        type: str
        choices: [critical, warning]
        default: critical
      timeout:
        description:
          - Seconds this check may take in all (connecting, TLS, every redirect, reading, the command). More than 0.
            Defaults to O(timeout).
          - The first sweep of a V(metrics) check also has its O(checks[].metrics.window).
        type: float
      http:
        description: An HTTP(S) request, with expectations on status, body and latency.
        type: dict
        suboptions:
          url:
            description: Absolute C(http://) or C(https://) URL.
            type: str
            required: true
          method:
            description: HTTP method.
            type: str
            default: GET
          headers:
            description:
              - Request headers. Their values are shown at C(-vvv) and in the results' C(invocation), except those of
                C(Authorization), C(Proxy-Authorization) and C(Cookie).
              - Put tokens and other credentials in O(checks[].http.secret_headers) instead.
              - C(Authorization), C(Proxy-Authorization) and C(Cookie) are sent only to the origin (scheme, host and
                port) of O(checks[].http.url), never on a redirect to another origin.
            type: dict
          secret_headers:
            description:
              - Request headers that are secrets (API keys, bearer tokens), sent like O(checks[].http.headers) but
                never shown (C(no_log)), and, like credentials, never sent on a redirect to another origin.
            type: dict
          body:
            description: Request body; a dict or list is sent as JSON.
            type: raw
          status_codes:
            description: Status codes that count as success.
            type: list
            elements: int
            default: [200]
          json:
            description:
              - Expectations on the JSON body, C(JMESPath expression -> expected value), as with
                P(community.general.json_query#filter). Each expression's value must equal the expected value, as
                JSON values - V(true) is not C(1) and V(false) is not C(0).
              - 'Example: V({"status": "ok", "length(workers\) > `1`": true}).'
            type: dict
          body_regex:
            description: A regular expression the body must match (Python C(re.search)).
            type: str
          body_limit:
            description:
              - Bytes of the body read, at least 1. A longer body is cut, and the result says so (RV(checks[].observed)
                has C(body_truncated)); JSON expectations on a cut body fail saying the body was cut.
            type: int
            default: 1048576
          validate_certs:
            description: Verify the server's certificate and name.
            type: bool
            default: true
          ca_path:
            description: CA bundle to verify against instead of the system's. The file must exist.
            type: path
          follow_redirects:
            description: Follow up to 5 redirects; more, or a redirect loop, is a failure that says so.
            type: bool
            default: false
          maintenance_expected:
            description:
              - 'A site in maintenance answers 503 with C(Retry-After) (or with the page of
                M(opsready.runbooks.maintenance_mode)). Such an answer is reported as C(maintenance: 503 Retry-After
                300) and is V(critical) whatever O(checks[].severity) and O(checks[].http.status_codes) say - users
                are shut out.'
              - Set this during a maintenance window to report it as V(ok) instead.
            type: bool
            default: false
          latency_ms:
            description:
              - Latency thresholds in milliseconds for this check (defaults in O(thresholds.latency_ms)).
              - The latency judged is the request's, from connecting to the end of the body (all redirects included),
                the C(latency) in the reason and RV(checks[].observed.latency_ms); RV(checks[].latency_ms) is the
                whole check.
            type: dict
            suboptions: &limits
              warning:
                description: The value at which the state becomes V(warning).
                type: float
              critical:
                description: The value at which the state becomes V(critical).
                type: float
      metrics:
        description:
          - The app's own error rate and p95 latency, from its Prometheus metrics (text format), read from a request counter
            with a status code label and a latency histogram. Only what happened in a window counts, the difference
            between two scrapes (a restart of the app, which resets its counters, counts from the restart).
          - The window is O(checks[].metrics.window) seconds on the first sweep; with O(watch), every later sweep
            judges the time since the previous one.
          - With fewer than O(checks[].metrics.min_requests) requests in the window the rates are reported but not
            judged (the check is V(ok)); pair it with a liveness check, which sees an app that answers nothing.
          - Metrics that cannot be read (the endpoint refuses, times out, answers anything but 200, lacks the
            counter, or answers more than O(checks[].metrics.body_limit)) make the check V(error), whatever its
            severity. A signal that cannot be evaluated is not a threshold crossed, and a release watch does not roll
            back on it.
        type: dict
        suboptions:
          url:
            description: The metrics endpoint, an absolute C(http://) or C(https://) URL.
            type: str
            required: true
          headers:
            description: Request headers, shown at C(-vvv) (put credentials in O(checks[].metrics.secret_headers)).
            type: dict
          secret_headers:
            description: Request headers that are secrets (for example an authorization token), never shown (C(no_log)).
            type: dict
          body_limit:
            description: Bytes of the answer read, at least 1. A longer answer is an V(error) (counts from a cut answer
              would be wrong).
            type: int
            default: 16777216
          validate_certs:
            description: Verify the endpoint's TLS certificate.
            type: bool
            default: true
          ca_path:
            description: CA bundle for O(checks[].metrics.validate_certs). The file must exist.
            type: path
          requests:
            description: The request counter's sample name.
            type: str
            default: http_requests_total
          duration:
            description: The latency histogram's name (seconds; its C(_bucket) samples are read).
            type: str
            default: http_request_duration_seconds
          code_label:
            description: The counter's label holding the HTTP status code.
            type: str
            default: code
          error_codes:
            description: A regular expression for the status codes that count as errors.
            type: str
            default: 5..
          match:
            description: Only series whose labels have these values count (for example C(handler=api)).
            type: dict
            default: {}
          window:
            description: Seconds between the two scrapes of the first sweep.
            type: float
            default: 10
          min_requests:
            description: Fewer requests than this in the window are not judged.
            type: int
            default: 20
          error_rate_pct:
            description: Error rate thresholds in percent of the requests (defaults in O(thresholds.error_rate_pct)).
            type: dict
            suboptions: *limits
          p95_ms:
            description: 95th percentile latency thresholds in milliseconds (defaults in O(thresholds.p95_ms)).
            type: dict
            suboptions: *limits
      tcp:
        description: A TCP connection within a latency budget.
        type: dict
        suboptions:
          host:
            description: Host name or address.
            type: str
            required: true
          port:
            description: TCP port (1 to 65535).
            type: int
            required: true
          latency_ms:
            description: Connect-time thresholds in milliseconds (defaults in O(thresholds.latency_ms)).
            type: dict
            suboptions: *limits
      tls:
        description:
          - The certificate a TLS server presents - days left, trust, issuer and names. An untrusted certificate is
            still read, so its expiry is reported too.
        type: dict
        suboptions:
          host:
            description: Host name or address to connect to.
            type: str
            required: true
          port:
            description: TCP port (1 to 65535).
            type: int
            default: 443
          server_name:
            description: Name sent in SNI and verified against the certificate. Defaults to O(checks[].tls.host).
            type: str
          validate_certs:
            description: Report a certificate that does not verify (chain or name) as a failure.
            type: bool
            default: true
          ca_path:
            description: CA bundle to verify against instead of the system's. The file must exist.
            type: path
          issuer:
            description: A regular expression the issuer (RFC 4514 string) must match.
            type: str
          names:
            description: DNS names the certificate must cover (wildcards in the certificate count).
            type: list
            elements: str
          cert_days:
            description: >-
              Days-left thresholds; the state is reached when the days left fall below the value (defaults in
              O(thresholds.cert_days)).
            type: dict
            suboptions: *limits
      postgres:
        description:
          - Connects and reads the server's version, role (primary or replica), connections against
            C(max_connections), and replication - on a primary every replica's replay lag in seconds and bytes
            (from C(pg_stat_replication)), on a replica its own lag and whether its WAL receiver streams.
          - The login role needs C(pg_monitor) to see replication details.
        type: dict
        suboptions:
          login_host:
            description:
              - Host name or address of the server.
              - Or the cluster's members separated by commas (V(db1,db2), each optionally V(host:port)) with
                O(checks[].postgres.target_session_attrs) - the check finds the current primary (or a standby)
                itself, before and after a failover, and says which one answered.
            type: str
            default: localhost
          login_port:
            description: Port of the server (1 to 65535).
            type: int
            default: 5432
            aliases: [port]
          login_user:
            description: Role to log in as.
            type: str
            default: postgres
          login_password:
            description: Password of O(checks[].postgres.login_user).
            type: str
          login_db:
            description: Database to connect to.
            type: str
            default: postgres
          ssl_mode:
            description: libpq C(sslmode).
            type: str
            default: prefer
            choices: [disable, allow, prefer, require, verify-ca, verify-full]
          ca_cert:
            description: CA certificate for V(verify-ca) and V(verify-full).
            type: path
          target_session_attrs:
            description: Which of several servers in O(checks[].postgres.login_host) to check (libpq
              C(target_session_attrs)) - V(primary), V(standby), or V(any) for the first that answers.
            type: str
            default: any
            choices: [any, read-write, read-only, primary, standby, prefer-standby]
          role:
            description: The role the server must have.
            type: str
            choices: [any, primary, replica]
            default: any
          require_streaming:
            description: On a replica, fail unless its WAL receiver is streaming from the primary.
            type: bool
            default: true
          min_replicas:
            description: On a primary, fail unless at least this many replicas are streaming.
            type: int
            default: 0
          connections_pct:
            description: Thresholds for connections used, in percent of C(max_connections).
            type: dict
            suboptions: *limits
          replication_lag_seconds:
            description: Thresholds for replication lag in seconds (the worst replica, seen from a primary).
            type: dict
            suboptions: *limits
          replication_lag_bytes:
            description: Thresholds for replication lag in bytes of WAL not yet replayed.
            type: dict
            suboptions: *limits
      redis:
        description: PING, memory used against C(maxmemory), connected clients, and the length of queue keys.
        type: dict
        suboptions:
          host:
            description: Host name or address.
            type: str
            default: localhost
          port:
            description: TCP port (1 to 65535).
            type: int
            default: 6379
          db:
            description: Database number.
            type: int
            default: 0
          username:
            description: ACL user name (Redis 6+).
            type: str
          password:
            description: Password (C(requirepass) or the ACL user's).
            type: str
          tls:
            description: Connect with TLS.
            type: bool
            default: false
          ca_path:
            description: CA bundle for O(checks[].redis.tls). The file must exist.
            type: path
          queues:
            description: Keys whose length is a queue depth (lists, streams, sets, sorted sets, hashes; missing is 0).
            type: list
            elements: str
          memory_pct:
            description: Thresholds for memory used, in percent of C(maxmemory) (not graded without C(maxmemory)).
            type: dict
            suboptions: *limits
          queue_length:
            description: Thresholds for each queue's length.
            type: dict
            suboptions: *limits
      disk:
        description: Usage of the file system holding a path, on the host running the check.
        type: dict
        suboptions:
          path:
            description: Any path on the file system.
            type: path
            required: true
          disk_pct:
            description: Thresholds for space used, in percent.
            type: dict
            suboptions: *limits
      command:
        description: A command's exit code and output, for what the other types do not cover. Run without a shell.
        type: dict
        suboptions:
          cmd:
            description: The command line, split like a shell would (no shell features). Give this or O(checks[].command.argv).
            type: str
          argv:
            description: The command as a list of arguments.
            type: list
            elements: str
          rc:
            description: The expected exit code.
            type: int
            default: 0
          stdout_regex:
            description: A regular expression the standard output must match.
            type: str
          read_only:
            description: The command changes nothing, so it also runs in check mode (otherwise it is V(skipped) there).
            type: bool
            default: false
  thresholds:
    description:
      - Thresholds for every check that measures the metric. A check's own threshold option overrides them, key by
        key. A state is reached at the value (for O(thresholds.cert_days), when the days left fall below it).
      - 'Defaults: C(latency_ms) 200/2000, C(cert_days) 21/7, C(connections_pct) 80/95, C(replication_lag_seconds)
        30/none, C(replication_lag_bytes) none/none, C(memory_pct) 80/95, C(queue_length) 100/1000, C(disk_pct)
        75/90, C(error_rate_pct) none/5, C(p95_ms) none/2000 (warning/critical).'
    type: dict
    default: {}
    suboptions:
      latency_ms:
        description: HTTP request and TCP connect latency, milliseconds.
        type: dict
        suboptions: *limits
      cert_days:
        description: Days until a certificate expires.
        type: dict
        suboptions: *limits
      connections_pct:
        description: PostgreSQL connections used, percent of C(max_connections).
        type: dict
        suboptions: *limits
      replication_lag_seconds:
        description: PostgreSQL replication lag, seconds.
        type: dict
        suboptions: *limits
      replication_lag_bytes:
        description: PostgreSQL replication lag, bytes.
        type: dict
        suboptions: *limits
      memory_pct:
        description: Redis memory used, percent of C(maxmemory).
        type: dict
        suboptions: *limits
      queue_length:
        description: Queue depth, items.
        type: dict
        suboptions: *limits
      disk_pct:
        description: File system space used, percent.
        type: dict
        suboptions: *limits
      error_rate_pct:
        description: Requests answered with an error status, percent of all requests in the window (V(metrics) checks).
        type: dict
        suboptions: *limits
      p95_ms:
        description: 95th percentile request latency in the window, milliseconds (V(metrics) checks).
        type: dict
        suboptions: *limits
  concurrency:
    description: How many checks run at the same time.
    type: int
    default: 16
  timeout:
    description: Default per-check timeout in seconds, for the whole check (see O(checks[].timeout)).
    type: float
    default: 5
  deadline:
    description:
      - Seconds one sweep may take. A check still running by then is reported as timed out at the deadline, and a
        check not started by then as not started before the deadline (both get their O(checks[].severity)).
    type: float
    default: 60
  wait_timeout:
    description: Keep sweeping until every check is at most O(wait_until), for up to this many seconds. V(0) sweeps once.
    type: float
    default: 0
  wait_interval:
    description: Longest pause between sweeps while waiting (the pause starts at one second and doubles); the pause
      between sweeps while watching.
    type: float
    default: 5
  watch:
    description:
      - Watch instead of wait. Sweep every O(wait_interval) seconds, for this many seconds, and stop at the first
        sweep where a check is worse than O(wait_until). Use it after a deploy to decide whether to roll back;
        RV(healthy) says whether the release held. V(0) does not watch.
      - Excludes O(wait_timeout).
    type: float
    default: 0
  wait_until:
    description: The worst state that counts as healthy while waiting or watching, and for RV(healthy).
    type: str
    choices: [ok, warning]
    default: ok
  fail_on:
    description:
      - V(never) only reports. V(critical) fails the task when a check is V(critical) or V(error); V(warning) also
        when one is V(warning). The results are returned either way.
    type: str
    choices: [never, critical, warning]
    default: never
seealso:
  - module: community.postgresql.postgresql_ping
  - module: ansible.builtin.uri
  - module: community.crypto.get_certificate
notes:
  - Passwords are never returned; results hold only what was observed. A URL's C(user:password@) is sent as basic
    authentication and shown masked (C(user:********@)) everywhere, results, reasons and C(-vvv) included.
"""

EXAMPLES = r"""
- name: Verify the platform the way the runbook says
  opsready.runbooks.health_check:
    checks:
      - name: api liveness
        http:
          url: https://demo.lab.test/health
          json: {status: ok}
          latency_ms: {warning: 200}
      - name: primary
        postgres:
          login_host: db1
          login_user: monitor
          login_password: "{{ vault_pg_monitor_password }}"
          role: primary
      - name: replica
        postgres:
          login_host: db2
          login_user: monitor
          login_password: "{{ vault_pg_monitor_password }}"
          role: replica
      - name: redis
        redis:
          host: redis1
          password: "{{ vault_redis_password }}"
          queues: ["demo:jobs"]
      - name: certificate
        tls: {host: demo.lab.test, names: [demo.lab.test]}
      - name: data disk
        disk: {path: /var/lib/postgresql}
  register: health

- name: Decide in the playbook - stop on anything critical
  ansible.builtin.assert:
    that: health.summary.failing | length == 0
    fail_msg: "{{ health.checks | rejectattr('ok') | map(attribute='reason') | list }}"

- name: Watch a new release for 5 minutes - its own error rate (5 % critical) and p95 (2 s), and its liveness
  opsready.runbooks.health_check:
    checks:
      - name: api error rate and p95
        metrics:
          url: http://127.0.0.1:8000/metrics
          requests: demo_http_requests_total
          duration: demo_http_request_duration_seconds
          match: {handler: api}
      - name: api liveness
        http: {url: http://127.0.0.1/health}
    watch: 300
    wait_interval: 10
  register: watched

- name: Roll back when the release did not hold
  ansible.builtin.include_role:
    name: opsready.runbooks.rollback
  when: not watched.healthy

- name: Wait until healthy after a rollback (up to 2 minutes), failing if it never gets there
  opsready.runbooks.health_check:
    checks:
      - name: api readiness
        http: {url: https://demo.lab.test/readyz}
      - name: worker
        command: {cmd: systemctl is-active demo-worker, read_only: true}
    wait_timeout: 120
    fail_on: critical

- name: Stricter thresholds for every check, and one check with its own
  opsready.runbooks.health_check:
    thresholds:
      latency_ms: {warning: 100, critical: 500}
    checks:
      - name: search api
        http:
          url: http://app1/health
          status_codes: [200, 204]
          latency_ms: {warning: 400}
      - name: redis port
        tcp: {host: redis1, port: 6379}
"""

RETURN = r"""
checks:
  description: One result per check, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The check's name.
      type: str
      sample: api liveness
    type:
      description: The check type.
      type: str
      sample: http
    state:
      description: V(ok), V(warning), V(critical), V(error) or V(skipped).
      type: str
      sample: warning
    ok:
      description: Whether the state is V(ok) (or V(skipped)).
      type: bool
      sample: false
    severity:
      description: The check's severity.
      type: str
      sample: critical
    reason:
      description:
        - Every finding, worst first, or a summary of what was seen when all is well (for V(http), C(HTTP 200,
          latency 98 ms), the latency the thresholds judge).
        - A check defined wrongly says C(not run, the check is defined wrongly) and names the setting.
      type: str
      sample: latency 612 ms reached the warning threshold 200 ms
    latency_ms:
      description:
        - How long the whole check took, milliseconds, set-up and waiting included. Thresholds judge the latency in
          RV(checks[].observed.latency_ms) (the request, or the connect), not this.
      type: float
      sample: 612.4
    observed:
      description: What was measured; the keys depend on the type.
      type: dict
      sample: {status: 200, url: "https://demo.lab.test/health", latency_ms: 603.1, json: {status: ok}}
      contains:
        latency_ms:
          description: For V(http) the request's latency, for V(tcp) the connect time; what O(thresholds.latency_ms)
            judges.
          type: float
        serial:
          description: For V(tls), the served certificate's serial number (hexadecimal, upper case); with C(sha256)
            (its DER's SHA-256), C(not_before), C(not_after), C(days_left), C(names), C(issuer), C(subject),
            C(trusted) and C(protocol).
          type: str
summary:
  description: Counts per state and the checks that are not ok.
  returned: always
  type: dict
  sample:
    total: 8
    ok: 7
    warning: 1
    critical: 0
    error: 0
    skipped: 0
    state: warning
    not_ok: [api liveness]
    failing: []
  contains:
    state:
      description: The worst state of the checks that ran; V(skipped) only when every check was skipped.
      type: str
    not_ok:
      description: Names of the checks whose state is not V(ok) or V(skipped).
      type: list
      elements: str
    failing:
      description: Names of the checks that fail the O(fail_on) policy (empty for V(never)).
      type: list
      elements: str
healthy:
  description: Whether every check is at most O(wait_until) in the last sweep.
  returned: always
  type: bool
  sample: true
attempts:
  description: Number of sweeps run.
  returned: always
  type: int
  sample: 1
elapsed:
  description: Seconds the module spent checking.
  returned: always
  type: float
  sample: 0.184
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsready.runbooks.plugins.module_utils import _health as health
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.module_utils._postgres import connection_spec


def limits(*metrics):
    return {metric: {"type": "dict", "options": {"warning": {"type": "float"}, "critical": {"type": "float"}}}
            for metric in metrics}


def argument_spec():
    check_types = {
        "http": dict(url={"type": "str", "required": True}, method={"type": "str", "default": "GET"},
                     headers={"type": "dict"}, secret_headers={"type": "dict", "no_log": True}, body={"type": "raw"},
                     status_codes={"type": "list", "elements": "int", "default": [200]}, json={"type": "dict"},
                     body_regex={"type": "str"}, body_limit={"type": "int", "default": health.BODY_LIMIT["http"]},
                     validate_certs={"type": "bool", "default": True}, ca_path={"type": "path"},
                     follow_redirects={"type": "bool", "default": False},
                     maintenance_expected={"type": "bool", "default": False}),
        "metrics": dict(url={"type": "str", "required": True}, headers={"type": "dict"},
                        secret_headers={"type": "dict", "no_log": True},
                        body_limit={"type": "int", "default": health.BODY_LIMIT["metrics"]},
                        validate_certs={"type": "bool", "default": True}, ca_path={"type": "path"},
                        requests={"type": "str", "default": "http_requests_total"},
                        duration={"type": "str", "default": "http_request_duration_seconds"},
                        code_label={"type": "str", "default": "code"}, error_codes={"type": "str", "default": "5.."},
                        match={"type": "dict", "default": {}}, window={"type": "float", "default": 10},
                        min_requests={"type": "int", "default": 20}),
        "tcp": dict(host={"type": "str", "required": True}, port={"type": "int", "required": True}),
        "tls": dict(host={"type": "str", "required": True}, port={"type": "int", "default": 443},
                    server_name={"type": "str"}, validate_certs={"type": "bool", "default": True},
                    ca_path={"type": "path"}, issuer={"type": "str"}, names={"type": "list", "elements": "str"}),
        "postgres": dict(connection_spec(), role={"type": "str", "choices": ["any", "primary", "replica"],
                                                  "default": "any"},
                         require_streaming={"type": "bool", "default": True}, min_replicas={"type": "int", "default": 0}),
        "redis": dict(host={"type": "str", "default": "localhost"}, port={"type": "int", "default": 6379},
                      db={"type": "int", "default": 0}, username={"type": "str"},
                      password={"type": "str", "no_log": True}, tls={"type": "bool", "default": False},
                      ca_path={"type": "path"}, queues={"type": "list", "elements": "str"}),
        "disk": dict(path={"type": "path", "required": True}),
        "command": dict(cmd={"type": "str"}, argv={"type": "list", "elements": "str"}, rc={"type": "int", "default": 0},
                        stdout_regex={"type": "str"}, read_only={"type": "bool", "default": False}),
    }
    for kind, options in check_types.items():  # each type's threshold options: the metrics it measures
        options.update(limits(*health.METRICS[kind]))
    check = dict(name={"type": "str", "required": True},
                 severity={"type": "str", "choices": ["critical", "warning"], "default": "critical"},
                 timeout={"type": "float"},
                 **{kind: {"type": "dict", "options": options} for kind, options in check_types.items()})
    check["command"].update(mutually_exclusive=[["cmd", "argv"]], required_one_of=[["cmd", "argv"]])
    return dict(
        checks={"type": "list", "elements": "dict", "required": True, "options": check},
        thresholds={"type": "dict", "default": {}, "options": limits(*health.THRESHOLDS)},
        concurrency={"type": "int", "default": 16},
        timeout={"type": "float", "default": 5},
        deadline={"type": "float", "default": 60},
        wait_timeout={"type": "float", "default": 0},
        wait_interval={"type": "float", "default": 5},
        wait_until={"type": "str", "choices": ["ok", "warning"], "default": "ok"},
        watch={"type": "float", "default": 0},
        fail_on={"type": "str", "choices": ["never", "critical", "warning"], "default": "never"},
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    for check in params["checks"]:  # credentials in URLs and headers are masked in all output, -vvv included
        for kind in ("http", "metrics"):
            module.no_log_values.update(health.secrets(check.get(kind) or {}))
    try:
        health.check_settings(params)
        checks = health.prepare(params["checks"], params["thresholds"], params["timeout"])
    except OpsreadyError as e:
        module.fail_json(msg=str(e))
    outcome = health.run(checks, params["concurrency"], params["deadline"], params["wait_timeout"],
                         params["wait_interval"], params["wait_until"], module.check_mode, params["fail_on"],
                         watch=params["watch"])
    msg = health.message(outcome["summary"], checks)
    failing = [r for r in outcome["checks"] if r["name"] in outcome["summary"]["failing"]]
    if failing:
        module.fail_json(msg="%s; failing (fail_on=%s): %s" % (msg, params["fail_on"], "; ".join(
            "%s is %s: %s" % (r["name"], r["state"], r["reason"]) for r in failing)), changed=False, **outcome)
    module.exit_json(changed=False, msg=msg, **outcome)


if __name__ == "__main__":
    main()
