"""A simulated hosted Call Center (BroadWorks Xsi-Actions): shipped, used by the demo and tests."""

from kiosk.callcenter.sim.directory import Directory, DirectoryError, load_directory
from kiosk.callcenter.sim.server import Faults, SimulatedCallCenter

__all__ = ["Directory", "DirectoryError", "Faults", "SimulatedCallCenter", "load_directory"]
