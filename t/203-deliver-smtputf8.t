#!/bin/sh
# deliver: SMTPUTF8 mail.  To a server that offers SMTPUTF8 it goes with
# the SMTPUTF8 parameter, UTF-8 addresses as they are.  To one that does
# not (mail-sink -U) it goes as 8-bit if every address has an ASCII form
# (an IDN domain in its A-label form, looked up that way in DNS); a
# recipient with a UTF-8 local part fails with status 9, and so does every
# recipient when the sender's local part is UTF-8.
. "${0%/*}/lib.sh"
plan 14

mkhome
cmcctl tenant add acme >/dev/null || exit 1
# the tenant's own senders in MAIL FROM (no VERP), so that UTF-8 senders are tried
cmcctl set acme verp off || exit 1
# bücher.test is xn--bcher-kva.test
start_dns --mx-host=u.test,mx.u.test,10 --host-record=mx.u.test,127.0.0.2 \
  --mx-host=xn--bcher-kva.test,mx.u.test,10 \
  --mx-host=y.test,mx.y.test,10 --host-record=mx.y.test,127.0.0.3
start_sink "$TMPD/noutf8" 127.0.0.2 -U
start_sink "$TMPD/utf8" 127.0.0.3
export CMC_REMOTE_PORT=$SINK_PORT CMC_RETRY_INTERVAL=60 CMC_RETRY_PERIOD=3600

# qmail-style injection with the envelope's smtputf8 option set, as
# smtp-recv does for MAIL FROM ... SMTPUTF8 (shell style sets it only for
# UTF-8 addresses).
inject_utf8() { $PY - "$@" <<'PYEOF'
import os, subprocess, sys
sender, rcpts = sys.argv[1], sys.argv[2:]
env = b"Tacme\0Cdefault\0Osmtputf8\0O8bitmime\0F" + sender.encode() + b"\0"
env += b"".join(b"R" + r.encode() + b"\0" for r in rcpts) + b"\0"
msg = "Subject: Grüße\r\nFrom: 差出人 <s@example.com>\r\n\r\nÜmläut body\r\n".encode()
mr, mw = os.pipe(); er, ew = os.pipe()
p = subprocess.Popen(["queue-inject"], stdin=mr, stdout=er)
os.close(mr); os.close(er)
os.write(mw, msg); os.close(mw)
os.write(ew, env); os.close(ew)
print(p.wait())
PYEOF
}
msg() { printf 'Subject: %s\n\n\303\234 body\n' "$1"; }
is "$(inject_utf8 s@example.com ascii@u.test)" 0 "queued an SMTPUTF8 message with ASCII addresses"
id_mix=$(msg mix | queue-inject -t acme -f s@example.com 'plain@u.test' '用户@u.test')
id_idn=$(msg idn | queue-inject -t acme -f s@example.com 'user@bücher.test')
id_snd=$(msg snd | queue-inject -t acme -f '送信者@example.com' 'x@u.test')
id_ok=$(msg ok | queue-inject -t acme -f '送信者@example.com' '用户@y.test' 'user@bücher.test')
[ -n "$id_mix" ] && [ -n "$id_idn" ] && [ -n "$id_snd" ] && [ -n "$id_ok" ]
ok $? "queued four more"

bg deliver 2>"$TMPD/deliver.err"
has() { cmcctl events acme "$1" | cut -f2-4 | grep -q "$2"; }
ev() { cmcctl events acme "$1" | cut -f2-4,6; }
spool_empty() { [ -z "$(ls -A "$CMC_HOME/spool/new")$(ls -A "$CMC_HOME/spool/queue")" ]; }
wait_for 30 spool_empty
ok $? "every recipient is final"

envs=$(cat "$TMPD"/noutf8/env/* 2>/dev/null)
like "$envs" "*RCPT TO:<ascii@u.test>*" "SMTPUTF8 mail with ASCII addresses goes to a server without SMTPUTF8"
like "$(ev "$id_mix")" "*succeeded	0	plain@u.test*" "the ASCII recipient of a mixed message succeeds"
like "$(ev "$id_mix")" "*failed	9	用户@u.test	SMTPUTF8 is required*" "the UTF-8 recipient fails with status 9"
like "$envs" "*RCPT TO:<user@xn--bcher-kva.test>*" "an IDN domain goes in A-label form"
like "$(ev "$id_idn")" "*succeeded	0	user@bücher.test*" "and succeeds (recorded under the address as given)"
like "$(ev "$id_snd")" "*failed	9	x@u.test	SMTPUTF8 is required for sender*" "a UTF-8 sender fails every recipient with status 9"
case $envs in *送信者*|*用户*) r=1;; *) r=0;; esac
ok $r "no UTF-8 address reached the server without SMTPUTF8"
okenv=$(cat "$TMPD"/utf8/env/* 2>/dev/null)
like "$okenv" "*MAIL FROM:<送信者@example.com>*RCPT TO:<用户@y.test>*" "to a server with SMTPUTF8 UTF-8 addresses go as they are"
like "$(ev "$id_ok")" "*succeeded	0	用户@y.test*" "and succeed"
like "$(ev "$id_ok")" "*failed	9	user@bücher.test*" "the same sender fails at the server without SMTPUTF8"
body=$(cat "$TMPD"/noutf8/new/* | grep -c 'Ümläut body')
is "$body" 1 "the 8-bit body arrived unchanged"
exit $failed
