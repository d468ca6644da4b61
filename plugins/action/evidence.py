# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""opsready.runbooks.evidence: a runbook's record, written on the controller without a module run."""

from __future__ import annotations

import json
import os
import tempfile

from ansible.parsing.ajson import AnsibleJSONEncoder
from ansible.plugins.action import ActionBase

ARGUMENT_SPEC = {
    "dir": {"type": "path", "required": True},
    "name": {"type": "str", "required": True},
    "data": {"type": "raw", "required": True},
    "markdown": {"type": "str"},
}


def write_evidence(directory, name, data, markdown=None):
    """<directory>/<name>.json (and .md): the directory made if missing, each file replaced whole. Returns the paths."""
    if not name or os.sep in name or name in (".", ".."):
        raise ValueError("name must be a file name without a directory, not %r" % name)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    contents = {".json": json.dumps(data, cls=AnsibleJSONEncoder, indent=4, sort_keys=True) + "\n"}
    if markdown is not None:
        contents[".md"] = markdown if markdown.endswith("\n") else markdown + "\n"
    written = []
    for extension, text in contents.items():
        path = os.path.join(directory, name + extension)
        handle, scratch = tempfile.mkstemp(dir=directory, prefix=".%s." % name)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
            os.chmod(scratch, 0o644)
            os.replace(scratch, path)
        except BaseException:
            os.unlink(scratch)
            raise
        written.append(path)
    return written


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True  # the record of a check-mode run is its plan: written all the same

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            files = write_evidence(args["dir"], args["name"], args["data"], args["markdown"])
        except (OSError, ValueError) as e:
            return dict(result, failed=True, msg="cannot write the evidence %s in %s: %s" % (
                args["name"], args["dir"], getattr(e, "strerror", None) or e))
        return dict(result, changed=False, files=files, msg="%s written" % " and ".join(files))
