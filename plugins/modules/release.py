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
    Deployer, Envoyer and most hand-made deploys), points the link at the release before the live one
    (O(previous=true), in natural version order) or at a named O(version).
  - The switch is atomic (a new link renamed over the old one), so a request sees the old or the new release,
    never none. Restarting the services that run the release is up to the caller.
  - Returns which release was live and which is live now; running it again changes nothing. In check mode it only
    says what it would do, which makes it the way to ask which release is live and which one is previous.
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
    description: The application's base directory.
    type: path
    required: true
  releases_dir:
    description: The directory under O(path) holding one directory per release.
    type: str
    default: releases
  link:
    description: The symlink under O(path) naming the live release.
    type: str
    default: current
  version:
    description: The release to make live.
    type: str
  previous:
    description: Make the release before the live one live.
    type: bool
notes:
  - Give O(version) or O(previous=true).
"""

EXAMPLES = r"""
- name: Which release is live, and which one is previous? (changes nothing)
  opsready.runbooks.release:
    path: /srv/demo
    previous: true
  check_mode: true
  register: release_plan

- name: Go back to the previous release
  opsready.runbooks.release:
    path: /srv/demo
    previous: true
  notify: Restart the app

- name: Make a named release live
  opsready.runbooks.release:
    path: /srv/demo
    version: 1.1.0
"""

RETURN = r"""
previous:
  description: The release that was live before (null when there was no link).
  returned: always
  type: str
  sample: 1.1.0
current:
  description: The release that is live now (would be, in check mode).
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
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path={"type": "path", "required": True},
            releases_dir={"type": "str", "default": "releases"},
            link={"type": "str", "default": "current"},
            version={"type": "str"},
            previous={"type": "bool"},
        ),
        mutually_exclusive=[["version", "previous"]],
        required_one_of=[["version", "previous"]],
        supports_check_mode=True,
    )
    try:
        result = release.switch(module.params, module.check_mode)
    except OpsreadyError as e:
        module.fail_json(msg=str(e), **e.result)
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
