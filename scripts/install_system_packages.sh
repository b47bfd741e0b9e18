#!/usr/bin/env bash
# Debian packages the project needs at run time: OSMesa and EGL for MuJoCo's headless
# offscreen renderer (`--render` of the inspection command). Installs only what is
# missing; does nothing (with a note) where it cannot install (not root, no apt-get).
set -euo pipefail
PKGS="libosmesa6 libegl1 libgl1 libglfw3"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "note: cannot install Debian packages ($missing ) without root and apt-get;" \
         "headless rendering may not work" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
