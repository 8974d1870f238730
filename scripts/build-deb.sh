#!/usr/bin/env bash
# Build dist/wmbus-gateway_VERSION_ARCH.deb (Debian 12 / Raspberry Pi OS, Python 3.11): the application
# and its dependencies as wheels, pinned and hash-checked by requirements.lock, installed into
# /opt/wmbus-gateway/.venv by postinst without network.
#   scripts/build-deb.sh              for this machine's architecture (amd64, arm64 or armhf), building
#                                     any wheel the registry lacks from its hash-checked source
#   scripts/build-deb.sh --arch arm64 for a 64-bit Pi from another machine: the registry's aarch64
#                                     wheels (armhf cannot be cross-built: pycryptodome has no armv7l
#                                     wheel there, so build the armhf package on a 32-bit Pi OS)
set -euo pipefail
target=""
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) target="${2:?--arch needs amd64, arm64 or armhf}"; shift 2 ;;
        *) echo "build-deb: unknown argument $1 (usage: build-deb.sh [--arch amd64|arm64|armhf])" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$0")/.."
command -v dpkg-deb >/dev/null || { echo "build-deb: dpkg-deb is needed (Debian's dpkg)" >&2; exit 1; }
native=$(dpkg --print-architecture)
arch=${target:-$native}
case "$arch" in
    amd64) platforms="manylinux2014_x86_64 manylinux_2_17_x86_64 manylinux_2_28_x86_64" ;;
    arm64) platforms="manylinux2014_aarch64 manylinux_2_17_aarch64 manylinux_2_28_aarch64" ;;
    armhf) platforms="manylinux2014_armv7l manylinux_2_17_armv7l manylinux_2_31_armv7l linux_armv7l" ;;
    *) echo "build-deb: no package for architecture $arch (amd64, arm64, armhf)" >&2; exit 2 ;;
esac
scripts/bootstrap.sh >/dev/null
version=$(.venv/bin/python -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
app="$root/opt/wmbus-gateway"

install -d "$app/wheels" "$root/usr/bin" "$root/lib/systemd/system" "$root/lib/udev/rules.d" \
    "$root/etc/wmbus-gateway" "$root/usr/share/doc/wmbus-gateway" "$root/DEBIAN"
# every dependency exactly as locked (hashes checked), then the application itself
if [ "$arch" = "$native" ]; then
    .venv/bin/python -m pip wheel --quiet --require-hashes --no-deps -r requirements.lock -w "$app/wheels"
else  # another architecture: only the registry's binary wheels for it (Debian 12's CPython 3.11)
    platform_args=()
    for platform in $platforms; do platform_args+=(--platform "$platform"); done
    .venv/bin/python -m pip download --quiet --only-binary=:all: "${platform_args[@]}" \
        --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
        --require-hashes --no-deps -r requirements.lock -d "$app/wheels" || {
        echo "build-deb: the registry lacks a $arch wheel for a locked dependency (above); build on a $arch machine" >&2
        exit 1
    }
fi
.venv/bin/python -m pip wheel --quiet --no-deps . -w "$app/wheels"
install -m 644 requirements.lock "$app/requirements.lock"
ln -s /opt/wmbus-gateway/.venv/bin/wmbus-gateway "$root/usr/bin/wmbus-gateway"
install -m 644 systemd/wmbus-gateway.service systemd/wmbus-ingest.service "$root/lib/systemd/system/"
install -m 644 systemd/99-wmbus-dongles.rules "$root/lib/udev/rules.d/"
install -m 644 config/gateway.example.toml "$root/etc/wmbus-gateway/gateway.toml"
install -m 644 LICENSE "$root/usr/share/doc/wmbus-gateway/copyright"
install -m 644 README.md docs/install.md "$root/usr/share/doc/wmbus-gateway/"
install -m 755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
echo "/etc/wmbus-gateway/gateway.toml" > "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: wmbus-gateway
Version: $version
Architecture: $arch
Maintainer: wmbus-gateway developers <wmbus-gateway@users.noreply.github.com>
Installed-Size: $size
Depends: python3 (>= 3.11), python3-venv, adduser
Section: net
Priority: optional
Homepage: https://github.com/wmbus-gateway/wmbus-gateway
Description: wireless M-Bus (EN 13757-4 / OMS) radio gateway for water utilities
 Reads water meters over wM-Bus dongles, decrypts and decodes their telegrams, keeps the monthly
 billing index and publishes readings, indexes and alarms over MQTT; includes the backend ingester
 into InfluxDB or VictoriaMetrics.
CONTROL
mkdir -p dist
deb="dist/wmbus-gateway_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
