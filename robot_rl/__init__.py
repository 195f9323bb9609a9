"""robot_rl: robot reward learning and RL fine-tuning in MuJoCo simulation.

Stages talk through files on disk (see ``robot_rl.data``); ``import robot_rl`` stays light:
heavy modules (torch agents, web server, trackers) are imported where they are used.
"""

__version__ = "0.1.0"
