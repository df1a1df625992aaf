#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# libgreen developer entry point.  Every command installs the Debian packages it needs
# (apt-get; as root or through sudo) and builds into its own directory under the tree.
#
#   ./dev.sh demo            build, run the examples and a short benchmark summary
#   ./dev.sh test            build (-Werror) and run the full test suite: meson test -C build
#   ./dev.sh asan            the suite under ASAN+UBSAN            (build-asan/)
#   ./dev.sh valgrind        the suite under valgrind memcheck     (build/)
#   ./dev.sh tsan            the thread tests under TSAN           (build-tsan/)
#   ./dev.sh portable        the suite with the portable ucontext switch (build-portable/)
#   ./dev.sh cet             the suite built with -fcf-protection=full, and a check that
#                            libgreen carries the IBT property note (build-cet/, x86-64)
#   ./dev.sh cross ARCH      cross-build for aarch64|riscv64, run the suite under qemu-user
#   ./dev.sh bench           the benchmarks, release build          (build-release/)
#   ./dev.sh ci              all of the above but demo and bench, timed: what .ci/run runs
#
# Every mode but test runs the whole suite except what cannot run there: the gdb suite
# needs ptrace of a plain native build, and TSAN watches the threads suite only.
set -euo pipefail
cd "$(dirname "$0")"

BASE_PKGS=(gcc g++ meson ninja-build pkg-config libcmocka-dev libev-dev valgrind gdb python3-gevent)
BASE_PKGS+=(libc-ares-dev) # the optional c-ares resolver (meson feature cares)
# libgreen-patch's proof (tests/patch): real libraries against servers the tests start
BASE_PKGS+=(redis-server libhiredis-dev postgresql libpq-dev libcurl4-openssl-dev)
BASE_PKGS+=(libssl-dev) # TLS (src/tls/, the tls test makes its certificates with its API)
PEER_PKGS=(libboost-context-dev python3-greenlet golang-go libst-dev nginx wrk)
PEER_PKGS+=(python3-matplotlib)

SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)

need() { # install the Debian packages that are missing
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "dev.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

setup() { # setup DIR [meson options...]
    local dir=$1
    shift
    if [ -d "$dir" ]; then
        meson setup --reconfigure "$dir" -Dwerror=true "$@" >/dev/null
    else
        meson setup "$dir" -Dwerror=true "$@" >/dev/null
    fi
}

cmd_test() {
    need "${BASE_PKGS[@]}"
    setup build
    meson test -C build --print-errorlogs
}

cmd_demo() {
    need "${BASE_PKGS[@]}" "${PEER_PKGS[@]}"
    setup build-release --buildtype=release
    ninja -C build-release >/dev/null
    echo "== examples/seed_switch (greenlet's test1/test2)"
    ./build-release/examples/seed_switch
    echo "== examples/generator"
    ./build-release/examples/generator
    echo "== examples/generator shared"
    ./build-release/examples/generator shared
    echo "== examples/shared_stack"
    ./build-release/examples/shared_stack
    echo "== benchmark summary (full runs: ./dev.sh bench, results in docs/benchmarks.md)"
    ./build-release/bench/bench_switch --quick
    demo_http
}

demo_http() { # examples/http_hello loaded for ~2 s by examples/http_fetch (and wrk), then SIGTERM
    local dir=build-release/examples port pid out rc=0 i
    out=$(mktemp)
    for i in 1 2 3 4 5; do # a free port; one taken before the server binds it: another
        port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        "$dir/http_hello" "$port" shared >"$out" &
        pid=$!
        while kill -0 "$pid" 2>/dev/null && ! grep -q '^version libgreen$' "$out"; do sleep 0.05; done
        grep -q '^version libgreen$' "$out" && break
        wait "$pid" || true
        pid=
    done
    rm -f "$out"
    [ -n "$pid" ] || { echo "dev.sh demo: http_hello did not start" >&2; return 1; }
    echo "== examples/http_hello (shared stacks) on 127.0.0.1:$port, loaded 2 s by examples/http_fetch -c 64"
    if "$dir/http_fetch" -c 64 -d 2 -e $'hello world\n' "http://127.0.0.1:$port/"; then
        echo "every response was 200 with the body \"hello world\""
    else
        echo "dev.sh demo: http_fetch saw wrong or failed responses" >&2
        rc=1
    fi
    if command -v wrk >/dev/null; then
        echo "== the same server under wrk -t1 -c64 -d2s"
        wrk -t1 -c64 -d2s "http://127.0.0.1:$port/" | grep -E 'requests in|Requests/sec|Non-2xx|Socket errors'
    fi
    kill -TERM "$pid"
    if wait "$pid"; then
        echo "http_hello stopped on SIGTERM, exit status 0"
    else
        echo "dev.sh demo: http_hello exited with status $? on SIGTERM" >&2
        rc=1
    fi
    return "$rc"
}

cmd_asan() {
    need "${BASE_PKGS[@]}"
    setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        GREEN_TEST_SCALE=0.2 meson test -C build-asan --print-errorlogs --no-suite gdb --no-suite soak
}

# --fair-sched=yes: valgrind runs one thread at a time, and its default lock let a spinning
# greenlet's thread take it back at once on the Intel model-207 hosts, so test_monitor's
# watchdog thread never ran during a 0.4 s hog (main failed there too, 8 of 8 runs).
cmd_valgrind() {
    need "${BASE_PKGS[@]}"
    setup build
    GREEN_TEST_SCALE=0.01 meson test -C build --print-errorlogs --no-suite gdb --no-suite soak \
        --timeout-multiplier 4 \
        --wrapper 'valgrind -q --fair-sched=yes --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect'
}

cmd_tsan() {
    need "${BASE_PKGS[@]}"
    setup build-tsan -Db_sanitize=thread -Db_lundef=false
    # gcc 12's TSAN cannot map its shadow with the high mmap randomisation of newer kernels
    setarch "$(uname -m)" -R env TSAN_OPTIONS=halt_on_error=1 \
        meson test -C build-tsan --print-errorlogs --suite threads
}

cmd_portable() {
    need "${BASE_PKGS[@]}"
    setup build-portable -Dswitch=portable
    GREEN_TEST_SCALE=0.2 meson test -C build-portable --print-errorlogs --no-suite gdb
}

cmd_cet() {
    need "${BASE_PKGS[@]}" binutils
    if [ "$(uname -m)" != x86_64 ]; then
        echo "dev.sh cet: CET is x86-64 only, skipped" >&2
        return 0
    fi
    setup build-cet -Dc_args=-fcf-protection=full -Dcpp_args=-fcf-protection=full
    ninja -C build-cet >/dev/null
    meson test -C build-cet --print-errorlogs
    # Every object of libgreen must claim IBT, the switch object IBT only (it does not switch
    # shadow stacks).  The linked library claims it only if every input does: Debian 12's
    # glibc crti.o/crtn.o carry no note (nor endbr64 in _init/_fini), so there the library
    # cannot, truthfully, and we say so instead of forcing it with -z ibt.
    local f props
    for f in build-cet/src/libgreen.so.0.1.0.p/*.o build-cet/src/libgreen.so.0; do
        props=$(readelf -n "$f" | grep 'x86 feature' || true)
        echo "dev.sh cet: $f:${props#*Properties:}"
        case "$f:$props" in
            *.S.o:*SHSTK*) echo "dev.sh cet: $f claims SHSTK, which the switch does not support" >&2
                           return 1 ;;
            *:*IBT*) ;;
            *.so.0:*)
                local crti
                crti=$(gcc -print-file-name=crti.o)
                if readelf -n "$crti" | grep -q 'x86 feature:.*IBT'; then
                    echo "dev.sh cet: $f lacks the IBT property note" >&2
                    return 1
                fi
                echo "dev.sh cet: (no note on the library: $crti has none, so the link drops it)" ;;
            *) echo "dev.sh cet: $f lacks the IBT property note" >&2; return 1 ;;
        esac
    done
}

cmd_cross() {
    local arch=${1:?usage: ./dev.sh cross aarch64|riscv64}
    need "${BASE_PKGS[@]}"
    "${SUDO[@]}" bash .ci/cross-deps.sh "$arch"
    # Meson reads a cross file's built-in options (c_args, c_link_args) only when it first
    # sets a directory up: one set up from another version of the file starts afresh.
    local dir=build-$arch ini=.ci/cross/$arch.ini
    [ ! -d "$dir" ] || cmp -s "$ini" "$dir/cross-file.ini" || rm -rf "$dir"
    # -Dhub=enabled: a cross build that silently lost the hub would test the core only
    setup "$dir" --cross-file "$ini" -Dbench=false -Dhub=enabled
    cp "$ini" "$dir/cross-file.ini"
    GREEN_TEST_SCALE=0.05 meson test -C "$dir" --print-errorlogs --no-suite gdb \
        --timeout-multiplier 4
}

cmd_bench() {
    need "${BASE_PKGS[@]}" "${PEER_PKGS[@]}"
    setup build-release --buildtype=release
    ninja -C build-release >/dev/null
    ./build-release/bench/bench_switch
    ./build-release/bench/bench_memory
    ninja -C build-release bench-hub
    ninja -C build-release bench-http
    ninja -C build-release bench-patch
    ninja -C build-release bench-redis
}

# What CI runs, in order (.ci/run calls `./dev.sh ci`, so the two cannot drift).
CI_STEPS=("test" "asan" "valgrind" "tsan" "portable" "cet" "cross aarch64" "cross riscv64")

cmd_ci() {
    local start=$SECONDS step name args
    for step in "${CI_STEPS[@]}"; do
        echo "::: ./dev.sh $step ($((SECONDS - start)) s)"
        read -r name args <<<"$step"
        # shellcheck disable=SC2086 # no argument, or one
        "cmd_$name" $args
    done
    echo "::: all green ($((SECONDS - start)) s)"
}

usage() { # the comment block at the top of this file
    awk 'NR > 1 && /^#/ { if ($0 !~ /SPDX/) { sub(/^# ?/, ""); print } next } NR > 1 { exit }' "$0"
}

case "${1:-}" in
    demo | test | asan | valgrind | tsan | portable | cet | bench | ci) "cmd_$1" ;;
    cross) cmd_cross "${2:-}" ;;
    *)
        usage
        exit 2
        ;;
esac
