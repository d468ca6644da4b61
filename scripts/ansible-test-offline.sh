#!/usr/bin/env bash
# Lets `ansible-test sanity` run on machines that reach PyPI but not ansible-test's own download host
# (ci-files.testing.ansible.com). ansible-test bootstraps pip into its per-test venvs with a cached get-pip script;
# this writes a stand-in into that cache which uses the standard library's ensurepip and then installs the
# requested packages from PyPI. Users with internet access never need it; scripts/test.sh calls it only when the
# download host does not resolve. Idempotent; honours $HOME.
set -euo pipefail
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
for name in get_pip_24_2.py get_pip_25_0.py get_pip_25_1.py get_pip_25_2.py get_pip_25_3.py; do
  cat > "$cache/$name" <<'PY'
import subprocess
import sys

args = sys.argv[1:]
packages = [a for a in args if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"] + packages)
for flag, dist in (("--no-setuptools", "setuptools"), ("--no-wheel", "wheel")):
    if flag in args:
        subprocess.call([sys.executable, "-m", "pip", "uninstall", "--quiet", "-y", dist])
PY
done
echo "ansible-test: offline get-pip stand-in written to $cache"
