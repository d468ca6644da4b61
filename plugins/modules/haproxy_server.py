#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_server
short_description: Drain an HAProxy server, put it in maintenance, or back in rotation once HAProxy's check passed
version_added: 0.1.0
description:
  - Talks to HAProxy's admin socket on the load balancer (run it there, for example with C(delegate_to)), one
    command per connection, and returns the server as HAProxy reports it before and after, with the commands sent.
  - V(drained) sets the server to DRAIN (no new sessions), waits until its current sessions are gone, at most
    O(drain_timeout) seconds, then sets MAINT. A server HAProxy already sees DOWN, or whose address refuses
    connections, goes to MAINT at once.
  - V(maint) sets MAINT at once.
  - V(ready) takes the server out of MAINT or DRAIN and succeeds only once HAProxy's own health check passed
    B(after) the change. HAProxy shows a server UP the moment it leaves MAINT, with its health reset to C(rise) and
    the check status of its last check before MAINT, before any new check ran; so UP alone proves nothing. The
    module waits for UP with a health above C(rise), which only a check passed since can give. With C(fall 1)
    health never exceeds C(rise), so the module sets the server DOWN by hand right after it left MAINT
    (C(set server health down)), and HAProxy's check must pass C(rise) times to bring it UP.
  - A server leaves MAINT into DRAIN first (HAProxy checks it, and sends it no new request), and becomes READY only
    once its check passed, so the stale UP never takes traffic.
  - When V(ready) is not proven within O(wait_timeout), the task fails with HAProxy's check status (for example
    C(L7STS 503)) and, by default (O(on_fail=maint)), the server is put back in MAINT so that it takes no traffic.
  - With O(state_file), after any change HAProxy's C(show servers state) is written there (a temporary file renamed
    over it), so a reload that reads it (C(server-state-file) and C(load-server-state-from-file)) keeps the state.
  - Every option is checked before anything is sent to HAProxy. Running it again with the same state changes
    nothing; V(ready) on a server already UP by a passed check reads its state once and returns.
author:
  - opsready.runbooks developers (@opsready)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the server's state and says what it would send; sends no command that changes HAProxy and does
      not write O(state_file).
  diff_mode:
    support: full
  platform:
    platforms: posix
options:
  socket:
    description: HAProxy's admin socket (C(stats socket ... level admin)) on the host the module runs on.
    type: path
    default: /run/haproxy/admin.sock
  backend:
    description: The backend, as HAProxy names it.
    type: str
    required: true
  server:
    description: The server in O(backend), as HAProxy names it.
    type: str
    required: true
  state:
    description:
      - V(drained) - DRAIN, then MAINT once its sessions are gone or after O(drain_timeout); at once when HAProxy
        sees it DOWN or its address refuses connections.
      - V(maint) - MAINT now.
      - V(ready) - out of MAINT and DRAIN, and UP by a health check HAProxy ran after the change.
    type: str
    choices: [drained, maint, ready]
    required: true
  wait_timeout:
    description:
      - Seconds the whole run may wait, socket commands included (a socket that never answers fails the task then).
      - The commands that finish a run that ran out of time (MAINT, the read-back, O(state_file)) get 5 s more.
    type: float
    default: 60
  drain_timeout:
    description: Seconds the server's current sessions may take to finish (V(drained)) before MAINT anyway.
    type: float
    default: 30
  state_file:
    description:
      - Where HAProxy's C(server-state-file) is. After any change the module writes C(show servers state) there,
        so a reload keeps the server's state. Not written in check mode nor when nothing changed.
      - Null does not write it.
    type: path
  on_fail:
    description:
      - What V(ready) does with a server whose check does not pass within O(wait_timeout). The task fails either way.
      - V(maint) puts it back in MAINT, so that it takes no traffic when its check passes later.
      - V(leave) leaves it as it is (out of MAINT; HAProxy puts it in rotation when its check passes).
    type: str
    choices: [maint, leave]
    default: maint
notes:
  - Does not use P(community.general.haproxy#module), which waits for sessions on a dead server and does not save
    states.
  - HAProxy names are made of letters, digits, C(_), C(.), C(:) and C(-); other characters are refused.
seealso:
  - name: HAProxy management guide, the stats socket commands
    description: C(set server), C(show servers state), C(show stat).
    link: https://docs.haproxy.org/2.6/management.html#9.3
"""

EXAMPLES = r"""
- name: Drain web1 on every load balancer (MAINT once its sessions are gone, at most 30 s)
  opsready.runbooks.haproxy_server:
    backend: app
    server: web1
    state: drained
    state_file: /var/lib/haproxy/server-state
  delegate_to: "{{ item }}"
  loop: "{{ groups['lb'] }}"

- name: Back in rotation once HAProxy's check passed (fails and puts it back in MAINT otherwise)
  opsready.runbooks.haproxy_server:
    backend: app
    server: web1
    state: ready
    wait_timeout: 60
    state_file: /var/lib/haproxy/server-state
  delegate_to: "{{ item }}"
  loop: "{{ groups['lb'] }}"

- name: What is web1's state on this load balancer? (changes nothing)
  opsready.runbooks.haproxy_server:
    backend: app
    server: web1
    state: ready
  check_mode: true
  register: web1_state
"""

RETURN = r"""
before:
  description: The server as HAProxy reported it before the run.
  returned: when the server was found (also when the task fails after that)
  type: dict
  contains: &server
    admin:
      description: HAProxy's administrative state.
      type: str
      sample: READY
      choices: [READY, DRAIN, MAINT]
    operational:
      description: HAProxy's operational state.
      type: str
      sample: UP
      choices: [UP, DOWN, STARTING, STOPPING]
    status:
      description: The status column of C(show stat), as HAProxy shows it (V(UP 1/2) is UP with health at C(rise),
        a failed check, or just out of MAINT).
      type: str
      sample: UP
    check_enabled:
      description: Whether the server has a health check running.
      type: bool
    check_status:
      description: The last health check's status (in MAINT, the last one before MAINT).
      type: str
      sample: L7STS
    check_running:
      description: Whether a check was running when HAProxy was asked (it then shows no code nor information).
      type: bool
    check_code:
      description: The last check's response code (HTTP status), when there is one.
      type: int
      sample: 503
    check_desc:
      description: HAProxy's description of the check status.
      type: str
      sample: Layer7 wrong status
    check_info:
      description: What the last check saw (the reason phrase, the connection error).
      type: str
      sample: Service Unavailable
    check_health:
      description: HAProxy's check health counter (0 to rise + fall - 1; UP from rise on).
      type: int
      sample: 3
    check_rise:
      description: Checks to pass to go UP (null while in MAINT, HAProxy hides it).
      type: int
      sample: 2
    check_fall:
      description: Checks to fail to go DOWN (null while in MAINT).
      type: int
      sample: 2
    sessions:
      description: Current sessions on the server.
      type: int
      sample: 0
    address:
      description: The server's address and port.
      type: str
      sample: 10.0.0.11:80
after:
  description: The server as HAProxy reported it at the end (in check mode, as it is now).
  returned: when the server was found (also when the task fails after that)
  type: dict
  contains: *server
commands:
  description: The commands sent that change HAProxy's state, in order (reads are not listed); empty in check mode.
  returned: always
  type: list
  elements: str
  sample: ["set server app/web1 state drain", "set server app/web1 state maint"]
elapsed:
  description: Seconds the run took.
  returned: always
  type: float
  sample: 1.42
msg:
  description: What was done (or would be), and why.
  returned: always
  type: str
  sample: "app/web1 drained: DRAIN, then MAINT; no session left after 1.4 s"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsready.runbooks.plugins.module_utils import _haproxy as haproxy
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import finish


def main():
    module = AnsibleModule(
        argument_spec=dict(
            socket={"type": "path", "default": "/run/haproxy/admin.sock"},
            backend={"type": "str", "required": True},
            server={"type": "str", "required": True},
            state={"type": "str", "required": True, "choices": ["drained", "maint", "ready"]},
            wait_timeout={"type": "float", "default": 60},
            drain_timeout={"type": "float", "default": 30},
            state_file={"type": "path"},
            on_fail={"type": "str", "default": "maint", "choices": ["maint", "leave"]},
        ),
        supports_check_mode=True,
    )
    finish(module, lambda: haproxy.apply(module.params, module.check_mode))


if __name__ == "__main__":
    main()
