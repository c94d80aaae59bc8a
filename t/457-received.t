#!/bin/sh
# Advanced settings, Received header mode per tenant composition (setting
# "received"), through the whole path: smtp-recv adds the abbreviated form
# (the default), the normal form or none, reading the mode from the access
# snapshot; with delete-all it adds none and deliver removes every
# Received field the application or its MTA added.  Mail that arrives at
# the destination is looked at.
. "${0%/*}/lib.sh"
plan 9
mkhome
C="$BIN/cmcctl"
export CMC_HOSTNAME=relay.test
for t in 2 3 4 5; do $C tenant add t$t >/dev/null && $C net add t$t 127.0.0.$t >/dev/null || exit 1; done
$C set t2 received normal && $C set t3 received none && $C set t4 received delete-all || exit 1
like "$(grep '^received' "$CMC_HOME/etc/access" | tr '\t\n' ' ;')" \
  "received t2 default normal;received t3 default none;received t4 default delete-all;" "the modes are in the access snapshot"
start_dns --mx-host=w.test,mx.w.test,10 --host-record=mx.w.test,127.0.0.1
PORT=$(free_port); SMTP=$(free_port)
export CMC_REMOTE_PORT=$PORT
bg $PY "$T/data/recsink.py" "$TMPD/rec.log" "$TMPD/msgs" "$PORT"
bg tcpserver -q -R -H -c 20 127.0.0.1 "$SMTP" "$BIN/smtp-recv" 2>"$TMPD/smtpd.log"
bg deliver 2>"$TMPD/deliver.err"
wait_port "$PORT" && wait_port "$SMTP" || { echo "Bail out! servers did not start"; exit 1; }

$PY - "$SMTP" <<'PYEOF' || exit 1
import smtplib, sys
port = int(sys.argv[1])
for t in (2, 3, 4, 5):
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="app.client.test", source_address=("127.0.0.%d" % t, 0))
    s.sendmail("app@client.test", ["u%d@w.test" % t],
               "Received: from app by internal-mta.client.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
               "Received: from localhost (localhost [10.1.2.3])\r\n\tby app.client.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
               "From: app@client.test\r\nX-Seq: t%d\r\nSubject: r\r\n\r\nReceived: in the body stays\r\n" % t)
    s.quit()
PYEOF
wait_for 30 sh -c "[ \$(grep -c '^msg ' '$TMPD/rec.log') -ge 4 ]"
ok $? "four messages delivered"
rcvd() { $PY - "$(grep -l "^X-Seq: $1" "$TMPD"/msgs/*.eml | head -1)" <<'PYEOF'
import sys, email
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
print("|".join(" ".join(v.split()) for v in (m.get_all("Received") or [])))
PYEOF
}
r5=$(rcvd t5); r2=$(rcvd t2); r3=$(rcvd t3); r4=$(rcvd t4)
like "$r5" "from app.client.test by relay.test; *|from app by internal-mta.client.test*|from localhost (localhost \\[10.1.2.3])*" \
  "default (abbreviated): ours without the client's address, the application's kept"
like "$r2" "from app.client.test (* \\[127.0.0.2]) by relay.test with ESMTP*|from app by*|from localhost*" \
  "normal: ours with the client's address"
like "$r3" "from app by internal-mta.client.test*|from localhost*" "none: we add none, the application's stay"
is "$(echo "$r3" | tr '|' '\n' | wc -l | tr -d ' ')" 2 "none: exactly the two of the application"
is "$r4" "" "delete-all: not one Received field arrives"
grep -q '^Received: in the body stays' "$(grep -l '^X-Seq: t4' "$TMPD"/msgs/*.eml)"; ok $? "delete-all leaves the body alone"
$C set t4 received abbreviated
like "$(grep '^received	t4' "$CMC_HOME/etc/access")" "*abbreviated" "a change reaches the snapshot at once"
exit $failed
