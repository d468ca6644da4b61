"""Loading a filter file imports no module_utils but the error type: Ansible loads every filter file of the collection
in each worker process (one per task and host) that renders a template using any of our filters, so an import at
the top of one file (module_utils._health took 0.3 s) was paid by every such task."""
import pathlib
import subprocess
import sys

PROJECT = pathlib.Path(__file__).resolve().parents[4]
FILES = sorted(path.stem for path in (PROJECT / "plugins" / "filter").glob("*.py"))

LOAD = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module("ansible_collections.opsready.runbooks.plugins.filter." + name).FilterModule().filters()
print(" ".join(sorted(m for m in sys.modules if m.startswith("ansible_collections.opsready.runbooks.plugins.module_utils."))))
"""


def test_loading_every_filter_file_imports_only_the_error_type():
    assert len(FILES) >= 8
    done = subprocess.run([sys.executable, "-c", LOAD, *FILES], cwd=PROJECT / ".ansible" / "collections",
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ansible_collections.opsready.runbooks.plugins.module_utils._errors"]


def test_each_filter_still_reaches_its_function():
    from ansible_collections.opsready.runbooks.plugins.filter import health_report, migration_compat, runbook
    filters = runbook.FilterModule().filters()
    assert filters["timeline"](None, "start", "x")[0]["step"] == "start"
    assert health_report.health_report({"app1": {"skipped": True}})["hosts"] == {"app1": "skipped"}
    assert migration_compat.migration_compat([]) is not None
