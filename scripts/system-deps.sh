#!/usr/bin/env bash
# Installs the Debian packages Aulos needs, if they are missing. Idempotent and
# non-interactive. Usage: scripts/system-deps.sh [build|test|all]
#   build: what compiling needs (rodio's ALSA backend)
#   test:  build + the tools the interop tests and benches drive (ffmpeg, nginx, wrk,
#          h2load (nghttp2-client) for the origin bench's HTTP/2 load, iproute2's `ss`
#          for the listener backlog test,
#          chromium for hls.js via shared/tools/hlsprobe, GStreamer with hlsdemux2
#          and the libav AAC decoder, and VLC, for the player interop tests;
#          GStreamer's hlssink2 (plugins-bad) writes a live stream the client test plays)
set -euo pipefail
set_name=${1:-build}
pkgs=(pkg-config libasound2-dev)
if [ "$set_name" != build ]; then
  pkgs+=(ffmpeg nginx wrk nghttp2-client iproute2 chromium gstreamer1.0-tools gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav
    vlc-bin vlc-plugin-base)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "missing packages ${missing[*]} and not root: install them with apt-get" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
