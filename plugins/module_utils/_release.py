# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""Releases side by side (<path>/<releases_dir>/<version>) with a symlink (<path>/<link>) to the live one."""

from __future__ import annotations

import os
import re

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError


def version_key(name):
    """Natural order: 1.9.0 < 1.10.0, 2026-01-02 < 2026-01-10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part]


def releases(root):
    if not os.path.isdir(root):
        raise OpsreadyError("releases directory %s does not exist on this host" % root)
    return sorted((e for e in os.listdir(root) if os.path.isdir(os.path.join(root, e))), key=version_key)


def live(link):
    """The release the link points to, or None when there is no link."""
    if not os.path.lexists(link):
        return None
    if not os.path.islink(link):
        raise OpsreadyError("%s exists but is not a symlink; refusing to replace it" % link)
    return os.path.basename(os.path.normpath(os.readlink(link)))


def choose(available, current, version=None, previous=False):
    if version is not None:
        if version not in available:
            raise OpsreadyError("release %s is not installed; installed: %s" % (version, ", ".join(available) or "none"))
        return version
    if current is None or current not in available:
        raise OpsreadyError("cannot tell the previous release: the live link points to %s, which is not among the "
                            "installed releases (%s)" % (current or "nothing", ", ".join(available) or "none"))
    older = available[:available.index(current)]
    if not older:
        raise OpsreadyError("%s is the oldest installed release; there is no previous one to go back to" % current)
    return older[-1]


def switch(params, check_mode=False):
    root = os.path.join(params["path"], params["releases_dir"])
    link = os.path.join(params["path"], params["link"])
    available = releases(root)
    before = live(link)
    target = choose(available, before, params.get("version"), params.get("previous"))
    result = {"changed": before != target, "previous": before, "current": target, "releases": available,
              "diff": {"before": "%s -> %s\n" % (params["link"], before), "after": "%s -> %s\n" % (params["link"], target)}}
    if before == target:
        result["msg"] = "release %s is already live" % target
    elif check_mode:
        result["msg"] = "would switch %s from %s to %s" % (params["link"], before, target)
    else:
        temporary = "%s.opsready-%d" % (link, os.getpid())
        os.symlink(os.path.join(params["releases_dir"], target), temporary)
        os.replace(temporary, link)  # atomic: every reader sees the old or the new release, never none
        result["msg"] = "switched %s from %s to %s" % (params["link"], before, target)
    return result
