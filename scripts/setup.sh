#!/usr/bin/env bash
# Installs Folio's Debian 12 packages (only those missing) and builds Release into build/.
# Idempotent and quick when everything is already there. Usage: scripts/setup.sh [--sanitize]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake g++ ninja-build pkg-config
  libpoppler-cpp-dev libleptonica-dev libtiff-dev libjpeg-dev libpng-dev libwebp-dev libgif-dev libopenjp2-7-dev
  libdnnl-dev ocl-icd-opencl-dev opencl-c-headers libtbb-dev libyaml-cpp-dev libboost-test-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev libpcre2-dev libssl-dev libcurl4-openssl-dev zlib1g-dev
  libvalijson-dev  # tests: outputs validated against docs/output.schema.json
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build=build
flags=(-DCMAKE_BUILD_TYPE=Release)
if [[ ${1:-} == --sanitize ]]; then
  build=build-asan
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DFOLIO_SANITIZE=ON -DFOLIO_BUILD_BENCH=OFF)
fi
[[ -f $build/build.ninja ]] || cmake -S . -B "$build" -G Ninja "${flags[@]}"
cmake --build "$build" -j "$(nproc)"
