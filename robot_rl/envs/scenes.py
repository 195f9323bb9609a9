"""MJCF scenes for the tasks: gymnasium-robotics' Fetch scenes, edited as text.

Every scene gets a flat goal marker on the table (a disc with no collision) and the floating red
goal sphere made invisible: the sphere disappears inside the block exactly at success, which an
image classifier learns as a shortcut, while a flat marker stays visible around the block. The
drawer scene adds a cabinet with a drawer on a slide joint and a handle post.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

FETCH_ASSETS = "envs/assets"

# A flat zone drawn on the table top (z = 0.4): contype/conaffinity 0, so it never collides.
MARKER = (
    '<geom name="goal_marker" type="cylinder" pos="1.3 0.75 0.4005" size="{r} 0.0005" '
    'rgba="{rgba}" contype="0" conaffinity="0" group="0"/>'
)

DRAWER = """
<body name="cabinet" pos="1.5 0.75 0.4">
  <geom name="cabinet_back" type="box" pos="0.09 0 0.045" size="0.01 0.12 0.045" rgba="0.45 0.3 0.2 1"/>
  <geom name="cabinet_left" type="box" pos="0 0.11 0.045" size="0.1 0.01 0.045" rgba="0.45 0.3 0.2 1"/>
  <geom name="cabinet_right" type="box" pos="0 -0.11 0.045" size="0.1 0.01 0.045" rgba="0.45 0.3 0.2 1"/>
  <geom name="cabinet_top" type="box" pos="0 0 0.095" size="0.1 0.12 0.005" rgba="0.45 0.3 0.2 1"/>
  <body name="drawer" pos="0 0 0.03">
    <joint name="drawer:joint" type="slide" axis="-1 0 0" range="0 0.15" damping="8" limited="true" armature="0.1" solreflimit="0.004 1"/>
    <geom name="drawer_bottom" type="box" pos="0 0 -0.025" size="0.085 0.095 0.005" rgba="0.8 0.6 0.35 1" mass="0.5"/>
    <geom name="drawer_front" type="box" pos="-0.09 0 0.005" size="0.008 0.1 0.035" rgba="0.85 0.65 0.4 1" mass="0.3"/>
    <geom name="drawer_handle" type="capsule" fromto="-0.16 -0.04 0.02 -0.16 0.04 0.02" size="0.008" rgba="0.2 0.2 0.2 1" mass="0.05"/>
    <geom name="drawer_handle_l" type="box" pos="-0.13 -0.04 0.02" size="0.032 0.005 0.005" rgba="0.2 0.2 0.2 1" mass="0.01"/>
    <geom name="drawer_handle_r" type="box" pos="-0.13 0.04 0.02" size="0.032 0.005 0.005" rgba="0.2 0.2 0.2 1" mass="0.01"/>
    <site name="drawer_handle" pos="-0.16 0 0.02" size="0.01" rgba="0 0 0 0"/>
  </body>
</body>
"""


def fetch_asset_dir() -> Path:
    import gymnasium_robotics

    return Path(gymnasium_robotics.__file__).parent / FETCH_ASSETS


@functools.cache
def scene_path(base: str, marker_radius: float, marker_rgba: str, drawer: bool) -> str:
    """An edited copy of Fetch's ``<base>.xml`` (absolute asset paths), cached per process."""
    assets = fetch_asset_dir()
    xml = (assets / "fetch" / f"{base}.xml").read_text()
    xml = xml.replace('meshdir="../stls/fetch"', f'meshdir="{assets / "stls" / "fetch"}"')
    xml = xml.replace('texturedir="../textures"', f'texturedir="{assets / "textures"}"')
    for inc in ("shared.xml", "robot.xml"):
        xml = xml.replace(f'file="{inc}"', f'file="{assets / "fetch" / inc}"')
    # The goal sphere stays in the model (Fetch's code moves it) but is never drawn.
    xml = xml.replace(
        'name="target0" pos="0 0 0.5" size="0.02 0.02 0.02" rgba="1 0 0 1"',
        'name="target0" pos="0 0 0.5" size="0.02 0.02 0.02" rgba="1 0 0 0"',
    )
    # The block's own red site would show through its faces at some angles: hide it as well.
    xml = xml.replace(
        'name="object0" pos="0 0 0" size="0.02 0.02 0.02" rgba="1 0 0 1"',
        'name="object0" pos="0 0 0" size="0.02 0.02 0.02" rgba="1 0 0 0"',
    )
    extra = MARKER.format(r=marker_radius, rgba=marker_rgba)
    if drawer:
        extra += DRAWER
    xml = xml.replace(
        '<include file="' + str(assets / "fetch" / "robot.xml") + '"></include>',
        '<include file="' + str(assets / "fetch" / "robot.xml") + '"></include>' + extra,
    )
    out_dir = Path(tempfile.gettempdir()) / f"robot_rl_scenes_{os.getuid()}"
    out_dir.mkdir(exist_ok=True)
    tag = marker_rgba.replace(" ", "_")
    name = f"{base}_r{marker_radius}_{tag}_{int(drawer)}.xml"
    path = out_dir / name
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(xml)
    os.replace(tmp, path)  # several worker processes may write the same file: atomically
    return str(path)
