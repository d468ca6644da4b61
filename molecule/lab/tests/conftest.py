import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from labtest import *  # noqa: E402,F401,F403  (fixtures and helpers shared by every scenario)
