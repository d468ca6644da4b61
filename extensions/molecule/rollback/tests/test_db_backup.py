"""The role opsready.runbooks.db_backup on the lab's primary: a dump cut short is refused (its table of contents
still lists), an operator's directory keeps its owner and mode, a failed pg_dump leaves no file, and two backups in
the same second never share a file."""
import json

import pytest
from labtest import ansible_playbook

DIR = "/var/backups/opsready-test"


def backup(tmp_path, *extra):
    out = tmp_path / "backup.json"
    run = ansible_playbook("extensions/molecule/rollback/db_backup.yml", "-e", "db_backup_db=demo", "-e", "db_backup_out=%s" % out,
                           *extra)
    return run, json.loads(out.read_text()) if out.exists() else None


@pytest.fixture
def clean(hosts):
    hosts["db1"].run("rm -rf %s" % DIR)
    yield hosts["db1"]
    hosts["db1"].run("rm -rf %s" % DIR)


def test_a_dump_cut_short_is_refused(clean, tmp_path):
    run, good = backup(tmp_path, "-e", "db_backup_dir=%s" % DIR)
    assert run.returncode == 0, run.stdout[-3000:]
    assert good["read_to_end"] is True and int(good["restore_list_entries"]) > 5
    assert clean.check_output("stat -c '%%U %%a' %s", DIR) == "postgres 700"  # made when missing
    cut = good["file"] + ".cut"
    clean.check_output("head -c $(( $(stat -c %%s %s) - 10 )) %s > %s && chown postgres %s", good["file"], good["file"],
                       cut, cut)
    assert clean.run("runuser -u postgres -- pg_restore --list %s", cut).rc == 0  # what the old proof read: fine
    run, dummy = backup(tmp_path, "-e", "db_backup_tasks=verify", "-e", "db_backup_verify_file=%s" % cut)
    assert run.returncode != 0
    assert "is missing, empty or unreadable" in run.stdout and "end of file" in run.stdout


def test_an_existing_directory_keeps_its_owner_and_mode_and_is_refused_when_postgres_cannot_write(clean, tmp_path):
    clean.check_output("mkdir -p %s && chown root:root %s && chmod 0555 %s", DIR, DIR, DIR)
    run, dummy = backup(tmp_path, "-e", "db_backup_dir=%s" % DIR)
    assert run.returncode != 0 and "is not a directory the postgres user can write" in run.stdout
    assert clean.check_output("stat -c '%%U %%a' %s", DIR) == "root 555"
    assert clean.check_output("ls -A %s | wc -l", DIR) == "0"


def test_a_failed_dump_leaves_no_file(clean, tmp_path):
    run, dummy = backup(tmp_path, "-e", "db_backup_dir=%s" % DIR, "-e", "db_backup_db=no_such_database")
    assert run.returncode != 0 and "pg_dump of no_such_database on db1 failed, nothing kept" in run.stdout
    assert clean.check_output("ls -A %s | wc -l", DIR) == "0"


def test_two_backups_in_a_row_never_share_a_file(clean, tmp_path):
    run, dummy = backup(tmp_path, "-e", "db_backup_dir=%s" % DIR, "-e", "db_backup_twice=true")
    assert run.returncode == 0, run.stdout[-3000:]
    files = clean.check_output("ls %s", DIR).split()
    assert len(files) == 2 and files[0] != files[1]
