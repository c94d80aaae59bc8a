# t/lib.sh: sourced by every *.t shell test.
# Gives TAP (plan/ok/is/like/diag), a private CMC_HOME (mkhome), free ports,
# background servers that are killed at exit (bg), and waiting without sleep
# loops of fixed length (wait_port, wait_for).
n=0; failed=0
T=$(cd "${0%/*}" && pwd)
TOP=$(cd "$T/.." && pwd)
BIN=$TOP/bin
PY=/usr/bin/python3            # Debian's, with Debian's python3-* modules
export PATH="$BIN:$PATH"
plan() { echo "1..$1"; }
diag() { echo "# $*"; }
ok()   { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else failed=1; echo "not ok $n - $2"; fi; }
is()   { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else failed=1; echo "not ok $n - $3"; echo "#   got '$1', want '$2'"; fi; }
like() { n=$((n+1)); case "$1" in $2) echo "ok $n - $3";; *) failed=1; echo "not ok $n - $3"; echo "#   got '$1', want like '$2'";; esac; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }

# Everything a test starts goes in $TMPD; bg pids are killed at exit.
TMPD=$(mktemp -d "${TMPDIR:-/tmp}/cmc-t.XXXXXX") || exit 1
BGPIDS=""
cleanup() {
  for p in $BGPIDS; do kill -TERM "$p" 2>/dev/null; done
  for p in $BGPIDS; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  # a killed server may still be finishing a write: try twice
  [ -n "$KEEP" ] || rm -rf "$TMPD" 2>/dev/null || { sleep 1; rm -rf "$TMPD"; }
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# bg CMD...: run CMD in the background, remember its pid in $!/BGPIDS.
bg() { "$@" & BGPIDS="$BGPIDS $!"; }

# free_port: print a TCP port that is free on 127.0.0.1 now.
free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for SECONDS CMD...: retry CMD every 50 ms until it succeeds; 1 on time-out.
wait_for() {
  _deadline=$(( $(date +%s) + $1 )); shift
  while ! "$@" 2>/dev/null; do
    [ "$(date +%s)" -lt "$_deadline" ] || return 1
    $PY -c 'import time; time.sleep(0.05)'
  done
  return 0
}
port_open() { $PY -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1).close()' "$1" "$2"; }
wait_port() { wait_for 15 port_open "${2:-127.0.0.1}" "$1"; }

# mkhome: a fresh CMC_HOME under $TMPD, initialised (dirs, db, spool, tls).
mkhome() {
  CMC_HOME=$TMPD/home
  export CMC_HOME
  "$BIN/cmcctl" init >"$TMPD/init.log" 2>&1 || { cat "$TMPD/init.log"; echo "Bail out! cmcctl init failed"; exit 1; }
  mkdir -p "$CMC_HOME/etc/tls"
  if [ ! -f "$T/data/tls/cert.pem" ]; then :; fi
  cp "$T/data/tls/cert.pem" "$T/data/tls/key.pem" "$CMC_HOME/etc/tls/"
  chmod 600 "$CMC_HOME/etc/tls/key.pem"
}

# start_dns ZONEARGS...: dnsmasq on a free port of 127.0.0.1, authoritative
# for what the arguments say (--mx-host=, --host-record=, --address=/x/ for
# NXDOMAIN), nothing forwarded.  Sets CMC_RESOLVER.
start_dns() {
  DNS_PORT=$(free_port)
  bg /usr/sbin/dnsmasq --keep-in-foreground --no-daemon --conf-file=/dev/null \
    --no-resolv --no-hosts --no-poll --listen-address=127.0.0.1 --bind-interfaces \
    --port="$DNS_PORT" --user="$(id -un)" --group="$(id -gn)" --pid-file= \
    --log-facility=- --local=/test/ "$@" >"$TMPD/dnsmasq.log" 2>&1
  CMC_RESOLVER=127.0.0.1:$DNS_PORT
  export CMC_RESOLVER
  wait_for 10 dig_ok || { cat "$TMPD/dnsmasq.log"; echo "Bail out! dnsmasq did not start"; exit 1; }
}
dig_ok() { $PY - "$DNS_PORT" <<'PYEOF'
import socket, sys
q = b'\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04ping\x04test\x00\x00\x01\x00\x01'
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5)
s.sendto(q, ("127.0.0.1", int(sys.argv[1]))); s.recv(512)
PYEOF
}

# start_sink DIR [IP [MAIL-SINK-ARGS...]]: bin/mail-sink under tcpserver on
# IP (default 127.0.0.1), port $SINK_PORT: chosen on the first call, reused
# by later ones, so sinks on 127.0.0.2, 127.0.0.3 ... share one port as MX
# hosts do.  Messages land in DIR/new, envelopes in DIR/env, one line per
# connection and per message in DIR/log; stderr goes to DIR.err.  Returns
# once the sink listens, without connecting (DIR/log counts only yours).
start_sink() {
  _sdir=$1; _sip=${2:-127.0.0.1}
  shift; [ $# -gt 0 ] && shift
  [ -n "$SINK_PORT" ] || SINK_PORT=$(free_port)
  export SINK_PORT
  mkdir -p "$_sdir"
  : >"$_sdir.err"
  bg tcpserver -v -R -H -l0 -c 100 "$_sip" "$SINK_PORT" \
    "$BIN/mail-sink" -d "$_sdir" -h sink.test "$@" 2>>"$_sdir.err"
  wait_for 15 grep -q 'tcpserver: status:' "$_sdir.err" \
    || { cat "$_sdir.err"; echo "Bail out! mail-sink on $_sip:$SINK_PORT did not start"; exit 1; }
}

# resolver_shim: build $TMPD/shim.so from t/data/resshim.c; then
# SHIM_RESOLVER=IP:PORT LD_PRELOAD=$TMPD/shim.so CMD makes CMD's glibc
# resolver ask that server (opendkim-testmsg knows no other way).
resolver_shim() {
  cc -shared -fPIC -o "$TMPD/shim.so" "$T/data/resshim.c" -ldl \
    || { echo "Bail out! cannot build the resolver shim"; exit 1; }
}

# dkimpy [--bare] [--each] FILE...: dkimpy's verdict on each FILE, the keys
# from the dnsmasq of start_dns (t/data/dkimverify.py says the output).
dkimpy() { $PY "$T/data/dkimverify.py" "$DNS_PORT" "$@"; }
