"""Scene files: gymnasium-robotics' Fetch MJCF, edited as text and cached on disk.

Edits: Fetch's red goal sphere is made transparent (it vanishes inside the block exactly at
success, a shortcut for image classifiers), a flat goal marker (``assets/goal_marker.xml``) is
drawn on the table, and for the drawer task a cabinet with a sliding drawer and a bar handle
replaces the block.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from robot_rl.envs.tasks import shipped_dir

ASSETS_DIR = shipped_dir("assets")  # MJCF fragments added to the Fetch scenes
TABLE_TOP = 0.4  # z of the table surface in every Fetch scene

# The drawer cabinet (metres). The drawer opens towards the robot (-x); its handle is a bar
# parallel to the drawer face with a gap the closed gripper hooks into.
CABINET_CENTRE = (1.48, 0.75)
CABINET_HALF = (0.10, 0.14, 0.045)  # depth (x), width (y), height (z)
WALL = 0.006
HANDLE_GAP = 0.05  # drawer face to handle bar axis
HANDLE_HALF_WIDTH = 0.055
DRAWER_RANGE = 0.2


def _fetch_assets() -> Path:
    import gymnasium_robotics

    return Path(gymnasium_robotics.__file__).parent / "envs" / "assets"


def _fragment(name: str) -> str:
    """An MJCF fragment from ``assets/`` without its comments (they are for people)."""
    text = (ASSETS_DIR / name).read_text()
    return re.sub(r"<!--.*?-->\n?", "", text, flags=re.S).strip()


def _cabinet_xml() -> str:
    """The cabinet, computed from its dimensions above (every wall and tray box follows from the
    half sizes, the wall thickness and the clearance)."""
    hx, hy, hz = CABINET_HALF
    t = WALL
    cx, cy = CABINET_CENTRE
    wood = 'rgba="0.55 0.35 0.2 1"'
    light = 'rgba="0.85 0.65 0.4 1"'
    handle = 'rgba="0.15 0.3 0.8 1"'
    walls = [  # (pos, size) in the cabinet frame; the front (-x) is open for the drawer
        ((0, 0, -hz + t / 2), (hx, hy, t / 2)),
        ((0, 0, hz - t / 2), (hx, hy, t / 2)),
        ((hx - t / 2, 0, 0), (t / 2, hy, hz)),
        ((0, -hy + t / 2, 0), (hx, t / 2, hz)),
        ((0, hy - t / 2, 0), (hx, t / 2, hz)),
    ]
    # The drawer tray fits inside with 3 mm clearance on every side: it never touches the walls.
    c = 0.003
    dx, dy, dz = hx - t, hy - t - c, hz - t - c
    tray = [
        ((t / 2, 0, -dz + t / 2), (dx - t / 2, dy, t / 2)),  # bottom
        ((dx - t / 2, 0, 0), (t / 2, dy, dz)),  # back
        ((t / 2, -dy + t / 2, 0), (dx - t / 2, t / 2, dz)),  # sides
        ((t / 2, dy - t / 2, 0), (dx - t / 2, t / 2, dz)),
        ((-dx + t / 2, 0, 0), (t / 2, dy, dz)),  # front panel, flush with the cabinet front
    ]
    face = -dx  # outer face of the front panel, drawer frame
    bar = face - HANDLE_GAP
    w = HANDLE_HALF_WIDTH

    def box(pos, size, rgba, extra=""):
        p = " ".join(f"{v:.4f}" for v in pos)
        s = " ".join(f"{v:.4f}" for v in size)
        return f'<geom type="box" pos="{p}" size="{s}" {rgba} {extra}/>'

    lines = [f'<body name="cabinet" pos="{cx} {cy} {TABLE_TOP + hz}">']
    lines += [box(p, s, wood) for p, s in walls]
    lines.append(f'<body name="drawer" pos="{-hx + dx} 0 0">')
    lines.append(
        f'<joint name="drawer:joint" type="slide" axis="-1 0 0" range="0 {DRAWER_RANGE}"'
        ' damping="8" frictionloss="0.5" armature="0.05"/>'
    )
    lines += [box(p, s, light, 'mass="0.2"') for p, s in tray]
    lines.append(
        f'<geom type="capsule" fromto="{bar} {-w} 0 {bar} {w} 0" size="0.006" {handle}'
        ' mass="0.05"/>'
    )
    for y in (-w, w):
        lines.append(box(((bar + face) / 2, y, 0), (HANDLE_GAP / 2, 0.005, 0.005), handle))
    lines.append(f'<site name="drawer_handle" pos="{bar} 0 0" size="0.004" rgba="0 0 0 0"/>')
    lines += ["</body>", "</body>"]
    return "\n".join(lines)


def scene_xml(scene: str, marker_radius: float, marker_rgba: str, drawer: bool = False) -> str:
    """The edited MJCF text of Fetch scene ``scene`` (reach | push | pick_and_place | slide)."""
    assets = _fetch_assets()
    src = assets / "fetch" / f"{scene}.xml"
    if not src.exists():
        raise FileNotFoundError(f"gymnasium-robotics scene {src} is missing")
    xml = src.read_text()
    # absolute paths: the edited file lives elsewhere
    xml = xml.replace('meshdir="../stls/fetch"', f'meshdir="{assets / "stls" / "fetch"}"')
    xml = xml.replace('texturedir="../textures"', f'texturedir="{assets / "textures"}"')
    for inc in ("shared.xml", "robot.xml"):
        xml = xml.replace(f'file="{inc}"', f'file="{assets / "fetch" / inc}"')
    # Fetch's goal sphere: transparent (tests may turn it back on through model.site_rgba)
    xml, n = re.subn(r'(<site name="target0"[^>]*rgba=")1 0 0 1"', r'\g<1>1 0 0 0"', xml)
    if n != 1:
        raise ValueError(f"{src}: expected one target0 site to hide, found {n}")
    extra = _fragment("goal_marker.xml").format(radius=marker_radius, rgba=marker_rgba)
    if drawer:  # the drawer replaces the block
        xml = re.sub(r'<body name="object0".*?</body>', "", xml, flags=re.S)
        extra += "\n" + _cabinet_xml()
    return xml.replace("</worldbody>", extra + "\n</worldbody>", 1)


def scene_path(scene: str, marker_radius: float, marker_rgba: str, drawer: bool = False) -> str:
    """Path of the edited scene file, written once (atomically) to a cache directory."""
    xml = scene_xml(scene, marker_radius, marker_rgba, drawer)
    digest = hashlib.sha1(xml.encode()).hexdigest()[:12]
    root = Path(os.environ.get("ROBOT_RL_CACHE", tempfile.gettempdir())) / "robot_rl_scenes"
    path = root / f"{scene}{'_drawer' if drawer else ''}-{digest}.xml"
    if not path.exists():
        root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=root, suffix=".xml.tmp")
        with os.fdopen(fd, "w") as f:
            f.write(xml)
        os.replace(tmp, path)  # concurrent workers write the same content: last one wins
    return str(path)
