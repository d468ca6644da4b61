"""Make this checkout importable as ansible_collections.opsready.runbooks, wherever it is cloned."""
import pathlib
import sys
import tempfile

PROJECT = pathlib.Path(__file__).resolve().parents[2]
_root = pathlib.Path(tempfile.mkdtemp(prefix="opsready-unit-"))
(_root / "ansible_collections" / "opsready").mkdir(parents=True)
(_root / "ansible_collections" / "opsready" / "runbooks").symlink_to(PROJECT)
sys.path.insert(0, str(_root))
