#!/usr/bin/env bash
# Idempotent setup for a brand-new Debian machine: system packages for headless EGL rendering
# (and Chromium for the browser tests), a virtual environment in .venv, the package and its pins.
# Re-running is cheap: each step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${ROBOT_RL_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}

apt_pkgs=(libegl1 libegl-mesa0 libgl1-mesa-dri libglvnd0 libosmesa6)
if [[ "${1:-}" == "--test" ]]; then apt_pkgs+=(chromium); fi
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "[setup] installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) != 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "[setup] creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.robot_rl-setup"
want=$(cat pyproject.toml setup.py scripts/setup.sh | sha256sum | cut -c1-16)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "[setup] installing Python packages (first run takes a few minutes)"
  log="$VENV/setup.log"
  pip_install() {  # quiet unless it fails; the full log stays in .venv/setup.log
    "$VENV/bin/pip" install "$@" >>"$log" 2>&1 || { tail -n 40 "$log"; echo "[setup] pip failed: see $log"; exit 1; }
  }
  pip_install --upgrade pip
  # torch and torchvision that import together (PyPI torchvision does not import beside
  # torch 2.13.0+cpu). On aarch64 the CPU build pair is smaller.
  if [[ $(uname -m) == aarch64 ]]; then torch_pins=(torch==2.9.1 torchvision==0.24.1)
  else torch_pins=(torch==2.14.1 torchvision==0.29.1); fi
  pip_install "${torch_pins[@]}"
  pip_install -e ".[dev,tracking]" "${torch_pins[@]}"
  echo "$want" > "$stamp"
fi
echo "[setup] ready: $VENV"
