# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""Releases side by side (<path>/<releases_dir>/<version>) with a symlink (<path>/<link>) to the live one."""

from __future__ import annotations

import os
import re

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def version_key(name):
    """Natural order: 1.9.0 < 1.10.0, 2026-01-02 < 2026-01-10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part]


def _relative(option, value):
    """A path below <path>: not empty, not absolute, no `..` or `.` step, no control character."""
    if not value:
        raise OpsreadyError("%s is empty: give a path relative to the app's base directory (path)" % option)
    if CONTROL.search(value):
        raise OpsreadyError("%s=%r holds a control character (a newline?)" % (option, value))
    if os.path.isabs(value):
        raise OpsreadyError("%s=%s must be relative to the app's base directory (path), not absolute" % (option, value))
    steps = value.rstrip("/").split("/")
    if any(step in ("", ".", "..") for step in steps):
        raise OpsreadyError("%s=%s: use a plain path below the app's base directory (path), without `..`, `.` or "
                            "empty steps" % (option, value))
    return "/".join(steps)


def validate(params):
    """Refuse odd input before anything is looked at or changed. Returns (root, link), both normalised."""
    path = params["path"]
    if CONTROL.search(path):
        raise OpsreadyError("path=%r holds a control character (a newline?)" % path)
    if not os.path.isabs(path):
        raise OpsreadyError("path=%s must be an absolute path (the app's base directory)" % path)
    releases_dir = _relative("releases_dir", params["releases_dir"])
    link = _relative("link", params["link"])
    if link == releases_dir or link.startswith(releases_dir + "/"):
        raise OpsreadyError("link=%s is inside releases_dir=%s: it would be taken for a release; put it beside the "
                            "releases" % (link, releases_dir))
    version = params.get("version")
    if version is not None:
        if not version:
            raise OpsreadyError("version is empty: name the release to make live")
        if CONTROL.search(version):
            raise OpsreadyError("version=%r holds a control character (a newline?)" % version)
        if "/" in version or version in (".", ".."):
            raise OpsreadyError("version=%s: give a release's folder name under releases_dir, not a path" % version)
    root = os.path.normpath(os.path.join(path, releases_dir))
    link_path = os.path.normpath(os.path.join(path, link))
    if not os.path.isdir(root):
        raise OpsreadyError("releases_dir: %s does not exist on this host" % root)
    if not os.path.isdir(os.path.dirname(link_path)):
        raise OpsreadyError("link=%s: its directory %s does not exist on this host"
                            % (link, os.path.dirname(link_path)))
    return root, link_path


def releases(root):
    return sorted((e for e in os.listdir(root) if os.path.isdir(os.path.join(root, e))), key=version_key)


def live(link, root):
    """(release, target): the release the link points to, or None when there is no link or it points outside the
    releases directory; target is the link's text (None without a link). The target is read relative to the link's
    own directory and compared as a real path."""
    if not os.path.lexists(link):
        return None, None
    if not os.path.islink(link):
        raise OpsreadyError("link: %s exists but is not a symlink; refusing to replace it" % link)
    target = os.readlink(link)
    resolved = os.path.realpath(os.path.join(os.path.dirname(link), target))
    if os.path.dirname(resolved) != os.path.realpath(root):
        return None, target
    return os.path.basename(resolved), target


def choose(available, current, version=None, to=None, outside=None):
    if version is not None:
        if version not in available:
            raise OpsreadyError("version: release %s is not installed; installed: %s"
                                % (version, ", ".join(available) or "none"))
        return version
    if outside is not None:
        raise OpsreadyError("to=previous: the link points to %s, outside the releases directory, so there is no "
                            "previous release to tell; name the release with version" % outside)
    if current is None or current not in available:
        raise OpsreadyError("to=previous: cannot tell the previous release: the link points to %s, which is not among "
                            "the installed releases (%s); name the release with version"
                            % (current or "nothing", ", ".join(available) or "none"))
    older = available[:available.index(current)]
    if not older:
        raise OpsreadyError("to=previous: %s is the oldest installed release; there is no previous one to go back to"
                            % current)
    return older[-1]


def switch(params, check_mode=False):
    root, link = validate(params)
    available = releases(root)
    before, text = live(link, root)
    outside = text if text is not None and before is None else None
    target = choose(available, before, params.get("version"), params.get("to"), outside)
    name = params["link"]
    result = {"changed": before != target, "before": before, "after": target, "releases": available,
              "diff": {"before": "%s -> %s\n" % (name, before if outside is None else outside),
                       "after": "%s -> %s\n" % (name, target)}}
    was = before if outside is None else "%s (outside %s)" % (outside, root)
    if before == target:
        result["msg"] = "release %s is already live" % target
    elif check_mode:
        result["msg"] = "would %s %s from %s to %s" % ("replace" if outside else "switch", name, was, target)
    else:
        # relative to the link's own directory, so that web/current -> ../releases/<version>
        relative = os.path.relpath(os.path.join(root, target), os.path.dirname(link))
        temporary = "%s.opsready-%d" % (link, os.getpid())
        if os.path.lexists(temporary):
            os.unlink(temporary)
        os.symlink(relative, temporary)
        try:
            os.replace(temporary, link)  # atomic: every reader sees the old or the new release, never none
        except BaseException:
            os.unlink(temporary)
            raise
        result["msg"] = "%s %s from %s to %s" % ("replaced" if outside else "switched", name, was, target)
    return result
