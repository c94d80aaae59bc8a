#!/bin/sh
# Suppression (配信停止) and unsubscribe lists: cmcctl adds, lists,
# searches, releases; deliver checks both lists at pickup: a suppressed
# recipient fails with status 10, an unsubscribed one with 11, at once,
# and neither ever reaches the destination server (a message whose
# recipients are all blocked leaves the spool without a connection).
# Comparison ignores case; lists are per composition.  A failure with
# status 2 puts the address on the list (suppress_auto=off stops that,
# suppress_statuses chooses the statuses); a released address gets mail
# again.
. "${0%/*}/lib.sh"
plan 26

mkhome
for t in acme beta gamma; do cmcctl tenant add $t >/dev/null || exit 1; done
cmcctl set beta suppress_auto off && cmcctl set gamma suppress_statuses 5,8 || exit 1
cmcctl set gamma suppress_statuses 'two' 2>/dev/null
is "$?" 100 "a malformed suppress_statuses is refused"

# the lists by hand
cmcctl suppress add acme S1@A.test && cmcctl suppress add acme -c other s2@a.test 2 \
  && cmcctl unsubscribed add acme U1@a.test && cmcctl unsubscribed add acme -f news u2@a.test
ok $? "added: suppressed S1, s2 (composition other), unsubscribed U1 (all mail), u2 (filter news)"
like "$(cmcctl suppress list acme)" "default	S1@A.test	10	1	20*Z	*
other	s2@a.test	2	1	20*Z	*" "suppress list: composition, address, status, occurrences, time, id"
is "$(cmcctl suppress list acme -c other | cut -f2)" "s2@a.test" "one composition"
is "$(cmcctl suppress search acme s1@ | cut -f2)" "S1@A.test" "search: part of the address, case ignored"
like "$(cmcctl unsubscribed list acme)" "default	U1@a.test		20*
default	u2@a.test	news	20*" "unsubscribe list: address, filter, time"
cmcctl suppress add acme 'not an address' 2>/dev/null
is "$?" 100 "a bad address is refused"
cmcctl suppress list nosuch >/dev/null 2>&1
is "$?" 100 "an unknown tenant is refused"

start_dns --mx-host=a.test,mx.a.test,10 --host-record=mx.a.test,127.0.0.2
start_sink "$TMPD/a" 127.0.0.2 -r 'nouser=550 5.1.1 <nouser@a.test>: Recipient address rejected: User unknown' \
  -r 'full=552 5.2.2 mailbox full' -r 's1=250 2.1.5 reached' -r 'u1=250 2.1.5 reached'
export CMC_REMOTE_PORT=$SINK_PORT
bg deliver 2>"$TMPD/deliver.err"
msg() { printf 'Subject: %s\n\nbody\n' "$1"; }
ev() { cmcctl events "$1" "$2" | cut -f2-4; }
has() { ev "$1" "$2" | grep -q "$3"; }
nfinal() { ev "$1" "$2" | grep -c 'succeeded\|failed'; }
done_n() { [ "$(nfinal "$1" "$2")" = "$3" ]; }

id=$(msg one | queue-inject -t acme -f s@shop.test s1@a.test u1@A.TEST s2@a.test u2@a.test ok@a.test nouser@a.test)
wait_for 30 done_n acme "$id" 6
ok $? "every recipient final"
is "$(ev acme "$id" | grep failed | sort)" "failed	10	s1@a.test
failed	11	u1@A.TEST
failed	2	nouser@a.test" "suppressed: 10, unsubscribed: 11 (case ignored); user unknown: 2"
like "$(cmcctl events acme "$id" | grep 'failed	10' | cut -f6)" "not sent: the address is on the suppression list" \
  "the reason is recorded"
like "$(ev acme "$id" | grep succeeded | sort | tr '\n' ' ')" "succeeded	0	ok@a.test succeeded	0	s2@a.test succeeded	0	u2@a.test " \
  "another composition's list and a filter's list (mail not of that filter) do not apply"
! grep -qi 'RCPT TO:<\(s1\|u1\)@a.test>' "$TMPD"/a/env/* && ! grep -q 'rcpt=s1@a.test result=[KZ]\|rcpt=u1@A.TEST result=[KZ]' "$TMPD/deliver.err"
ok $? "the blocked recipients never reached the server"
like "$(cmcctl suppress list acme -c default | cut -f2,3)" "*nouser@a.test	2*" "user unknown: added to the suppression list"

# all blocked: the message goes without a connection
conns=$(grep -c '^conn' "$TMPD/a/log")
id2=$(msg two | queue-inject -t acme -f s@shop.test NOUSER@a.test s1@a.test)
wait_for 30 done_n acme "$id2" 2
is "$(ev acme "$id2" | grep failed | cut -f1,2 | sort -u)" "failed	10" "the auto-added address is blocked next time (10)"
spool_clean() { [ -z "$(ls -A "$CMC_HOME/spool/queue")$(ls -A "$CMC_HOME/spool/new")" ]; }
wait_for 10 spool_clean
ok $? "a message with every recipient blocked leaves the spool"
is "$(grep -c '^conn' "$TMPD/a/log")" "$conns" "no connection was made for it"

# tenant settings
idb=$(msg three | queue-inject -t beta -f s@shop.test nouser@a.test)
idg=$(msg four | queue-inject -t gamma -f s@shop.test nouser@a.test full@a.test)
wait_for 30 done_n beta "$idb" 1
wait_for 30 done_n gamma "$idg" 2
is "$(cmcctl suppress list beta)" "" "suppress_auto=off: nothing added"
is "$(cmcctl suppress list gamma | cut -f2,3)" "full@a.test	5" "suppress_statuses=5,8: mailbox full added, user unknown not"
like "$(cmcctl suppress list gamma | cut -f4)" "1" "one occurrence"

# release
cmcctl suppress del acme s1@A.TEST
ok $? "released"
like "$(cmcctl suppress list acme -r | cut -f2,7)" "S1@A.test	20*Z" "kept as removed, with the time"
cmcctl unsubscribed del acme u1@a.test && cmcctl unsubscribed del acme -f news U2@A.TEST
ok $? "unsubscribe entries removed"
id3=$(msg five | queue-inject -t acme -f s@shop.test s1@a.test u1@a.test)
wait_for 30 done_n acme "$id3" 2
is "$(ev acme "$id3" | grep -c succeeded)" 2 "released addresses get mail again"
is "$(cmcctl unsubscribed list acme)" "" "the unsubscribe list is empty"
grep -q 'fatal' "$TMPD/deliver.err"
ok $((!$?)) "no fatal errors"
exit $failed
