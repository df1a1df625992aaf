#!/bin/bash
# SPDX-License-Identifier: MIT
# Installs what a cross build of libgreen for ARCH needs on Debian 12 (run as root):
#   - Debian's cross compiler and C library for ARCH, qemu-user to run the tests, cmake;
#   - cmocka and libev for ARCH, built from Debian's own source packages as static
#     libraries under /opt/cross/ARCH, which .ci/cross/ARCH.ini points at (cmocka through
#     its pkg-config file; libev through -I/-L, since Debian ships no libev.pc and
#     src/meson.build finds libev as a plain library, natively too).
#     (Debian 12 has no riscv64 binary packages, and installing arm64 ones would need
#     multiarch set up; a source build works the same for both.)
# Needs nothing but Debian's mirror.  Idempotent: each library has its own stamp, so a
# second run only checks and returns.
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

if [ "$(id -u)" -ne 0 ]; then
    echo "$0: must run as root (apt-get, /opt/cross)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive

log=$(mktemp)
work=$(mktemp -d)
cleanup() { rm -f "$log"; rm -rf "$work"; }
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

# ---- Debian source packages ------------------------------------------------------------
# Unpacks Debian's source package $1 under $work (dpkg-source applies Debian's patches) and
# sets src to its tree and version to its upstream version.  apt needs a deb-src entry.
debian_source() {
    if ! apt-cache showsrc "$1" 2>/dev/null | grep -q "^Package: $1\$"; then
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
    # As root, apt warns that it downloads unsandboxed.
    (cd "$work" && quiet apt-get source -q "$1")
    src=$(find "$work" -maxdepth 1 -type d -name "$1-*" | head -n 1)
    [ -n "$src" ] || { echo "cross-deps: no $1 source tree" >&2; exit 1; }
    version=${src##*/"$1"-}
}

# ---- cmocka for the target -------------------------------------------------------------
build_cmocka() {
    local stamp=$prefix/.cmocka-ok
    if [ -f "$stamp" ] && [ -f "$prefix/lib/libcmocka.a" ] &&
       [ -f "$prefix/include/cmocka.h" ] && [ -f "$prefix/lib/pkgconfig/cmocka.pc" ]; then
        return 0
    fi
    echo "cross-deps: building cmocka for $triplet into $prefix"
    debian_source cmocka

    # Only the static library: no shared library, examples, tests or documentation.
    quiet cmake -S "$src" -B "$work/cmocka-build" \
        -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR="$arch" \
        -DCMAKE_C_COMPILER="$triplet-gcc" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
        -DWITH_STATIC_LIB=ON -DWITH_EXAMPLES=OFF -DUNIT_TESTING=OFF
    quiet cmake --build "$work/cmocka-build" --target cmocka-static -j "$(nproc)"

    install -d "$prefix/include" "$prefix/lib/pkgconfig"
    install -m 644 "$src/include/cmocka.h" "$src/include/cmocka_pbc.h" "$prefix/include/"
    install -m 644 "$work/cmocka-build/src/libcmocka-static.a" "$prefix/lib/libcmocka.a"
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
}

# ---- libev for the target --------------------------------------------------------------
# The hub's event loop.  Debian builds it with a plain ./configure (debian/rules adds only
# hardening flags); this is that configuration, static and position-independent (it is
# linked into libgreen.so), and only make's libev.la target.  libev calls floor() for
# periodic watchers only and has its own fallback: taking it (ac_cv_search_floor=no) keeps
# libev.a free of -lm, so that `-lev` alone links, as it does natively.
build_libev() {
    local stamp=$prefix/.libev-ok
    if [ -f "$stamp" ] && [ -f "$prefix/lib/libev.a" ] && [ -f "$prefix/include/ev.h" ]; then
        return 0
    fi
    echo "cross-deps: building libev for $triplet into $prefix"
    debian_source libev

    (cd "$src" && quiet ./configure -q --host="$triplet" --prefix="$prefix" \
        --disable-shared --enable-static --with-pic --disable-dependency-tracking \
        CFLAGS="-O2 -g" ac_cv_search_floor=no)
    quiet make -C "$src" -j "$(nproc)" libev.la

    install -d "$prefix/include" "$prefix/lib"
    install -m 644 "$src/ev.h" "$prefix/include/"
    install -m 644 "$src/.libs/libev.a" "$prefix/lib/libev.a"
    touch "$stamp"
    echo "cross-deps: libev $version for $triplet installed in $prefix"
}

build_cmocka
build_libev
