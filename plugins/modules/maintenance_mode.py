#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: maintenance_mode
short_description: Put a site served by nginx into maintenance (503 + Retry-After) and back, with a bypass secret and an expiry
version_added: 0.1.0
description:
  - With O(state=present) (maintenance on), every request to the site gets HTTP 503 with a C(Retry-After) header and a maintenance page,
    except the O(exempt_paths) (the health and readiness endpoints the load balancer and the health checks need),
    clients in O(allow), and engineers holding the bypass O(secret).
  - "The bypass works the way Laravel's C(php artisan down --secret) does: visiting C(/<secret>) sets a cookie
    (named O(bypass_cookie), holding a value derived from the secret, never the secret) and redirects to C(/).
    Scripts can send the secret in the O(bypass_header) header instead."
  - "The redirect is relative (C(Location: /)), so the browser stays on the scheme, host and port it used, behind a
    proxy that ends TLS too; no request header decides where it goes. The cookie is C(HttpOnly) and C(SameSite=Lax),
    and C(Secure) when the visit came over https: to nginx itself, or to a proxy in front whose
    C(X-Forwarded-Proto) says C(https) (its first value). Such a proxy must set that header itself, replacing what
    the client sent (HAProxy: C(http-request set-header X-Forwarded-Proto https) on its https frontend); without it
    the cookie is not C(Secure). A client that sends the header itself only changes its own cookie. The answer is
    never cached (C(Cache-Control: no-store))."
  - With O(expires), the host ends maintenance itself at that time through a systemd timer, whether or not the
    playbook (or anyone) comes back. The timer also checks at boot, so a host that was down at the expiry ends it
    when it starts.
  - Every option is checked before anything changes (names, the secret, cookie and header names, paths, addresses,
    the expiry, O(verify_url), the commands and directories), so odd input cannot break the nginx configuration or
    the expiry unit.
  - Every change is tested with C(nginx -t) and checked to be read by nginx before the reload. When anything fails
    once the change has begun (nginx rejecting it, a missing binary, a command that fails, a directory that cannot
    be written), the previous files are put back, the previous expiry timer is armed again, nginx is reloaded again
    if it already was, and the failure says what was put back.
  - With O(verify_url), the module then asks nginx and fails unless the answer matches the new state; turning
    maintenance off needs an answer other than 503 (no answer at all is a failed verification). The failure says
    exactly what the host is left with.
  - Idempotent; returns the state before (RV(before)) and after (RV(after)). The secret never appears in the
    output.
  - "Setup, once per site: add C(include /etc/nginx/opsready/maintenance/*.conf;) (O(server_dir)) to the server
    block. O(http_dir) must be read at the http level, as Debian's C(/etc/nginx/conf.d) is."
author:
  - opsready.runbooks developers (@opsready)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows the recorded state (never the secret).
  platform:
    platforms: posix
options:
  state:
    description:
      - V(present) puts the site in maintenance (maintenance on), V(absent) takes it out (off).
    type: str
    choices: [present, absent]
    required: true
  name:
    description:
      - The site's name; it names the files, the timer and the nginx variables.
      - Lower-case letters, digits, C(-) and C(_), at most 40, starting with a letter or digit.
    type: str
    default: site
  secret:
    description:
      - The bypass secret (16 to 128 URL-safe characters), for example from C(openssl rand -hex 16).
      - Without it there is no bypass.
    type: str
  bypass_cookie:
    description: The cookie set by visiting C(/<secret>) (letters, digits and C(_)).
    type: str
    default: opsready_bypass
  bypass_header:
    description: The request header that carries the secret for scripts (letters, digits and C(-)).
    type: str
    default: X-Maintenance-Bypass
  exempt_paths:
    description: Exact paths that keep answering normally (health and readiness endpoints), each starting with C(/).
    type: list
    elements: str
    default: [/health, /readyz]
  allow:
    description:
      - Client addresses or networks that are not put in maintenance (as nginx sees them; behind a load balancer
        configure C(real_ip_header) for this to name the real clients).
    type: list
    elements: str
    default: []
  retry_after:
    description: Seconds sent in the C(Retry-After) header (positive).
    type: int
    default: 300
  expires:
    description:
      - When maintenance ends by itself, ISO 8601 with a time zone (C(2026-11-25T17:00:00Z)). Must be in the future.
    type: str
  reason:
    description: Why the site is in maintenance; recorded with the state.
    type: str
  page:
    description: The maintenance page (HTML). A plain default page otherwise.
    type: str
  verify_url:
    description:
      - An C(http://) or C(https://) URL on this host, checked before anything changes. After the change, a request
        without the secret must get 503 with C(Retry-After) and one with the bypass header an answer other than 503
        (maintenance on); when off, a request must get an answer other than 503 (no answer fails).
      - Point it at a page of the app behind nginx that answers 200, for example a read-only API page
        (C(http://127.0.0.1/api/items) in the lab). Any status other than 503 passes (a 404 from an app that has
        nothing at C(/) too, RV(verified) then shows it), so a page that answers 200 makes RV(verified) read as
        proof that the requests reach the app. Whether the app is healthy is M(opsready.runbooks.health_check)'s job.
      - Not one of O(exempt_paths), and not with this host's own address in O(allow) (the request comes from this
        host). Both pass maintenance, so the 503 could never be seen. With O(state=present), a URL whose path is one
        of O(exempt_paths) is refused before anything changes.
    type: str
  server_dir:
    description:
      - The directory the site's server block includes (C(include <server_dir>/*.conf;)).
      - This and the other directories are absolute paths without spaces, quotes, semicolons, braces,
        backslashes, C($), C(#) or C(%).
    type: path
    default: /etc/nginx/opsready/maintenance
  http_dir:
    description: A directory nginx includes at the http level.
    type: path
    default: /etc/nginx/conf.d
  state_dir:
    description: Where the maintenance page is kept.
    type: path
    default: /var/lib/opsready/maintenance
  systemd_dir:
    description: Where the expiry timer's units are written.
    type: path
    default: /etc/systemd/system
  nginx_command:
    description: The nginx binary, for C(nginx -t) and C(nginx -T).
    type: str
    default: nginx
  reload_command:
    description: How nginx is reloaded (by the module and by the expiry timer).
    type: str
    default: systemctl reload nginx
notes:
  - The server-level file records the state in its first line; maintenance is on exactly while it exists.
  - Needs nginx 1.11.8 or later (C(absolute_redirect)).
  - The expiry service logs to the journal (C(journalctl -u opsready-maintenance-expire-<name>)).
seealso:
  - name: Laravel maintenance mode
    description: The bypass secret convention this module follows.
    link: https://laravel.com/docs/configuration#maintenance-mode
"""

EXAMPLES = r"""
- name: Maintenance on, for two hours at most; engineers bypass it with the secret
  opsready.runbooks.maintenance_mode:
    state: present
    secret: "{{ vault_maintenance_secret }}"
    expires: "{{ '%Y-%m-%dT%H:%M:%SZ' | strftime(now(utc=true).timestamp() + 7200, utc=true) }}"
    allow: [10.0.0.0/8]
    reason: "CHG-1234 database upgrade"
    # a page of the app that answers 200, not one of exempt_paths (see verify_url)
    verify_url: http://127.0.0.1/api/items

- name: Is the site in maintenance? (changes nothing)
  opsready.runbooks.maintenance_mode:
    state: absent
  check_mode: true
  register: maintenance
# maintenance.before.state is present while it is on; maintenance.before says since when and why

- name: Maintenance off
  opsready.runbooks.maintenance_mode:
    state: absent
    verify_url: http://127.0.0.1/api/items
"""

RETURN = r"""
before:
  description:
    - The state before the task (C(state) present or absent; when present, also the keys of RV(after)).
    - On failure, too.
  returned: always
  type: dict
  sample: {state: absent}
after:
  description:
    - The state after the task (would be, in check mode). Never holds the secret.
    - On failure, what the host is left with (the state before when everything was put back).
  returned: always
  type: dict
  contains:
    state: {description: present (maintenance on) or absent (off), type: str}
    since: {description: "When maintenance began (UTC).", type: str}
    expires: {description: "When the host ends it by itself (UTC), or null.", type: str}
    retry_after: {description: The Retry-After seconds, type: int}
    allow: {description: Addresses not in maintenance, type: list, elements: str}
    exempt_paths: {description: Paths that answer normally, type: list, elements: str}
    bypass: {description: Whether a bypass secret is set, type: bool}
    reason: {description: Why, type: str}
  sample: {state: present, since: "2026-11-25T16:00:03Z", expires: "2026-11-25T18:00:00Z", retry_after: 300,
           allow: [], exempt_paths: [/health, /readyz], bypass: true, bypass_cookie: opsready_bypass,
           bypass_header: X-Maintenance-Bypass, reason: "CHG-1234"}
timer:
  description: The systemd timer that ends maintenance at its expiry, or null.
  returned: always
  type: str
  sample: opsready-maintenance-expire-site.timer
verified:
  description: The requests made with O(verify_url) and what nginx answered.
  returned: when O(verify_url) is set and the state changed
  type: list
  elements: str
  sample: ["http://127.0.0.1/api/items -> 503", "http://127.0.0.1/api/items with the bypass header -> 200"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsready.runbooks.plugins.module_utils import _maintenance as maintenance
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import finish


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state={"type": "str", "required": True, "choices": ["present", "absent"]},
            name={"type": "str", "default": "site"},
            secret={"type": "str", "no_log": True},
            bypass_cookie={"type": "str", "default": "opsready_bypass", "no_log": False},
            bypass_header={"type": "str", "default": "X-Maintenance-Bypass", "no_log": False},
            exempt_paths={"type": "list", "elements": "str", "default": ["/health", "/readyz"]},
            allow={"type": "list", "elements": "str", "default": []},
            retry_after={"type": "int", "default": 300},
            expires={"type": "str"},
            reason={"type": "str"},
            page={"type": "str"},
            verify_url={"type": "str"},
            server_dir={"type": "path", "default": "/etc/nginx/opsready/maintenance"},
            http_dir={"type": "path", "default": "/etc/nginx/conf.d"},
            state_dir={"type": "path", "default": "/var/lib/opsready/maintenance"},
            systemd_dir={"type": "path", "default": "/etc/systemd/system"},
            nginx_command={"type": "str", "default": "nginx"},
            reload_command={"type": "str", "default": "systemctl reload nginx"},
        ),
        supports_check_mode=True,
    )

    def run(argv):  # a missing binary raises (instead of ending the module with fail_json), so the old files come back
        return module.run_command(argv, handle_exceptions=False)

    finish(module, lambda: maintenance.apply(module.params, run, module.check_mode))


if __name__ == "__main__":
    main()
