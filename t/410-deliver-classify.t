#!/bin/sh
# deliver: every 4xx/5xx reply is classified by the rules of
# templates/classify.  A destination server answering the replies real
# servers give (Postfix, Gmail, Exchange, RBL blocks...) makes each
# recipient end with its error status: user unknown 2, mailbox full 5,
# policy 4, relay denied 7, too large 8 (at RCPT and after the data), bad
# address 9, unknown 99; a 4xx stays deferred (its class logged) and ends
# with status 3 and the last reply when the retry period is over.
# VERP: MAIL FROM is b-ID-MAC@return.TENANT.HOSTNAME by default (lib/verp.h),
# the tenant's bounce_domain when set, the tenant's own sender with
# verp=off; each recipient gets a transaction of its own on one connection.
. "${0%/*}/lib.sh"
plan 23

mkhome
export CMC_HOSTNAME=relay.test
for t in acme beta gamma; do cmcctl tenant add $t >/dev/null || exit 1; done
cmcctl set beta bounce_domain Bounces.Beta.TEST && cmcctl set gamma verp off || exit 1
cmcctl set acme bounce_domain 'bad domain' 2>/dev/null
is "$?" 100 "a malformed bounce_domain is refused"
cmcctl set acme verp maybe 2>/dev/null
is "$?" 100 "verp is on or off"
start_dns --mx-host=a.test,mx.a.test,10 --host-record=mx.a.test,127.0.0.2
start_sink "$TMPD/a" 127.0.0.2 \
  -r 'nouser=550 5.1.1 <nouser@a.test>: Recipient address rejected: User unknown in virtual mailbox table' \
  -r "gone=550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos" \
  -r 'overq=552 5.2.2 <overq@a.test>: user is over quota' \
  -r 'content=550 5.7.1 Message rejected due to content restrictions' \
  -r 'rbl=554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org' \
  -r 'relay=554 5.7.1 <relay@a.test>: Relay access denied' \
  -r 'huge=552 5.3.4 Message size exceeds fixed limit' \
  -r 'bigdata=data 552 5.3.4 Message size exceeds fixed limit' \
  -r 'syntax=553 5.1.3 Bad recipient address syntax' \
  -r 'odd=550 5.0.0 something odd happened' \
  -r 'quota4=452 4.2.2 The email account that you tried to reach is over quota'
export CMC_REMOTE_PORT=$SINK_PORT CMC_RETRY_INTERVAL=1 CMC_RETRY_PERIOD=3

bg deliver 2>"$TMPD/deliver.err"
msg() { printf 'From: Shop <s@shop.test>\nSubject: %s\n\nbody\n' "$1"; }
id=$(msg all | queue-inject -t acme -f s@shop.test nouser@a.test gone@a.test overq@a.test \
  content@a.test rbl@a.test relay@a.test huge@a.test bigdata@a.test syntax@a.test odd@a.test \
  quota4@a.test ok1@a.test ok2@a.test)
idb=$(msg beta | queue-inject -t beta -f s@shop.test okb@a.test)
idg=$(msg gamma | queue-inject -t gamma -f s@shop.test okg@a.test)

final() { cmcctl events "$1" "$2" | cut -f2-4 | grep -c 'succeeded\|failed'; }
st() { cmcctl events acme "$id" | cut -f2-4 | grep "	$1\$" | grep 'failed\|succeeded' | tail -1 | cut -f1,2; }
wait_for 30 sh -c "[ \$(cmcctl events acme $id | cut -f2 | grep -c 'succeeded\|failed') -ge 12 ]"
is "$(st nouser@a.test)" "failed	2" "Postfix 'User unknown in virtual mailbox table': 2"
is "$(st gone@a.test)" "failed	2" "Gmail 'account does not exist': 2"
is "$(st overq@a.test)" "failed	5" "'user is over quota': 5"
is "$(st content@a.test)" "failed	4" "content restrictions: 4"
is "$(st rbl@a.test)" "failed	4" "RBL block: 4"
is "$(st relay@a.test)" "failed	7" "relay access denied at the recipient's server: 7"
is "$(st huge@a.test)" "failed	8" "message too large at RCPT: 8"
is "$(st bigdata@a.test)" "failed	8" "message too large after the data: 8"
is "$(st syntax@a.test)" "failed	9" "bad address syntax: 9"
is "$(st odd@a.test)" "failed	99" "an unknown permanent failure: 99, not a guess"
is "$(st ok1@a.test)$(st ok2@a.test)" "succeeded	0succeeded	0" "the others succeed"
like "$(cmcctl events acme "$id" | grep 'failed	2	gone@a.test' | cut -f6)" \
  "550 5.1.1 The email account that you tried to reach does not exist.*" "the reply is kept with the failure"
wait_for 30 sh -c "cmcctl events acme $id | grep -q 'failed	3	quota4@a.test'"
like "$(cmcctl events acme "$id" | grep 'quota4@a.test' | cut -f2,3,6 | tail -1)" \
  "failed	3	452 4.2.2 The email account that you tried to reach is over quota*" \
  "4xx: deferred, then status 3 with the last reply when the retry period ends"
grep -q "rcpt=quota4@a.test result=[ZD].*class=5" "$TMPD/deliver.err"
ok $? "the deferral's class (5, mailbox full) is in the log"

# VERP and transactions, as the sink saw them
both_final() { [ "$(final beta "$idb")" = 1 ] && [ "$(final gamma "$idg")" = 1 ]; }
wait_for 30 both_final
lid=$(echo "$id" | tr 'A-F' 'a-f')
froms=$(grep -h '^MAIL FROM' "$TMPD"/a/env/* | sort -u)
like "$(echo "$froms" | grep -c "^MAIL FROM:<b-$lid-[a-z2-7]\{12\}@return.acme.relay.test>")" "[1-9]*" \
  "default: VERP on return.TENANT.HOSTNAME, the id in lower case"
[ "$(grep -h "^MAIL FROM:<b-$lid-" "$TMPD"/a/env/* | sort -u | wc -l)" -eq 2 ]
ok $? "one VERP address per recipient (two stored copies, two addresses)"
like "$(echo "$froms" | grep "bounces.beta.test")" "MAIL FROM:<b-*-*@bounces.beta.test>" \
  "bounce_domain setting: on that domain (lower case)"
like "$froms" "*MAIL FROM:<s@shop.test>*" "verp off: the tenant's sender"
is "$(grep -c '^msg .*rcpts=1' "$TMPD/a/log")" "$(grep -c '^msg ' "$TMPD/a/log")" \
  "every transaction has one recipient"
got=$(grep -l '^Subject: all' "$TMPD"/a/new/* | head -1)
grep -q '^From: Shop <s@shop.test>' "$got"
ok $? "the From header is untouched"
grep -q 'fatal' "$TMPD/deliver.err"
ok $((!$?)) "no fatal errors"
[ "$failed" = 0 ] || { echo "# deliver.err, last lines:"; tail -n 15 "$TMPD/deliver.err" | sed "s/^/# /"; } >&2
exit $failed
