#!/bin/sh
# install-deps.sh - installs the Debian 12 packages xdrflow builds and tests with, if missing.
# Idempotent: does nothing (and needs no network) when everything is already there.
set -eu

PKGS="build-essential cmake pkg-config clang clang-format libclang-rt-14-dev python3 unzip git
librdkafka-dev libprotobuf-c-dev protobuf-c-compiler librocksdb-dev libuv1-dev
libjansson-dev libyaml-dev libcurl4-openssl-dev libssl-dev libmicrohttpd-dev libpcre2-dev
libxxhash-dev libcmocka-dev libzip-dev zlib1g-dev libjemalloc-dev kcat graphviz"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo for:$missing" >&2; exit 1; }
    SUDO=sudo
fi
echo "install-deps: installing$missing" >&2
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
