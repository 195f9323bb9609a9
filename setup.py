"""Packaging beyond what pyproject.toml can say: the top-level ``tasks/`` and ``assets/`` folders
travel inside the wheel as ``robot_rl/_data/tasks`` and ``robot_rl/_data/assets``, where
``robot_rl.envs.tasks.shipped_dir`` finds them through importlib.resources (a checkout or an
editable install reads the top-level folders themselves)."""

from setuptools import find_packages, setup

DATA = {"robot_rl._data.tasks": "tasks", "robot_rl._data.assets": "assets"}

setup(
    packages=find_packages(include=["robot_rl*"]) + list(DATA),
    package_dir=DATA,
    package_data={
        "robot_rl": ["labeling/static/*"],
        "robot_rl._data.tasks": ["*.toml", "*.md"],
        "robot_rl._data.assets": ["*.xml"],
    },
)
