#!/bin/sh
# smtp-recv: what queue-inject says decides the reply to the end of data:
# exit 100 -> 554 5.6.0; exit 111, no id, a crash, an early exit that
# stops reading the message, or no queue-inject at all -> 451 4.3.0 (our
# faults are never 5xx); the session goes on after each.  A stand-in for
# queue-inject (in this test's temporary directory) chooses its exit by
# the message's Subject.
. "${0%/*}/lib.sh"
mkhome
{ cmcctl tenant add t1 && cmcctl net add t1 127.0.0.1; } >/dev/null || { echo "Bail out! cmcctl failed"; exit 1; }
mkdir -p "$TMPD/fakebin"
cat >"$TMPD/fakebin/queue-inject" <<'EOF'
#!/bin/sh
[ "$FAKE" = early ] && exit 111
msg=$(cat)
case "$msg" in
*"Subject: exit100"*) exit 100 ;;
*"Subject: crash"*) kill -KILL $$ ;;
*"Subject: noid"*) cat <&1 >/dev/null; exit 0 ;;
esac
exit 111
EOF
chmod +x "$TMPD/fakebin/queue-inject"
PORT=$(free_port); PORT_E=$(free_port); PORT_N=$(free_port)
bg env CMC_BIN="$TMPD/fakebin" tcpserver -q -R -H -c 200 127.0.0.1 "$PORT" "$BIN/smtp-recv" 2>"$TMPD/smtpd.log"
bg env CMC_BIN="$TMPD/fakebin" FAKE=early tcpserver -q -R -H -c 200 127.0.0.1 "$PORT_E" "$BIN/smtp-recv" 2>>"$TMPD/smtpd.log"
bg env CMC_BIN="$TMPD/nonexistent" tcpserver -q -R -H -c 200 127.0.0.1 "$PORT_N" "$BIN/smtp-recv" 2>>"$TMPD/smtpd.log"
wait_port "$PORT" && wait_port "$PORT_E" && wait_port "$PORT_N" \
  || { echo "Bail out! smtp-recv did not start"; exit 1; }

$PY - "$PORT" "$PORT_E" "$PORT_N" <<'PYEOF'
import smtplib, sys
port, port_e, port_n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
n = failed = 0
def ok(c, name):
    global n, failed
    n += 1
    print("%s %d - %s" % ("ok" if c else "not ok", n, name)); sys.stdout.flush()
    if not c: failed = 1
    return c
def is_(got, want, name):
    if not ok(got == want, name): print("#   got %r\n#   want %r" % (got, want))

def send(s, subject, extra=b""):
    s.mail("a@b.test"); s.rcpt("c@d.test")
    c, m = s.docmd("DATA")
    if c != 354: return (c, m)
    s.send(b"Subject: " + subject + b"\r\n\r\n" + extra + b"hi\r\n.\r\n")
    return s.getreply()

s = smtplib.SMTP("127.0.0.1", port, timeout=10); s.ehlo("client.test")
is_(send(s, b"exit100"), (554, b"5.6.0 Message refused"), "queue-inject exit 100: 554 5.6.0")
is_(send(s, b"exit111"), (451, b"4.3.0 Temporary failure, try again"), "queue-inject exit 111: 451 4.3.0")
is_(send(s, b"crash")[0], 451, "queue-inject killed: 451")
is_(send(s, b"noid")[0], 451, "queue-inject exit 0 without an id: 451")
is_(s.noop()[0], 250, "the session goes on")
s.quit()
s = smtplib.SMTP("127.0.0.1", port_e, timeout=10); s.ehlo("client.test")
is_(send(s, b"big", (b"x" * 998 + b"\r\n") * 100)[0], 451, "queue-inject gone before the message was read: 451")
is_(s.noop()[0], 250, "the session goes on")
s.quit()
s = smtplib.SMTP("127.0.0.1", port_n, timeout=10); s.ehlo("client.test")
is_(send(s, b"x")[0], 451, "no queue-inject to run: 451")
s.quit()
print("1..%d" % n)
sys.exit(failed)
PYEOF
