import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from labtest import hosts, lab  # noqa: E402  (the fixtures shared by every scenario; helpers are imported by the tests)

__all__ = ["hosts", "lab"]
