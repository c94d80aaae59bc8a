#!/bin/sh
# deliver: the SMTP dialogue.  STARTTLS when the server offers it; a
# server whose TLS handshake fails gets the mail over a new plain
# connection; without PIPELINING commands go one at a time; a server that
# refuses EHLO gets HELO; a 421 greeting defers, a 554 greeting fails;
# several messages share a connection, with RSET after a failed one.
. "${0%/*}/lib.sh"
plan 16

mkhome
cmcctl tenant add acme >/dev/null || exit 1
cmcctl set acme verp off || exit 1     # MAIL FROM as the tenant gave it: easier to check
start_dns --mx-host=tls.test,mx.tls.test,10 --host-record=mx.tls.test,127.0.0.2 \
  --mx-host=g421.test,mx.g421.test,10 --host-record=mx.g421.test,127.0.0.3 \
  --mx-host=g554.test,mx.g554.test,10 --host-record=mx.g554.test,127.0.0.4
start_sink "$TMPD/tls" 127.0.0.2 -c "$CMC_HOME/etc/tls/cert.pem" -k "$CMC_HOME/etc/tls/key.pem"
start_sink "$TMPD/g421" 127.0.0.3 -g '421 4.3.2 not now'
start_sink "$TMPD/g554" 127.0.0.4 -g '554 5.7.1 go away'
export CMC_REMOTE_PORT=$SINK_PORT CMC_RETRY_INTERVAL=60 CMC_RETRY_PERIOD=3600

# A small scripted server: MODE badtls offers STARTTLS and answers the
# handshake with junk; plain offers neither PIPELINING nor STARTTLS; helo
# refuses EHLO.  Every command goes to LOG, one connection per "conn" line.
FAKE_PORT=$(free_port)
cat >"$TMPD/fake.py" <<'PYEOF'
import socket, sys
ip, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((ip, port)); srv.listen(5)
def w(f, s): f.write(s); f.flush()
def serve(c, lg):
    f = c.makefile("rwb", buffering=0)
    w(f, b"220 fake ESMTP\r\n")
    mode = open(log + ".mode").read().strip()
    while True:
        line = f.readline()
        if not line: return
        cmd = line.decode("utf-8", "replace").strip(); lg.write(cmd + "\n"); lg.flush()
        u = cmd.upper()
        if u.startswith("EHLO"):
            if mode == "helo": w(f, b"502 5.5.2 no EHLO here\r\n")
            elif mode == "badtls": w(f, b"250-fake\r\n250-8BITMIME\r\n250 STARTTLS\r\n")
            else: w(f, b"250-fake\r\n250 8BITMIME\r\n")
        elif u.startswith("HELO"): w(f, b"250 fake\r\n")
        elif u.startswith("STARTTLS"):
            w(f, b"220 go ahead\r\n"); w(f, b"this is not TLS at all\r\n" * 4); return
        elif u.startswith("MAIL"): w(f, b"250 ok\r\n")
        elif u.startswith("RCPT"):
            w(f, b"550 5.1.1 no such user\r\n" if "<no" in cmd else b"250 ok\r\n")
        elif u == "DATA":
            w(f, b"354 go\r\n")
            while f.readline() not in (b".\r\n", b""): pass
            w(f, b"250 2.0.0 fake accepted\r\n")
        elif u == "RSET": w(f, b"250 ok\r\n")
        elif u == "QUIT": w(f, b"221 bye\r\n"); return
        else: w(f, b"500 what\r\n")
while True:
    c, _ = srv.accept()
    lg = open(log, "a"); lg.write("conn\n"); lg.flush()
    try: serve(c, lg)
    except OSError: pass
    c.close(); lg.close()
PYEOF
echo badtls >"$TMPD/fake.log.mode"
bg $PY "$TMPD/fake.py" 127.0.0.7 "$FAKE_PORT" "$TMPD/fake.log"
wait_port "$FAKE_PORT" 127.0.0.7 || { echo "Bail out! fake server"; exit 1; }
: >"$TMPD/fake.log"
cmcctl route add acme fake.test "127.0.0.7:$FAKE_PORT" || exit 1

has() { cmcctl events acme "$1" | cut -f2-4 | grep -q "$2"; }
last() { cmcctl events acme "$1" | tail -1 | cut -f2-6; }
msg() { printf 'Subject: %s\n\nbody\n' "$1"; }
id_tls=$(msg tls | queue-inject -t acme -f s@example.com u@tls.test)
id_bad=$(msg badtls | queue-inject -t acme -f s@example.com u@fake.test)
bg deliver 2>"$TMPD/deliver.err"
dpid=$!
wait_for 30 has "$id_tls" succeeded
ok $? "delivered to a server with STARTTLS"
like "$(cat "$TMPD"/tls/env/*)" "*tls yes*" "over TLS"
wait_for 30 has "$id_bad" succeeded
ok $? "delivered to a server whose TLS handshake fails"
like "$(cat "$TMPD/fake.log")" "conn
EHLO *
STARTTLS
conn
EHLO *
MAIL FROM:<s@example.com>*" "after the failed handshake, a new connection without STARTTLS"

# no PIPELINING: one command at a time; a failed transaction is reset
echo plain >"$TMPD/fake.log.mode"
kill -TERM "$dpid"; wait "$dpid"
: >"$TMPD/fake.log"
id_p1=$(msg p1 | queue-inject -t acme -f s@example.com no1@fake.test)
id_p2=$(msg p2 | queue-inject -t acme -f s@example.com yes@fake.test no2@fake.test)
id_p3=$(msg p3 | queue-inject -t acme -f s@example.com yes3@fake.test)
id_421=$(msg g421 | queue-inject -t acme -f s@example.com u@g421.test)
id_554=$(msg g554 | queue-inject -t acme -f s@example.com u@g554.test)
bg deliver 2>"$TMPD/deliver2.err"
wait_for 30 has "$id_p3" succeeded
ok $? "delivered to a server without PIPELINING"
is "$(grep -c '^conn' "$TMPD/fake.log")" 1 "three messages over one connection"
is "$(grep -v '^conn\|^EHLO\|^QUIT' "$TMPD/fake.log" | tr '\n' '|')" \
   "MAIL FROM:<s@example.com>|RCPT TO:<no1@fake.test>|RSET|MAIL FROM:<s@example.com>|RCPT TO:<yes@fake.test>|DATA|MAIL FROM:<s@example.com>|RCPT TO:<no2@fake.test>|RSET|MAIL FROM:<s@example.com>|RCPT TO:<yes3@fake.test>|DATA|" \
   "commands in order, one transaction per recipient, no DATA without a recipient, RSET after the failed transactions only"
like "$(last "$id_p1")" "failed	2	no1@fake.test	127.0.0.7 \\[127.0.0.7]	550 5.1.1 no such user" "RCPT 550 fails the recipient: status 2 (user unknown)"
like "$(cmcctl events acme "$id_p2" | cut -f2-4)" "*succeeded	0	yes@fake.test*" "the other recipient of that message succeeds"
like "$(cmcctl events acme "$id_p2" | cut -f2-4)" "*failed	2	no2@fake.test*" "and the refused one fails"
like "$(last "$id_p3")" "succeeded	0	yes3@fake.test	127.0.0.7 \\[127.0.0.7]	250 2.0.0 fake accepted" "succeeded with the reply to the end of data"
wait_for 30 has "$id_421" deferred
like "$(last "$id_421")" "deferred	0	u@g421.test	*421 4.3.2 not now" "421 greeting: deferred"
wait_for 30 has "$id_554" failed
like "$(last "$id_554")" "failed	4	u@g554.test	*554 5.7.1 go away" "554 greeting from the last MX: failed, status 4 (policy)"

# EHLO refused: HELO
echo helo >"$TMPD/fake.log.mode"
: >"$TMPD/fake.log"
id_h=$(msg helo | queue-inject -t acme -f s@example.com helo@fake.test)
wait_for 30 has "$id_h" succeeded
ok $? "a server refusing EHLO gets HELO"
like "$(cat "$TMPD/fake.log")" "conn
EHLO *
HELO *
MAIL *" "EHLO, then HELO"
grep -q fatal "$TMPD/deliver.err" "$TMPD/deliver2.err"
ok $((!$?)) "no fatal errors"
exit $failed
