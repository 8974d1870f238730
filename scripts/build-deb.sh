#!/usr/bin/env bash
# Build dist/wmbus-gateway_VERSION_ARCH.deb for this machine's architecture (Debian 12 / Raspberry Pi OS:
# amd64, arm64, armhf): the application and its dependencies as wheels, pinned and hash-checked by
# requirements.lock, installed into /opt/wmbus-gateway/.venv by postinst without network.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dpkg-deb >/dev/null || { echo "build-deb: dpkg-deb is needed (Debian's dpkg)" >&2; exit 1; }
scripts/bootstrap.sh >/dev/null
version=$(.venv/bin/python -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
app="$root/opt/wmbus-gateway"

install -d "$app/wheels" "$root/usr/bin" "$root/lib/systemd/system" "$root/lib/udev/rules.d" \
    "$root/etc/wmbus-gateway" "$root/usr/share/doc/wmbus-gateway" "$root/DEBIAN"
# every dependency exactly as locked (hashes checked), then the application itself
.venv/bin/python -m pip wheel --quiet --require-hashes --no-deps -r requirements.lock -w "$app/wheels"
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
