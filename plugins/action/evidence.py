# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""opsready.runbooks.evidence: a runbook's record, written on the controller without a module run."""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile

from ansible.parsing.ajson import AnsibleJSONEncoder
from ansible.plugins.action import ActionBase
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

ARGUMENT_SPEC = {
    "dir": {"type": "path", "required": True},
    "name": {"type": "str", "required": True},
    "data": {"type": "raw", "required": True},
    "markdown": {"type": "str"},
}
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
NAME_MAX = 200          # room for -<n> and the extension within the usual 255
TRIES = 1000            # <name>, <name>-2 ... <name>-1000
FILE_MODE = 0o600
DIR_MODE = 0o700


def check(directory, name):
    """Refuse a name that is not a plain file name, and an odd directory, before anything is written."""
    if not directory:
        raise OpsreadyError("dir is empty: give the evidence directory")
    if CONTROL.search(directory):
        raise OpsreadyError("dir=%r holds a control character (a newline?)" % directory)
    if not name:
        raise OpsreadyError("name is empty: give the files' name, without an extension")
    if CONTROL.search(name):
        raise OpsreadyError("name=%r holds a control character (a newline?): give a plain file name" % name)
    if "/" in name or ".." in name:
        raise OpsreadyError("name=%r: give a plain file name, without / or .. (the directory is dir)" % name)
    if name.startswith("."):
        raise OpsreadyError("name=%r starts with a dot: give a plain file name (a hidden name is easily missed)" % name)
    if len(name) > NAME_MAX:
        raise OpsreadyError("name is %d characters long: at most %d" % (len(name), NAME_MAX))


def make_directory(directory):
    """Make the directory and any missing parent, each DIR_MODE (whatever the umask); leave existing ones alone."""
    missing, path = [], os.path.abspath(directory)
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for path in reversed(missing):
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            if os.path.isdir(path):
                continue   # made by a run writing at the same moment
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
        os.chmod(path, DIR_MODE)


def _publish(scratch, path):
    """Give the complete scratch file its name, unless the name is taken (FileExistsError): a hard link is atomic
    and never replaces. Where hard links are not supported, an exclusive create and a copy."""
    try:
        os.link(scratch, path)
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(handle, "w", encoding="utf-8") as stream, open(scratch, encoding="utf-8") as source:
            stream.write(source.read())


def _claim(directory, stem, contents):
    """Write <stem>.json (and .md) as new files; FileExistsError, with nothing left behind, when one is taken."""
    written = []
    try:
        for extension, text in contents.items():
            path = os.path.join(directory, stem + extension)
            handle, scratch = tempfile.mkstemp(dir=directory, prefix=".%s." % stem)
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as stream:
                    stream.write(text)
                os.chmod(scratch, FILE_MODE)
                _publish(scratch, path)
            finally:
                os.unlink(scratch)
            written.append(path)
    except BaseException:
        for path in written:   # ours, made a moment ago: another run's name, or a failure half-way
            os.unlink(path)
        raise
    return written


def write_evidence(directory, name, data, markdown=None):
    """<directory>/<name>.json (and .md), never replacing a file that is there: when the name is taken (another run
    in the same second), the first free <name>-2, <name>-3 ... Files FILE_MODE, directories it makes DIR_MODE.
    Returns the paths written."""
    check(directory, name)
    contents = {".json": json.dumps(data, cls=AnsibleJSONEncoder, indent=4, sort_keys=True) + "\n"}
    if markdown is not None:
        contents[".md"] = markdown if markdown.endswith("\n") else markdown + "\n"
    make_directory(directory)
    for number in range(1, TRIES + 1):
        try:
            return _claim(directory, name if number == 1 else "%s-%d" % (name, number), contents)
        except FileExistsError:
            continue
    raise OpsreadyError("name %s: %s to %s-%d are all taken in %s; choose another name" % (name, name, name, TRIES,
                                                                                           directory))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True  # the record of a check-mode run is its plan: written all the same

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            files = write_evidence(args["dir"], args["name"], args["data"], args["markdown"])
        except OpsreadyError as e:
            return dict(result, failed=True, msg=str(e))
        except OSError as e:
            return dict(result, failed=True, msg="cannot write the evidence %s in dir=%s: %s" % (
                args["name"], args["dir"], e.strerror or e))
        except (TypeError, ValueError) as e:
            return dict(result, failed=True, msg="cannot write the evidence %s: data cannot be written as JSON: %s" % (
                args["name"], e))
        name = os.path.splitext(os.path.basename(files[0]))[0]
        return dict(result, changed=False, files=files, name=name, msg="%s written" % " and ".join(files))
