#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release
short_description: Switch an app host to another installed release (releases side by side, a current symlink)
version_added: 0.1.0
description:
  - For the layout C(<path>/<releases_dir>/<version>) with C(<path>/<link>) pointing to the live release (Capistrano,
    Deployer, Envoyer and most hand-made deploys), points the link at a named O(version), or at the release before
    the live one (O(to=previous), in natural version order).
  - The switch is atomic (a new link renamed over the old one), so a request sees the old or the new release,
    never none. The link's target is written relative to the link's own directory (C(web/current) points to
    C(../releases/<version>)). Restarting the services that run the release is up to the caller.
  - The live release is read by resolving the link and comparing real paths. A link that points outside
    O(releases_dir) is replaced when O(version) names the release (the message says what it pointed to);
    O(to=previous) refuses it, as there is no previous release to tell.
  - O(path), O(releases_dir), O(link) and O(version) are checked before anything is looked at or changed (no absolute
    paths below O(path), no C(..), nothing empty, no newline or other control character).
  - Returns which release was live (RV(before)) and which is live now (RV(after)); running it again changes nothing.
    In check mode it only says what it would do, which makes it the way to ask which release is live and which one
    is previous.
author:
  - opsready.runbooks developers (@opsready)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
options:
  path:
    description: The application's base directory (absolute).
    type: path
    required: true
  releases_dir:
    description: The directory under O(path) holding one directory per release (a relative path).
    type: str
    default: releases
  link:
    description: The symlink under O(path) naming the live release (a relative path; its directory must exist).
    type: str
    default: current
  version:
    description:
      - The release to make live (its folder name under O(releases_dir)).
      - Mutually exclusive with O(to); one of them is required.
    type: str
  to:
    description:
      - V(previous) makes the release before the live one live (in natural version order).
      - Mutually exclusive with O(version); one of them is required.
    type: str
    choices: [previous]
notes:
  - Give O(version) or O(to=previous).
"""

EXAMPLES = r"""
- name: Which release is live, and which one is previous? (changes nothing)
  opsready.runbooks.release:
    path: /srv/demo
    to: previous
  check_mode: true
  register: release_plan
# release_plan.before is the live release, release_plan.after the previous one

- name: Go back to the previous release
  opsready.runbooks.release:
    path: /srv/demo
    to: previous
  notify: Restart the app

- name: Make a named release live
  opsready.runbooks.release:
    path: /srv/demo
    version: 1.1.0

- name: A link in a subdirectory (web/current -> ../releases/1.1.0)
  opsready.runbooks.release:
    path: /srv/demo
    link: web/current
    version: 1.1.0
"""

RETURN = r"""
before:
  description: The release that was live before the task (null when there was no link, or it pointed outside
    O(releases_dir)).
  returned: always
  type: str
  sample: 1.1.0
after:
  description: The release that is live after the task (would be, in check mode).
  returned: always
  type: str
  sample: 1.0.0
releases:
  description: The installed releases, oldest first.
  returned: always
  type: list
  elements: str
  sample: [1.0.0, 1.1.0]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsready.runbooks.plugins.module_utils import _release as release
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import finish


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path={"type": "path", "required": True},
            releases_dir={"type": "str", "default": "releases"},
            link={"type": "str", "default": "current"},
            version={"type": "str"},
            to={"type": "str", "choices": ["previous"]},
        ),
        mutually_exclusive=[["version", "to"]],
        required_one_of=[["version", "to"]],
        supports_check_mode=True,
    )
    finish(module, lambda: release.switch(module.params, module.check_mode))


if __name__ == "__main__":
    main()
