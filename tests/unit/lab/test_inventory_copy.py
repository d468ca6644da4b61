"""A copy of the lab inventory reaches the same lab: its SSH key and state do not depend on where the copy lives.

The key path used to be relative to the inventory's folder: a copied inventory pointed SSH at a key that did not
exist, and connection reuse hid it for 60 s.
"""
import json
import os
import pathlib
import shutil
import subprocess

import pytest

PROJECT = pathlib.Path(__file__).resolve().parents[3]
VARIABLES = ("lab_state_dir", "ansible_ssh_private_key_file", "lab_pki_dir")


def resolved(inventory, **env):
    """The lab variables as a play would see them, for app1, read through this inventory (no host is contacted)."""
    run = subprocess.run(
        ["ansible", "-i", str(inventory), "app1", "-c", "local", "-m", "ansible.builtin.debug",
         "-a", "msg={{ {%s} }}" % ", ".join("'%s': %s" % (name, name) for name in VARIABLES)],
        capture_output=True, text=True, timeout=120, check=False, cwd=inventory.parent,
        env=dict(os.environ, ANSIBLE_CONFIG=str(inventory.parent / "none.cfg"), ANSIBLE_STDOUT_CALLBACK="json",
                 ANSIBLE_LOAD_CALLBACK_PLUGINS="1", **env))
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return json.loads(run.stdout)["plays"][0]["tasks"][0]["hosts"]["app1"]["msg"]


@pytest.mark.parametrize("env", [{}, {"OPSREADY_LAB_STATE_DIR": "/srv/lab-state"}, {"XDG_STATE_HOME": "/var/st"}])
def test_a_copied_inventory_names_the_same_key_and_state(tmp_path, env):
    copy = tmp_path / "somewhere" / "else" / "my-lab"
    shutil.copytree(PROJECT / "inventories" / "lab", copy)
    original, copied = resolved(PROJECT / "inventories" / "lab", **env), resolved(copy, **env)
    assert copied == original
    state = env.get("OPSREADY_LAB_STATE_DIR") or (env.get("XDG_STATE_HOME") or os.environ["HOME"] + "/.local/state") \
        + "/opsready-lab"
    assert original["lab_state_dir"] == state
    assert original["ansible_ssh_private_key_file"] == state + "/ssh/id_ed25519"
    assert str(tmp_path) not in json.dumps(copied) and str(PROJECT) not in json.dumps(original)
