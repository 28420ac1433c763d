#!/usr/bin/env bash
# Debian packages the project needs.  "check" exits non-zero when one is
# missing; "install" installs what is missing (as root, or through sudo).
set -euo pipefail

packages=(
    # build
    gcc g++ make pkg-config
    # nginx and the configure tree the module is built in
    nginx nginx-dev libpcre2-dev libssl-dev zlib1g-dev
    # libraries the module and the CLI link
    libfaiss-dev libblas-dev liblapack-dev libjansson-dev libhiredis-dev
    libcurl4-openssl-dev
    # tests: unit framework, Test::Nginx runner, services the suites start
    check libtest-base-perl libipc-run-perl liburi-perl redis-server curl
    python3-jsonschema
    # browser test (t/browser): Debian's Chromium, a font for its screenshot
    chromium fonts-dejavu-core
    # promtool, which t/008-metrics.t runs on the metrics page
    prometheus
    # benchmarks
    wrk
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$p")
done

case "${1:-check}" in
check)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "missing Debian packages: ${missing[*]}" >&2
        exit 1
    fi
    ;;
install)
    [ ${#missing[@]} -eq 0 ] && exit 0
    sudo=
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    echo "installing: ${missing[*]}"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${missing[@]}"
    ;;
*)
    echo "usage: $0 check|install" >&2
    exit 2
    ;;
esac
