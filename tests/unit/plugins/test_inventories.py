"""Every check list the inventories declare is valid for the module: the examples users copy must work."""
import pathlib

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.opsready.runbooks.plugins.module_utils import _health as health
from ansible_collections.opsready.runbooks.plugins.modules.health_check import argument_spec

INVENTORIES = pathlib.Path(__file__).resolve().parents[3] / "inventories"
GROUP_VARS = sorted(path for path in INVENTORIES.glob("*/group_vars/*.yml")
                    if "health_check_checks" in yaml.safe_load(path.read_text()))


def test_the_inventories_declare_checks():
    assert {path.parent.parent.name for path in GROUP_VARS} == {"lab", "example"}


@pytest.mark.parametrize("path", GROUP_VARS, ids=lambda path: "%s/%s" % (path.parent.parent.name, path.name))
def test_declared_checks_are_valid(path):
    checks = yaml.safe_load(path.read_text())["health_check_checks"]
    result = ArgumentSpecValidator(argument_spec()).validate({"checks": checks})
    assert not result.error_messages
    params = result.validated_parameters
    assert len(health.prepare(params["checks"], params["thresholds"], params["timeout"])) == len(checks)
