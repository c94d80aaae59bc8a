#!/bin/sh
# cmc-init.sh: prepare an installation root for running under s6.
#   CMC_HOME (default: var/ in the checkout) gets its layout (cmcctl init),
#   recovery, a TLS certificate, etc/cmc.conf, the scan directory
#   service/, and a demo tenant "demo" relaying from 127.0.0.1 and by SMTP
#   AUTH, with example.test routed to the local sink.
# Environment: CMC_HOME, CMC_SMTP_PORT (2525), CMC_MX_PORT (2526),
#   CMC_SINK_PORT (2527), CMC_HOSTNAME (localhost).
# Exit: 0 ready, 111 something failed (the message says what).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
CMC_HOME=${CMC_HOME:-$top/var}
CMC_BIN=${CMC_BIN:-$top/bin}
CMC_SMTP_PORT=${CMC_SMTP_PORT:-2525}
CMC_MX_PORT=${CMC_MX_PORT:-2526}
CMC_SINK_PORT=${CMC_SINK_PORT:-2527}
CMC_HOSTNAME=${CMC_HOSTNAME:-localhost}
export CMC_HOME CMC_BIN
fail() { echo "cmc-init: fatal: $*" >&2; exit 111; }

mkdir -p "$CMC_HOME" || fail "unable to create $CMC_HOME"
CMC_HOME=$(cd "$CMC_HOME" && pwd)
"$CMC_BIN/cmcctl" init || fail "cmcctl init failed"
"$CMC_BIN/cmcctl" recover || fail "database recovery failed"

# TLS for STARTTLS: a self-signed certificate made once per installation.
if [ ! -f "$CMC_HOME/etc/tls/cert.pem" ]; then
  mkdir -p "$CMC_HOME/etc/tls"
  (umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 825 \
     -keyout "$CMC_HOME/etc/tls/key.pem" -out "$CMC_HOME/etc/tls/cert.pem" \
     -subj "/CN=$CMC_HOSTNAME" -addext "subjectAltName=DNS:$CMC_HOSTNAME,IP:127.0.0.1" \
     2>/dev/null) || fail "unable to make a TLS certificate"
fi

# The one configuration file every service sources.
cat > "$CMC_HOME/etc/cmc.conf.tmp" <<CONF
# Written by cmc-init.sh; sourced by every service's run script.
CMC_HOME='$CMC_HOME'
CMC_BIN='$CMC_BIN'
CMC_HOSTNAME='$CMC_HOSTNAME'
CMC_SMTP_ADDR='${CMC_SMTP_ADDR:-127.0.0.1}'
CMC_SMTP_PORT='$CMC_SMTP_PORT'
CMC_MX_PORT='$CMC_MX_PORT'
CMC_MX_ADDR='${CMC_MX_ADDR:-127.0.0.1}'
CMC_SINK_PORT='$CMC_SINK_PORT'
CMC_SMTP_MAXSESSIONS='${CMC_SMTP_MAXSESSIONS:-100}'
CMC_SMTP_MAXSIZE='${CMC_SMTP_MAXSIZE:-26214400}'
export CMC_HOME CMC_BIN CMC_HOSTNAME CMC_SMTP_MAXSESSIONS CMC_SMTP_MAXSIZE
CONF
[ -z "${CMC_RESOLVER:-}" ] || echo "CMC_RESOLVER='$CMC_RESOLVER'; export CMC_RESOLVER" >> "$CMC_HOME/etc/cmc.conf.tmp"
[ -z "${CMC_REMOTE_PORT:-}" ] || echo "CMC_REMOTE_PORT='$CMC_REMOTE_PORT'; export CMC_REMOTE_PORT" >> "$CMC_HOME/etc/cmc.conf.tmp"
mv "$CMC_HOME/etc/cmc.conf.tmp" "$CMC_HOME/etc/cmc.conf"

# The scan directory: a fresh copy of service/ (s6 keeps its state in
# supervise/ subdirectories, which a copy does not disturb).
mkdir -p "$CMC_HOME/service" "$CMC_HOME/log"
for d in "$top"/service/*/; do
  name=$(basename "$d")
  mkdir -p "$CMC_HOME/service/$name/log" "$CMC_HOME/log/$name"
  cp "$d/run" "$CMC_HOME/service/$name/run"
  cp "$d/log/run" "$CMC_HOME/service/$name/log/run"
done

# The demo tenant.  The password is made once and kept in etc/demo-password.
if ! "$CMC_BIN/cmcctl" tenant list | grep -qx demo; then
  "$CMC_BIN/cmcctl" tenant add demo
fi
"$CMC_BIN/cmcctl" net list demo | grep -q '127.0.0.1' || "$CMC_BIN/cmcctl" net add demo 127.0.0.1
if [ ! -s "$CMC_HOME/etc/demo-password" ]; then
  (umask 077 && openssl rand -hex 12 > "$CMC_HOME/etc/demo-password")
fi
"$CMC_BIN/cmcctl" user add demo demo < "$CMC_HOME/etc/demo-password"
"$CMC_BIN/cmcctl" route add demo example.test "127.0.0.1:$CMC_SINK_PORT"
exit 0
