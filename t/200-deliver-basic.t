#!/bin/sh
# deliver: mail queued while deliver is down goes out over one connection to
# the MX host once it starts; the receiving server gets each message byte
# for byte (dot lines, 8-bit body, long and folded header lines, 10 MB);
# events record queued and succeeded with the remote host and its reply;
# the spool is empty afterwards; SIGTERM ends deliver with exit 0.
. "${0%/*}/lib.sh"
plan 21

mkhome
cmcctl tenant add acme >/dev/null || exit 1
start_dns --mx-host=a.test,mx1.a.test,10 --host-record=mx1.a.test,127.0.0.2
start_sink "$TMPD/s1" 127.0.0.2
export CMC_REMOTE_PORT=$SINK_PORT CMC_HOSTNAME=relay.test
SPOOL=$CMC_HOME/spool

# Messages already in CRLF with Date and Message-ID: queue-inject stores
# them unchanged, so what the sink receives must be these bytes exactly.
$PY - "$TMPD" <<'PYEOF'
import sys
d = sys.argv[1]
hdr = lambda mid: b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <%s@test>\r\nFrom: Sender <s@example.com>\r\n" % mid
long_folded = b"X-Long: " + b"\r\n ".join([b"w" * 70] * 60) + b"\r\n"
long_line = b"X-Line: " + b"y" * 980 + b"\r\n"
body = (b".\r\n..\r\n.leading dot\r\nmiddle . dot\r\n. \r\n"
        + "日本語のテキスト\r\n".encode() + b"\xff\xfe raw 8-bit\r\n" + b"last line without dot\r\n")
open(d + "/m1", "wb").write(hdr(b"m1") + b"Subject: =?UTF-8?B?5pel5pys6Kqe?= test\r\n" + long_folded + long_line + b"\r\n" + body)
line = b"0123456789" * 7 + b"abcd\r\n"
big = hdr(b"m2") + b"Subject: big\r\n\r\n" + line * (10 * 1024 * 1024 // len(line)) + b".\r\n.end\r\n"
open(d + "/m2", "wb").write(big)
open(d + "/m3", "wb").write(hdr(b"m3") + b"Subject: two\r\n\r\nfor two\r\n")
PYEOF
id1=$(queue-inject -t acme -f s@example.com r1@a.test <"$TMPD/m1")
id2=$(queue-inject -t acme -f s@example.com r2@a.test <"$TMPD/m2")
id3=$(queue-inject -t acme -f '' r3@a.test R4@A.test <"$TMPD/m3")
[ -n "$id1" ] && [ -n "$id2" ] && [ -n "$id3" ]
ok $? "three messages queued while deliver is not running"

bg deliver 2>"$TMPD/deliver.err"
dpid=$!
spool_empty() { [ -z "$(ls -A "$SPOOL/new")$(ls -A "$SPOOL/queue")" ]; }
wait_for 30 spool_empty
ok $? "the spool is empty once every recipient succeeded"
is "$(ls "$TMPD/s1/new" | wc -l)" 4 "the sink has four copies (one per recipient)"
is "$(grep -c '^conn ' "$TMPD/s1/log")" 1 "all three went over one connection"
is "$(grep -c '^msg ' "$TMPD/s1/log")" 4 "four transactions on it: one per recipient"

# find the sink's copy by Message-ID
got() { grep -l "^Message-ID: <$1@test>" "$TMPD"/s1/new/* | head -1; }
cmp -s "$TMPD/m1" "$(got m1)"
ok $? "dot lines, 8-bit body, long folded and long single header lines arrive byte for byte"
cmp -s "$TMPD/m2" "$(got m2)"
ok $? "the 10 MB message arrives byte for byte"
cmp -s "$TMPD/m3" "$(got m3)"
ok $? "the null-sender message arrives byte for byte"
envs=$(for f in $(grep -l "^Message-ID: <m3@test>" "$TMPD"/s1/new/*); do cat "$TMPD/s1/env/$(basename "$f")"; done | grep -E '^(MAIL|RCPT)' | sort | tr '\n' ' ')
is "$envs" "MAIL FROM:<> MAIL FROM:<> RCPT TO:<R4@A.test> RCPT TO:<r3@a.test> " "each recipient in a transaction of its own, null sender kept (no VERP)"
like "$(cat "$TMPD/s1/env/$(basename "$(got m1)")")" "*helo relay.test*" "EHLO name from CMC_HOSTNAME"

ev() { cmcctl events acme "$1" | cut -f2-6; }
e1=$(ev "$id1")
like "$e1" "queued	0	r1@a.test		
succeeded	0	r1@a.test	mx1.a.test \\[127.0.0.2]	250 2.0.0 ok *" "events of m1: queued, then succeeded at mx1.a.test [127.0.0.2]"
is "$(ev "$id3" | cut -f1 | sort | uniq -c | tr -s ' ' | tr '\n' ',')" " 2 queued, 2 succeeded," "two queued and two succeeded events for two recipients"
is "$(cmcctl events acme "$id2" | wc -l)" 2 "no other events"
like "$(cat "$TMPD/deliver.err")" "*delivery id=$id1 rcpt=r1@a.test result=K relay=\"mx1.a.test \\[127.0.0.2]\" reply=\"250 *" "delivery event on stderr"

# the queued event's time is the accept time from the envelope
t_q=$(cmcctl events acme "$id2" | head -1 | cut -f1)
like "$t_q" "20[0-9][0-9]-*" "queued event has a time"

# a message injected while deliver runs goes out at once (trigger)
id4=$(printf 'Subject: now\n\nbody\n' | queue-inject -t acme -f s@example.com r5@a.test)
wait_for 30 sh -c "cmcctl events acme $id4 | grep -q succeeded"
ok $? "a message injected while deliver runs is delivered"
is "$(grep -c '^conn ' "$TMPD/s1/log")" 2 "over a new connection"
wait_for 30 spool_empty
ok $? "and leaves the spool"

kill -TERM "$dpid"
wait "$dpid"
is "$?" 0 "SIGTERM: deliver exits 0"
like "$(tail -1 "$TMPD/deliver.err")" "*stop*" "and says so"
grep -q 'fatal\|warning' "$TMPD/deliver.err"
ok $((!$?)) "no warnings"
exit $failed
