#!/usr/bin/env bash
# Install Debian's Prometheus (prometheus, promtool) and Alertmanager (prometheus-alertmanager,
# amtool) for the rule/config checks and the end-to-end tests, Debian's Chromium (chromium) for
# the HTML report tests in headless mode, and Debian's docker-compose (1.29) to validate
# docker-compose.yml without a Docker engine (`docker-compose config`). Idempotent: installs only
# the packages whose binaries are missing from PATH, and does nothing when all are there. Works as
# root (CI, dev containers) or through sudo. The packages start no daemon; tests start them on
# loopback ports.
set -euo pipefail

needed=(prometheus promtool prometheus-alertmanager amtool chromium docker-compose)
# The Debian package that provides each binary.
declare -A package_of=([prometheus]=prometheus [promtool]=prometheus
                       [prometheus-alertmanager]=prometheus-alertmanager [amtool]=prometheus-alertmanager
                       [chromium]=chromium [docker-compose]=docker-compose)
missing=()
packages=()
for bin in "${needed[@]}"; do
    if ! command -v "$bin" >/dev/null 2>&1; then
        missing+=("$bin")
        pkg="${package_of[$bin]}"
        [[ " ${packages[*]} " == *" $pkg "* ]] || packages+=("$pkg")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-monitoring: ${needed[*]} already installed"
    exit 0
fi
echo "install-monitoring: missing ${missing[*]}; installing ${packages[*]}"

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-monitoring: not root and no sudo; cannot install packages" >&2
    exit 1
fi

# Another apt (a parallel job, unattended-upgrades) may hold the locks: wait for dpkg's lock, and
# retry while apt reports a held lock (`apt-get update`'s lists lock has no timeout option).
# Any other failure is fatal at once.
apt_get() {
    local attempt log status
    log="$(mktemp)"
    for attempt in $(seq 1 30); do
        status=0
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get -o DPkg::Lock::Timeout=300 "$@" 2> >(tee "$log" >&2) || status=$?
        wait  # for tee
        if [ "$status" -eq 0 ]; then
            rm -f "$log"
            return 0
        fi
        if ! grep -qE 'Could not get lock|Unable to lock|Unable to acquire' "$log"; then
            rm -f "$log"
            return "$status"
        fi
        echo "install-monitoring: apt is busy (attempt $attempt of 30); retrying in 10 s" >&2
        sleep 10
    done
    rm -f "$log"
    return 1
}
apt_get update
apt_get install -y --no-install-recommends "${packages[@]}"

for bin in "${needed[@]}"; do
    if ! command -v "$bin" >/dev/null 2>&1; then
        echo "install-monitoring: $bin still missing after install" >&2
        exit 1
    fi
done
promtool --version 2>&1 | head -n 1
amtool --version 2>&1 | head -n 1
chromium --version 2>/dev/null | head -n 1  # Debian's wrapper script prints a harmless warning on stderr
docker-compose version --short
