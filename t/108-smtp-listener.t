#!/bin/sh
# smtp-recv -l ADDR:PORT, its own pre-forked listener, with queue-inject -d:
# many sessions per child, messages handed over the inject socket, 421 when
# every child is busy (and service again once one is free), a change of the
# access snapshot seen by the running children, a child killed with SIGKILL
# after its 250 loses nothing, STARTTLS and AUTH in consecutive sessions of
# one child (the TLS context is kept, the session state is not), the
# fall-back to running queue-inject when the server is not there, and
# SIGTERM stopping the listener with its children.
. "${0%/*}/lib.sh"
plan 24
mkhome
{ cmcctl tenant add t1 && cmcctl net add t1 127.0.0.1 && cmcctl tenant add t2 \
  && echo 'pw-of-u1' | cmcctl user add t2 u1; } >/dev/null \
  || { echo "Bail out! cmcctl failed"; exit 1; }
CMC_HOSTNAME=mx.test; export CMC_HOSTNAME
PORT=$(free_port); PORT_S=$(free_port); PORT_1=$(free_port)
bg queue-inject -d 2>"$TMPD/inject.log"
wait_for 10 test -S "$CMC_HOME/run/inject.sock" || { echo "Bail out! queue-inject -d did not start"; exit 1; }
bg env CMC_INJECT=socket smtp-recv -l "127.0.0.1:$PORT" 2>"$TMPD/smtpd.log"
LISTENER=$!
bg env CMC_SMTP_MAXSESSIONS=2 smtp-recv -l "127.0.0.1:$PORT_S" 2>"$TMPD/smtpd-s.log"
bg env CMC_SMTP_MAXSESSIONS=1 smtp-recv -l "127.0.0.1:$PORT_1" 2>"$TMPD/smtpd-1.log"
wait_port "$PORT" && wait_port "$PORT_S" && wait_port "$PORT_1" || { echo "Bail out! smtp-recv -l did not start"; exit 1; }

cat >"$TMPD/c.py" <<'PYEOF'
import os, smtplib, socket, ssl, sys
port = int(sys.argv[1]); what = sys.argv[2]
def send(s, subj):
    s.ehlo("client.test")
    s.mail("a@b.test")
    c, m = s.rcpt("c@d.test")
    if c != 250: return "rcpt %d" % c
    try: c, m = s.data(b"Subject: " + subj.encode() + b"\r\n\r\nbody of " + subj.encode() + b"\r\n")
    except smtplib.SMTPResponseException as e: c, m = e.smtp_code, e.smtp_error
    return "%d %s" % (c, m.decode())
if what == "plain":                 # one session, one message
    s = smtplib.SMTP("127.0.0.1", port, timeout=10)
    print(send(s, sys.argv[3])); s.quit()
elif what == "many":                # N sessions one after the other
    for i in range(int(sys.argv[3])):
        s = smtplib.SMTP("127.0.0.1", port, timeout=10)
        print(send(s, "m%d" % i)); s.quit()
elif what == "rcpt":                # the reply to RCPT only
    s = smtplib.SMTP("127.0.0.1", port, timeout=10); s.ehlo("client.test"); s.mail("a@b.test")
    print(s.rcpt("c@d.test")[0]); s.quit()
elif what == "tls":                 # STARTTLS, AUTH as u1 of t2, a message
    s = smtplib.SMTP("127.0.0.1", port, timeout=10); s.ehlo("client.test")
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    s.starttls(context=ctx); s.ehlo("client.test")
    try: s.login("u1", "pw-of-u1"); a = "auth ok"
    except smtplib.SMTPException as e: a = "auth failed %s" % e
    print(a + "; " + send(s, sys.argv[3])); s.quit()
elif what == "greeting":            # the first reply only; keep the session if asked
    s = socket.create_connection(("127.0.0.1", port), 10)
    print(s.makefile("rb").readline().decode().strip())
PYEOF
c() { $PY "$TMPD/c.py" "$@"; }
pids_of() { sed -n "s/^smtp-recv: $1 .* pid=\([0-9]*\)$/\1/p" "$TMPD/smtpd.log"; }

# --- many sessions per child, over the inject socket ----------------------
c "$PORT" many 20 >"$TMPD/replies"
is "$(grep -c '^250 2.0.0 Ok: queued as ' "$TMPD/replies")" 20 "20 sessions one after the other: 20 messages accepted"
nchild=$(pids_of conn | sort -u | wc -l)
[ "$nchild" -ge 1 ] && [ "$nchild" -le 5 ]
ok $? "served by few children ($nchild for 20 sessions)"
is "$(ls "$CMC_HOME/spool/new" | wc -l)" 20 "the 20 messages are in new/"
commits=$(sed -n 's/.*commit msgs=\([0-9]*\)$/\1/p' "$TMPD/inject.log" | awk '{t += $1} END {print t}')
is "$commits" 20 "they went through queue-inject -d (its commits count 20)"
id=$(sed -n 's/.*queued as \([0-9A-F]*\).*/\1/p' "$TMPD/replies" | tail -1)
grep -q "Subject: m19" "$CMC_HOME/spool/new/$id"
ok $? "the last id names the last message"
is "$(grep -c '^smtp-recv: end reason=quit msgs=1 ' "$TMPD/smtpd.log")" 20 "each session ends on its own with its own count"

# --- the access snapshot changes under running children -------------------
# A listener of one child: the same process sees the three snapshots.
is "$(c "$PORT_1" rcpt)" 250 "(one child) relay for 127.0.0.1: 250"
cmcctl net del t1 127.0.0.1 >/dev/null
is "$(c "$PORT_1" rcpt)" 554 "after cmcctl net del, the next session may not relay: 554"
cmcctl net add t1 127.0.0.1 >/dev/null
is "$(c "$PORT_1" rcpt)" 250 "after cmcctl net add, the next session relays again"
is "$(sed -n 's/^smtp-recv: conn .* pid=\([0-9]*\)$/\1/p' "$TMPD/smtpd-1.log" | sort -u | wc -l)" 1 \
  "... all three served by one child: no restart"

# --- STARTTLS and AUTH in consecutive sessions ------------------------------
t1=$(c "$PORT" tls tls1); t2=$(c "$PORT" tls tls2)
like "$t1" "auth ok; 250 *" "STARTTLS, AUTH and a message in one session"
like "$t2" "auth ok; 250 *" "... and again in the next session"
tlspids=$(pids_of tls | sort | uniq -c | sort -rn | head -1 | awk '{print $1}')
diag "most TLS sessions in one child: $tlspids"
grep -q "^smtp-recv: accepted id=.* tenant=t2 comp=default ip=127.0.0.1 user=u1 " "$TMPD/smtpd.log"
ok $? "the authenticated messages are t2's"
like "$(c "$PORT" plain after-tls)" "250 *" "a clear session after TLS sessions: nothing learnt is kept"
last=$(sed -n 's/^smtp-recv: accepted .* user=\([^ ]*\) .*/\1/p' "$TMPD/smtpd.log" | tail -1)
is "$last" "" "... it is not authenticated (user= empty)"

# --- a child killed after its 250 --------------------------------------------
$PY - "$PORT" "$TMPD" <<'PYEOF' >"$TMPD/kill.out"
import os, re, signal, smtplib, sys, time
port, tmpd = int(sys.argv[1]), sys.argv[2]
s = smtplib.SMTP("127.0.0.1", port, timeout=10); s.ehlo("client.test"); s.mail("a@b.test"); s.rcpt("c@d.test")
c, m = s.data(b"Subject: killed\r\n\r\nthe child of this session is killed after the 250\r\n")
qid = m.decode().split()[-1]
pid = None
for l in open(tmpd + "/smtpd.log"):
    if "accepted id=" + qid in l: pid = int(re.search(r"pid=(\d+)", l).group(1))
os.kill(pid, signal.SIGKILL)
try: s.noop(); alive = "alive"
except Exception: alive = "dead"
print(c, qid, alive)
PYEOF
read code qid alive <"$TMPD/kill.out"
is "$code $alive" "250 dead" "the child is killed after it answered 250"
grep -q "the child of this session is killed" "$CMC_HOME/spool/new/$qid"
ok $? "the message it accepted is in new/ ($qid)"
like "$(c "$PORT" plain after-kill)" "250 *" "the listener serves on (a new child)"

# --- 421 when every child is busy ---------------------------------------------
$PY - "$PORT_S" <<'PYEOF' >"$TMPD/busy.out"
import socket, sys, time
port = int(sys.argv[1])
held = []
for i in range(2):
    s = socket.create_connection(("127.0.0.1", port), 10); f = s.makefile("rb")
    held.append((s, f.readline().decode().strip()))
s = socket.create_connection(("127.0.0.1", port), 10)
third = s.makefile("rb").readline().decode().strip()
held[0][0].sendall(b"QUIT\r\n"); held[0][0].makefile("rb").readline(); held[0][0].close()
# Once the child is idle again a new session is served.
for i in range(100):
    s = socket.create_connection(("127.0.0.1", port), 10)
    fourth = s.makefile("rb").readline().decode().strip()
    s.close()
    if fourth.startswith("220"): break
    time.sleep(0.05)
print("%s|%s|%s|%s" % (held[0][1][:3], held[1][1][:3], third, fourth[:3]))
PYEOF
IFS='|' read g1 g2 third fourth <"$TMPD/busy.out"
is "$g1 $g2" "220 220" "CMC_SMTP_MAXSESSIONS=2: two sessions are served"
is "$third" "421 4.7.0 Too many sessions, try later" "a third one gets 421 4.7.0 from the listener"
is "$fourth" 220 "once a session ends, a new one is served"

# --- the inject server gone -------------------------------------------------------
kill -TERM "$(pgrep -f 'queue-inject -d' -P $$ | head -1)" 2>/dev/null
wait_for 10 sh -c "! test -S '$CMC_HOME/run/inject.sock'"
like "$(c "$PORT" plain no-server)" "451 *" "CMC_INJECT=socket and no server: 451, never 250"
like "$(c "$PORT_S" plain by-exec)" "250 *" "by default, no server: queue-inject is run for the message"

kill -TERM "$LISTENER"
gone() { ! kill -0 "$LISTENER" 2>/dev/null && ! port_open 127.0.0.1 "$PORT"; }
wait_for 10 gone
ok $? "SIGTERM stops the listener and its children (the port is closed)"
exit $failed
