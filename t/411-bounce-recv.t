#!/bin/sh
# The receiving server (smtp-recv -m) and late bounces (doc/bounces.md):
# it takes mail only for bounce domains (554 relay denied for others, 550
# for local parts that are neither VERP addresses nor postmaster, abuse,
# unsubscribe), offers no AUTH; deliver reads what it took: a DSN or a
# free-form bounce to a VERP address fails the original recipient with the
# bounce's status after it had succeeded (once, however often the bounce
# comes), and status 2 puts it on the suppression list.  Forged (bad MAC,
# another message's MAC, unknown message or tenant) and malformed mail
# (truncated MIME, 10 MB of garbage, message/rfc822 nested 30 deep) is kept
# in spool/unmatched/; auto-replies and delay notices change nothing;
# mail to unsubscribe@ with a genuine token (the List-Unsubscribe mailto)
# puts the recipient on the unsubscribe list; nothing crashes and bounce/
# empties.
. "${0%/*}/lib.sh"
plan 32

mkhome
export CMC_HOSTNAME=relay.test
cmcctl tenant add acme >/dev/null && cmcctl tenant add beta >/dev/null || exit 1
cmcctl set beta bounce_domain bounces.beta.test || exit 1
start_dns --mx-host=a.test,mx.a.test,10 --host-record=mx.a.test,127.0.0.2
start_sink "$TMPD/a" 127.0.0.2
export CMC_REMOTE_PORT=$SINK_PORT
MX=$(free_port)
bg tcpserver -q -R -H -c 50 127.0.0.1 "$MX" "$BIN/smtp-recv" -m 2>"$TMPD/mx.log"
UNSUB_SECRET=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
echo "$UNSUB_SECRET" >"$CMC_HOME/etc/unsubscribe-secret"
bg deliver 2>"$TMPD/deliver.err"
dpid=$!
wait_port "$MX" || { echo "Bail out! smtp-recv -m did not start"; exit 1; }

msg() { printf 'From: s@shop.test\nMessage-ID: <%s@shop.test>\nSubject: %s\n\nbody\n' "$1" "$1"; }
id=$(msg m1 | queue-inject -t acme -f s@shop.test u1@a.test U2@a.test)
idb=$(msg m2 | queue-inject -t beta -f s@shop.test ub@a.test)
ev() { cmcctl events "$1" "$2" | cut -f2-4; }
two() { [ "$(ev acme "$id" | grep -c succeeded)" = 2 ] && ev beta "$idb" | grep -q succeeded; }
wait_for 30 two
ok $? "delivered first"
verp() { grep -h "^MAIL FROM" $(grep -l "^RCPT TO:<$1>" "$TMPD"/a/env/*) | sed 's/^MAIL FROM:<\(.*\)>.*/\1/'; }
V1=$(verp u1@a.test); V2=$(verp U2@a.test); VB=$(verp ub@a.test)
like "$V1 $VB" "b-*@return.acme.relay.test b-*@bounces.beta.test" "VERP senders on each tenant's bounce domain"
# V2 with the MAC of another recipient: a forgery that names a real message
VF=$(echo "$V2" | sed 's/-\([a-z2-7]\{12\}\)@/-aaaaaaaaaaaa@/')
VX=$(echo "$V1" | sed 's/^b-[0-9a-f]*-/b-0000000000000000000000001-/')

$PY - "$MX" "$V1" "$VB" "$VF" "$VX" "$V2" "$UNSUB_SECRET" <<'PYEOF'
import smtplib, sys, os, hmac, hashlib, base64
port = int(sys.argv[1]); v1, vb, vf, vx, v2, usecret = sys.argv[2:8]
n = 2; failed = 0
def ok(c, name):
    global n, failed
    n += 1
    print("%s %d - %s" % ("ok" if c else "not ok", n, name)); sys.stdout.flush()
    if not c: failed = 1
def dsn(rcpt, final, status, diag, action="failed"):
    return ("From: MAILER-DAEMON@mx.a.test (Mail Delivery System)\r\nTo: %s\r\n"
            "Subject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;\r\n"
            " boundary=\"B1\"\r\n\r\n--B1\r\nContent-Type: text/plain\r\n\r\n"
            "This is the mail system at host mx.a.test.\r\n\r\n<%s>: %s\r\n\r\n"
            "--B1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.a.test\r\n\r\n"
            "Final-Recipient: rfc822; %s\r\nOriginal-Recipient: rfc822;%s\r\nAction: %s\r\n"
            "Status: %s\r\nRemote-MTA: dns; mx.a.test\r\nDiagnostic-Code: smtp; %s\r\n\r\n"
            "--B1\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: s@shop.test\r\nSubject: m1\r\n\r\n--B1--\r\n"
            % (rcpt, final, diag, final, final, action, status, diag))
def send(to, data, frm=""):
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    try:
        s.ehlo("mx.a.test")
        code, _ = s.mail(frm)
        code, resp = s.rcpt(to)
        if code != 250: return code
        code, resp = s.data(data)
        return code
    finally:
        try: s.quit()
        except Exception: pass

s = smtplib.SMTP("127.0.0.1", port, timeout=30)
s.ehlo("mx.a.test")
ok(not s.has_extn("auth"), "no AUTH offered")
code, _ = s.docmd("AUTH", "PLAIN AGRlbW8AZGVtbw==")
ok(code == 503, "AUTH refused (503)")
s.mail("")
code, resp = s.rcpt("someone@a.test")
ok(code == 554 and b"Relay access denied" in resp, "another domain: 554 relay access denied")
code, resp = s.rcpt("someone@return.acme.relay.test")
ok(code == 550 and b"5.1.1" in resp, "a bounce domain, a local part that is no VERP address: 550 5.1.1")
code, _ = s.rcpt("Postmaster@RETURN.ACME.relay.test")
ok(code == 250, "postmaster of a bounce domain is taken")
s.quit()

# Postfix-style DSN, user unknown, twice (the second changes nothing)
d1 = dsn(v1, "u1@a.test", "5.1.1", "550 5.1.1 <u1@a.test>: Recipient address rejected: User unknown in local recipient table")
ok(send(v1, d1) == 250 and send(v1.upper(), d1) == 250, "a DSN to the VERP address (and again, upper-cased) is taken")
# free-form (qmail-style) bounce, mailbox full, to beta's domain
q = ("From: MAILER-DAEMON@mx.a.test\r\nTo: %s\r\nSubject: failure notice\r\n\r\n"
     "Hi. This is the qmail-send program at mx.a.test.\r\n"
     "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
     "This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
     "<ub@a.test>:\r\n192.0.2.7 does not like recipient.\r\n"
     "Remote host said: 552 5.2.2 Mailbox full: quota exceeded\r\nGiving up on 192.0.2.7.\r\n\r\n"
     "--- Below this line is a copy of the message.\r\n\r\nSubject: m2\r\n\r\nbody\r\n") % vb
ok(send(vb, q) == 250, "a qmail bounce to beta's bounce domain is taken")
# forgeries and junk: all taken, none may fail anybody
ok(send(vf, dsn(vf, "U2@a.test", "5.1.1", "550 5.1.1 user unknown")) == 250, "bad MAC: taken (kept for inspection)")
ok(send(vx, dsn(vx, "u1@a.test", "5.1.1", "550 5.1.1 user unknown")) == 250, "unknown message: taken")
nt = v1.replace("return.acme.", "return.nosuch.")
ok(send(nt, dsn(nt, "u1@a.test", "5.1.1", "550 5.1.1 user unknown")) == 250, "unknown tenant's domain: taken")
ok(send("postmaster@return.acme.relay.test", "Subject: hello\r\n\r\npostmaster mail\r\n", "x@y.test") == 250,
   "postmaster mail: taken")
vac = ("From: u2@a.test\r\nTo: %s\r\nSubject: Out of office: m1\r\nAuto-Submitted: auto-replied\r\n\r\n"
       "I am away until Monday.\r\n") % v2
dly = dsn(v2, "U2@a.test", "4.4.1", "451 4.4.1 connection timed out", action="delayed")
ok(send(v2, vac) == 250 and send(v2, dly) == 250, "an auto-reply and a delay notice: taken")
trunc = ("From: MAILER-DAEMON@mx.a.test\r\nSubject: Undeliverable\r\nMIME-Version: 1.0\r\n"
         "Content-Type: multipart/report; report-type=delivery-status; boundary=\"X\r\n\r\n"
         "--X\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\nRmluYWwtUmVj")
ok(send(v2, trunc) == 250, "truncated MIME: taken")
garbage = os.urandom(10 * 1024 * 1024).replace(b"\r", b"x").replace(b"\n", b"\r\n")
garbage = b"\r\n".join(l[:900] for l in garbage.split(b"\r\n"))
ok(send(v2, b"Subject: junk\r\n\r\n" + garbage) == 250, "10 MB of garbage: taken")
nest = "Subject: nested\r\nContent-Type: message/rfc822\r\n\r\n" * 30 + "Subject: core\r\n\r\nx\r\n"
nest = dsn(v2, "U2@a.test", "5.1.1", "550 5.1.1 user unknown").replace(
    "--B1--", "--B1\r\nContent-Type: message/rfc822\r\n\r\n" + nest + "\r\n--B1--")
nest_forged = nest.replace(v2, vf)
ok(send(vf, nest_forged) == 250, "message/rfc822 nested 30 deep, to a forged address: taken")
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
payload = b"acme\ndefault\nnews\nU2@a.test"
mac = hmac.new(bytes.fromhex(usecret), b"cmc-unsub1\0" + payload, hashlib.sha256).digest()[:16]
tok = b64(payload) + "." + b64(mac)
ok(send("unsubscribe@return.acme.relay.test", "From: U2@a.test\r\nSubject: unsubscribe %s\r\n\r\n\r\n" % tok,
        "U2@a.test") == 250, "unsubscribe mail with a token: taken")
bad = b64(payload.replace(b"U2@", b"U3@")) + "." + b64(mac)
ok(send("unsubscribe@return.acme.relay.test", "Subject: %s\r\n\r\n\r\n" % bad, "x@a.test") == 250,
   "unsubscribe mail with a forged token: taken")
sys.exit(failed)
PYEOF
[ $? = 0 ] || failed=1
n=19

# deliver's side
has() { ev "$1" "$2" | grep -q "$3"; }
wait_for 30 has acme "$id" "failed	2	u1@a.test"
like "$(ev acme "$id" | grep u1@a.test | cut -f1 | tr '\n' ' ')" "queued succeeded failed " \
  "u1: queued, succeeded, then failed (the late bounce)"
like "$(cmcctl events acme "$id" | grep 'failed	2' | cut -f6)" "550 5.1.1 <u1@a.test>: Recipient address rejected*" \
  "with the diagnostic of the DSN"
like "$(cmcctl suppress list acme)" "default	u1@a.test	2	1	*" "status 2: u1 is on the suppression list"
wait_for 30 has beta "$idb" "failed	5	ub@a.test"
ok $? "ub: the qmail bounce gives status 5 (mailbox full)"
is "$(cmcctl suppress list beta)" "" "status 5 does not suppress (default suppress_statuses 2)"
empty() { [ -z "$(ls -A "$CMC_HOME/spool/bounce")" ] && [ -z "$(ls -A "$CMC_HOME/spool/new")" ]; }
wait_for 60 empty
ok $? "bounce/ empties"
is "$(ev acme "$id" | grep -c 'failed	2	u1@a.test')" 1 "the second copy of the bounce records nothing more"
is "$(ev acme "$id" | grep -ci 'failed.*u2@a.test')" 0 "no forged or malformed mail failed U2"
is "$(ls "$CMC_HOME/spool/unmatched" | wc -l | tr -d ' ')" 8 \
  "unmatched/ keeps: bad MAC, unknown message, unknown tenant, postmaster, truncated, garbage, nested, forged token"
like "$(cmcctl unsubscribed list acme | cut -f1-3)" "default	U2@a.test	news" "the genuine token put U2 on the unsubscribe list of filter news"
grep -q 'result=ignored why=auto-reply' "$TMPD/deliver.err" && grep -q 'result=ignored why=delayed' "$TMPD/deliver.err"
ok $? "the auto-reply and the delay notice are ignored (logged)"
kill -0 "$dpid"
ok $? "deliver still runs"
grep -q 'fatal\|signal' "$TMPD/deliver.err" "$TMPD/mx.log"
ok $((!$?)) "no fatal errors"
exit $failed
