"""robot_rl: robot reward learning and RL fine-tuning in MuJoCo simulation.

Stages talk through files on disk (see ``robot_rl.data``); ``import robot_rl`` stays light:
heavy modules (torch agents, web server, trackers) are imported where they are used.
"""

import os

# OpenMP threads that spin while waiting make torch 5-10x slower whenever another process shares
# the cores (collectors, a browser, CI neighbours; measured on 2 cores); passive waiting costs
# nothing measurable on an idle machine. Must be set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from robot_rl._runtime import keep_freed_memory

keep_freed_memory()  # CQL-sized updates 1.3-1.5x faster on CPU; see robot_rl/_runtime.py

__version__ = "0.1.0"
