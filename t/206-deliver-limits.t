#!/bin/sh
# deliver: connections per destination.  120 messages for one domain go
# out 50 to a connection; with CMC_DELIVER_MAXCONN=1 the connections take
# turns (the sink's log never interleaves them).
. "${0%/*}/lib.sh"
plan 5

mkhome
cmcctl tenant add acme >/dev/null || exit 1
start_dns --mx-host=a.test,mx.a.test,10 --host-record=mx.a.test,127.0.0.2
start_sink "$TMPD/s" 127.0.0.2
export CMC_REMOTE_PORT=$SINK_PORT CMC_DELIVER_MAXCONN=1
SPOOL=$CMC_HOME/spool
i=0
while [ $i -lt 120 ]; do
  printf 'Subject: m%d\n\nbody %d\n' $i $i | queue-inject -t acme -f s@example.com "u$i@a.test" >/dev/null || break
  i=$((i+1))
done
is "$(ls "$SPOOL/new" | wc -l)" 120 "120 messages queued"
bg deliver 2>"$TMPD/deliver.err"
spool_empty() { [ -z "$(ls -A "$SPOOL/new")$(ls -A "$SPOOL/queue")" ]; }
wait_for 30 spool_empty
ok $? "all delivered"
is "$(ls "$TMPD/s/new" | wc -l)" 120 "120 messages at the sink"
is "$(grep -c '^conn' "$TMPD/s/log")" 3 "over three connections (50 messages each at most)"
is "$(cut -c1-4 "$TMPD/s/log" | uniq -c | tr -s ' ' | tr '\n' ',')" \
   " 1 conn, 50 msg , 1 conn, 50 msg , 1 conn, 20 msg ," "one connection at a time"
exit $failed
