#!/bin/bash
# SPDX-License-Identifier: MIT
# Installs what a cross build of libgreen for ARCH needs on Debian 12 (run as root):
#   - Debian's cross compiler and C library for ARCH, qemu-user to run the tests, cmake;
#   - cmocka for ARCH, built from Debian's own cmocka source package as a static library
#     with a pkg-config file under /opt/cross/ARCH, which .ci/cross/ARCH.ini points at.
#     (Debian 12 has no riscv64 binary packages, and installing arm64 ones would need
#     multiarch set up; a source build works the same for both.)
# Needs nothing but Debian's mirror.  Idempotent: a second run only checks and returns.
#
# Usage: .ci/cross-deps.sh aarch64|riscv64
set -euo pipefail

arch=${1:-}
case "$arch" in
aarch64) triplet=aarch64-linux-gnu; debarch=arm64 ;;
riscv64) triplet=riscv64-linux-gnu; debarch=riscv64 ;;
*) echo "usage: $0 aarch64|riscv64" >&2; exit 2 ;;
esac
prefix=/opt/cross/$arch
stamp=$prefix/.cmocka-ok

if [ "$(id -u)" -ne 0 ]; then
    echo "$0: must run as root (apt-get, /opt/cross)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive

log=$(mktemp)
work=
cleanup() { rm -f "$log"; [ -z "$work" ] || rm -rf "$work"; }
trap cleanup EXIT
# Runs a command with its output in $log, shown only if it fails.
quiet() {
    if ! "$@" >"$log" 2>&1; then
        echo "cross-deps: failed: $*" >&2
        cat "$log" >&2
        exit 1
    fi
}

# ---- Debian packages ------------------------------------------------------------------
pkgs=("gcc-$triplet" "libc6-dev-$debarch-cross" qemu-user cmake make pkg-config
      dpkg-dev xz-utils)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "cross-deps: installing ${missing[*]}"
    quiet apt-get update -q
    quiet apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# ---- cmocka for the target -------------------------------------------------------------
if [ -f "$stamp" ] && [ -f "$prefix/lib/libcmocka.a" ] &&
   [ -f "$prefix/include/cmocka.h" ] && [ -f "$prefix/lib/pkgconfig/cmocka.pc" ]; then
    exit 0
fi
echo "cross-deps: building cmocka for $triplet into $prefix"

# Its source package needs a deb-src entry for bookworm.
if ! apt-cache showsrc cmocka 2>/dev/null | grep -q '^Package: cmocka'; then
    if ! grep -rqsE '^(Types:.*deb-src|deb-src[[:space:]])' \
            /etc/apt/sources.list /etc/apt/sources.list.d/; then
        cat >/etc/apt/sources.list.d/debsrc.sources <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    fi
    quiet apt-get update -q
fi

work=$(mktemp -d)
cd "$work"
# As root, apt warns that it downloads unsandboxed; dpkg-source applies Debian's patches.
quiet apt-get source -q cmocka
src=$(find . -maxdepth 1 -type d -name 'cmocka-*' | head -n 1)
[ -n "$src" ] || { echo "cross-deps: no cmocka source tree" >&2; exit 1; }
version=${src##*/cmocka-}

# Only the static library: no shared library, examples, tests or documentation.
quiet cmake -S "$src" -B build \
    -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR="$arch" \
    -DCMAKE_C_COMPILER="$triplet-gcc" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DWITH_STATIC_LIB=ON -DWITH_EXAMPLES=OFF -DUNIT_TESTING=OFF
quiet cmake --build build --target cmocka-static -j "$(nproc)"

rm -rf "$prefix"
install -d "$prefix/include" "$prefix/lib/pkgconfig"
install -m 644 "$src/include/cmocka.h" "$src/include/cmocka_pbc.h" "$prefix/include/"
install -m 644 build/src/libcmocka-static.a "$prefix/lib/libcmocka.a"
cat >"$prefix/lib/pkgconfig/cmocka.pc" <<EOF
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: cmocka
Description: The cmocka unit testing library (static, $triplet, from Debian's source)
Version: $version
Libs: -L\${libdir} -lcmocka
Cflags: -I\${includedir}
EOF
touch "$stamp"
echo "cross-deps: cmocka $version for $triplet installed in $prefix"
