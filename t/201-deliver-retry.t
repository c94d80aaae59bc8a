#!/bin/sh
# deliver: per-recipient outcomes.  5xx at RCPT or after DATA fails the
# recipient with the status the classification rules give (2 user unknown,
# 5 mailbox full, 99 unknown); 4xx at RCPT or after DATA and a dropped connection
# defer it and it is retried on the schedule until the retry period ends,
# then it fails with status 3 and the last reply; a recipient deferred once
# succeeds when the server later takes it; the tenant's retry settings beat
# the defaults; a message stays in queue/ until every recipient is final.
. "${0%/*}/lib.sh"
plan 24

mkhome
cmcctl tenant add acme >/dev/null && cmcctl tenant add beta >/dev/null || exit 1
cmcctl set beta retry_period 120 && cmcctl set beta retry_interval 1 || exit 1
start_dns --mx-host=a.test,mx.a.test,10 --host-record=mx.a.test,127.0.0.2 \
  --mx-host=b.test,mx.b.test,10 --host-record=mx.b.test,127.0.0.3 \
  --mx-host=c.test,mx.c.test,10 --host-record=mx.c.test,127.0.0.4
start_sink "$TMPD/a" 127.0.0.2
start_sink "$TMPD/b" 127.0.0.3 -r 'later=451 4.7.1 greylisted, come back later'
bpid=$!
start_sink "$TMPD/c" 127.0.0.4
# retries after 1 s, then 2 s, given up 4 s after the accept (acme: no settings)
export CMC_REMOTE_PORT=$SINK_PORT CMC_RETRY_INTERVAL=1 CMC_RETRY_PERIOD=4
SPOOL=$CMC_HOME/spool

bg deliver 2>"$TMPD/deliver.err"
msg() { printf 'Subject: %s\n\nbody\n' "$1"; }
id_rej=$(msg rej | queue-inject -t acme -f s@example.com reject@a.test)
id_def=$(msg def | queue-inject -t acme -f s@example.com defer@a.test)
id_mix=$(msg mix | queue-inject -t acme -f s@example.com ok@a.test full@a.test defer2@a.test)
id_dd=$(msg dd | queue-inject -t acme -f s@example.com datadefer@c.test)
id_dr=$(msg dr | queue-inject -t acme -f s@example.com datareject@c.test)
id_drop=$(msg drop | queue-inject -t acme -f s@example.com drop@c.test)
id_later=$(msg later | queue-inject -t beta -f s@example.com later@b.test)
id_stay=$(msg stay | queue-inject -t beta -f s@example.com okb@b.test later2@b.test)
ev() { cmcctl events "$1" "$2" | cut -f2-4; }            # status error rcpt
evr() { cmcctl events "$1" "$2" | cut -f2,3,4,6; }       # ... and the reply
has() { cmcctl events "$1" "$2" | cut -f2-4 | grep -q "$3"; }

wait_for 30 has acme "$id_rej" failed
like "$(evr acme "$id_rej")" "*failed	2	reject@a.test	550 5.1.1 user unknown" "RCPT 5xx: failed, status 2 (user unknown), with the reply"
wait_for 30 has acme "$id_mix" "succeeded	0	ok@a.test"
like "$(ev acme "$id_mix")" "*succeeded	0	ok@a.test*" "mixed message: the good recipient succeeds"
like "$(ev acme "$id_mix")" "*failed	5	full@a.test*" "mixed message: the 552 one fails, status 5 (mailbox full)"
like "$(ev acme "$id_mix")" "*deferred	0	defer2@a.test*" "mixed message: the 451 one is deferred"
wait_for 30 has beta "$id_stay" "succeeded	0	okb@b.test"
like "$(ev beta "$id_stay")" "*deferred	0	later2@b.test*" "another mixed message: one succeeded, one deferred"
[ -f "$SPOOL/queue/$id_stay" ]
ok $? "the message stays in queue/ while a recipient is pending"

wait_for 30 has beta "$id_later" deferred
like "$(evr beta "$id_later")" "*deferred	0	later@b.test	451 4.7.1 greylisted, come back later" "RCPT 4xx: deferred with the reply"
# the server changes its mind: same port, default rules
kill "$bpid"; wait "$bpid" 2>/dev/null
start_sink "$TMPD/b" 127.0.0.3
wait_for 30 has beta "$id_later" succeeded
ok $? "deferred recipient succeeds on a later retry"
wait_for 30 has beta "$id_stay" "succeeded	0	later2@b.test"
ok $? "so does the other one"
is "$(ls "$TMPD/b/new" | wc -l)" 3 "one copy each arrived (okb, later, later2)"

wait_for 30 has acme "$id_dd" deferred
like "$(evr acme "$id_dd")" "*deferred	0	datadefer@c.test	451 4.3.0 try again later*" "4xx after DATA: deferred"
wait_for 30 has acme "$id_dr" failed
like "$(evr acme "$id_dr")" "*failed	99	datareject@c.test	554 5.6.0 message refused" "5xx after DATA: failed 99"
wait_for 30 has acme "$id_drop" deferred
like "$(evr acme "$id_drop")" "*deferred	0	drop@c.test	lost connection with mx.c.test \\[127.0.0.4] while *" "dropped connection: deferred"

# the retry period (4 s) ends: status 3 with the last reply
wait_for 30 has acme "$id_def" failed
like "$(evr acme "$id_def" | tail -1)" "failed	3	defer@a.test	451 4.2.0 mailbox busy, try again later" "retry period over: failed, status 3, last reply"
nd=$(ev acme "$id_def" | grep -c deferred)
[ "$nd" -ge 2 ]
ok $? "it was retried before ($nd deferrals)"
wait_for 30 has acme "$id_mix" "failed	3	defer2@a.test"
ok $? "mixed message: the deferred recipient times out too"
wait_for 30 has acme "$id_drop" "failed	3"
ok $? "dropped connection: times out with status 3"
wait_for 30 has acme "$id_dd" "failed	3"
ok $? "4xx after DATA: times out with status 3"

spool_empty() { [ -z "$(ls -A "$SPOOL/new")$(ls -A "$SPOOL/queue")" ]; }
wait_for 30 spool_empty
ok $? "every message left the spool once all its recipients were final"
is "$(ev acme "$id_mix" | grep -c 'succeeded\|failed')" 3 "one final event per recipient of the mixed message"
is "$(ev acme "$id_mix" | grep -c 'succeeded')" 1 "the good recipient got it once"
is "$(grep -c '^msg ' "$TMPD/a/log")" 1 "the sink of a.test stored exactly one message"
# retries are spaced: deferrals of defer@a.test are at least a second apart
times=$(cmcctl events acme "$id_def" | grep deferred | cut -f1 | sort -u | wc -l)
is "$times" "$(ev acme "$id_def" | grep -c deferred)" "deferrals at distinct times (retry interval honoured)"
grep -q 'fatal' "$TMPD/deliver.err"
ok $((!$?)) "no fatal errors"
exit $failed
