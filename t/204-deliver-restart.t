#!/bin/sh
# deliver: a restart resumes every message in the spool.  Deferred mail
# waits in queue/ across a SIGTERM (exit 0) and goes out after the restart;
# a message whose state was committed but not yet moved out of new/ (a
# crash between the two) is moved without a second "queued" event; a
# message caught in a worker by SIGTERM stays pending; kill -9 loses
# nothing; a spool file in queue/ without state is taken anew.
. "${0%/*}/lib.sh"
plan 21

mkhome
cmcctl tenant add acme >/dev/null || exit 1
start_dns --mx-host=a.test,mx.a.test,10 --host-record=mx.a.test,127.0.0.2
SINK_PORT=$(free_port)                  # nothing listens there yet
export CMC_REMOTE_PORT=$SINK_PORT CMC_RETRY_INTERVAL=1 CMC_RETRY_PERIOD=3600
SPOOL=$CMC_HOME/spool
has() { cmcctl events acme "$1" | cut -f2-4 | grep -q "$2"; }
count() { cmcctl events acme "$1" | cut -f2 | grep -c "^$2\$"; }
spool_empty() { [ -z "$(ls -A "$SPOOL/new")$(ls -A "$SPOOL/queue")" ]; }

msg() { printf 'Subject: %s\n\nbody\n' "$1"; }
id1=$(msg one | queue-inject -t acme -f s@example.com u1@a.test)
id2=$(msg two | queue-inject -t acme -f s@example.com u2@a.test u3@a.test)
bg deliver 2>"$TMPD/deliver1.err"
d1=$!
wait_for 30 has "$id2" deferred
ok $? "no server: deferred"
kill -TERM "$d1"; wait "$d1"
is "$?" 0 "SIGTERM: exit 0"
[ -f "$SPOOL/queue/$id1" ] && [ -f "$SPOOL/queue/$id2" ]
ok $? "both messages wait in queue/"

# a crash after the pickup's commit, before its rename
mv "$SPOOL/queue/$id1" "$SPOOL/new/$id1"
start_sink "$TMPD/s" 127.0.0.2
bg deliver 2>"$TMPD/deliver2.err"
d2=$!
wait_for 30 spool_empty
ok $? "after the restart every message is delivered"
is "$(count "$id1" queued),$(count "$id2" queued)" "1,2" "no second queued event for the message found in new/ with its state"
is "$(count "$id1" succeeded),$(count "$id2" succeeded)" "1,2" "each recipient succeeded once"
is "$(ls "$TMPD/s/new" | wc -l)" 3 "three copies at the server (one per recipient)"
grep -q 'warning\|fatal' "$TMPD/deliver2.err"
ok $((!$?)) "no warnings on the way"

# SIGTERM while a worker is in the middle of a transaction
id3=$(msg slow | queue-inject -t acme -f s@example.com slow@a.test)
# the sink's "slow" rule sleeps 2 s before its reply to the end of data
wait_for 30 sh -c "[ \$(grep -c '^conn ' '$TMPD/s/log') -ge 2 ]"
kill -TERM "$d2"; wait "$d2"
is "$?" 0 "SIGTERM during a delivery: exit 0"
[ -f "$SPOOL/queue/$id3" ]
ok $? "the message stays in queue/"
is "$(cmcctl events acme "$id3" | cut -f2 | tr '\n' ' ')" "queued " "and its recipient is still pending (no result recorded)"

# kill -9 with mail pending, then a restart
id4=$(msg nine | queue-inject -t acme -f s@example.com u4@a.test)
bg deliver 2>"$TMPD/deliver3.err"
d3=$!
wait_for 30 has "$id3" succeeded
ok $? "the interrupted message is delivered after the restart"
wait_for 30 has "$id4" succeeded
kill -KILL "$d3"; wait "$d3" 2>/dev/null
id5=$(msg five | queue-inject -t acme -f s@example.com u5@a.test)
bg deliver 2>"$TMPD/deliver4.err"
d4=$!
wait_for 30 has "$id5" succeeded
ok $? "after kill -9 a new deliver carries on"
wait_for 30 spool_empty
ok $? "and the spool empties"

# a spool file without state (say, restored from a backup) is not forgotten
kill -TERM "$d4"; wait "$d4"
id6=$(msg six | queue-inject -t acme -f s@example.com u6@a.test)
mv "$SPOOL/new/$id6" "$SPOOL/queue/$id6"
# and a file in new/ that is no spool file is left alone, with a warning
printf 'junk' >"$SPOOL/new/0000000000000000000000001"
bg deliver 2>"$TMPD/deliver5.err"
wait_for 30 has "$id6" succeeded
ok $? "a file in queue/ without state is delivered"
is "$(count "$id6" queued)" 1 "with its queued event"
like "$(cat "$TMPD/deliver5.err")" "*warning: spool file without state*" "and a warning"
like "$(cat "$TMPD/deliver5.err")" "*warning: unable to read spool file */new/0000000000000000000000001: Invalid argument*" "a malformed file in new/: a warning"
[ -f "$SPOOL/new/0000000000000000000000001" ]
ok $? "the malformed file stays where it is"
id7=$(msg seven | queue-inject -t acme -f s@example.com u7@a.test)
wait_for 30 has "$id7" succeeded
ok $? "and deliver carries on"
is "$(grep -c 'unable to read spool file' "$TMPD/deliver5.err")" 1 "warned about once, not at every scan"
exit $failed
