import pathlib
import sys

LAB = pathlib.Path(__file__).resolve().parents[3] / "lab"
sys.path[:0] = [str(LAB / "demo_app"), str(LAB / "sink")]
