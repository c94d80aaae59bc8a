#!/bin/sh
# Settings changed while 1000 messages are queued and going out: speed
# (connections, interval, sending IPs), priorities, a prohibited window
# that holds everything for a while and is removed again, a forwarding and
# an unsubscribe filter.  deliver reloads each time without a restart; at
# the end every message arrived exactly once, every recipient has one
# "succeeded" event, and the spool is empty.
. "${0%/*}/lib.sh"
plan 9
mkhome
C="$BIN/cmcctl"
$C tenant add acme >/dev/null || exit 1
start_dns --mx-host=a.test,mx.a.test,10 --mx-host=b.test,mx.a.test,10 --mx-host=c.test,mx.a.test,10 \
  --host-record=mx.a.test,127.0.0.1
PORT=$(free_port)
export CMC_REMOTE_PORT=$PORT CMC_HOSTNAME=relay.test
bg $PY "$T/data/recsink.py" "$TMPD/rec.log" "$TMPD/msgs" "$PORT"
wait_port "$PORT" || { echo "Bail out! recsink did not start"; exit 1; }
$C speed default acme -m 3 || exit 1
$C ip add acme 127.0.0.2 || exit 1

seq 1 1000 | xargs -P 8 -I N sh -c '
  d=$(( N % 3 )); case $d in 0) d=a;; 1) d=b;; *) d=c;; esac
  k=$(( N % 4 )); [ $k = 0 ] && k=confirm || k=campaign
  printf "X-Kind: $k\nX-Seq: m-N\n\nbody\n" | queue-inject -t acme -f s@example.com rN@$d.test >/dev/null' \
  || exit 1
is "$(ls "$CMC_HOME/spool/new" | wc -l | tr -d ' ')" 1000 "1000 messages queued"

start=$(date +%s)
bg deliver 2>"$TMPD/deliver.err"
count() { grep -c '^msg ' "$TMPD/rec.log"; }
wait_for 30 sh -c "[ \$(grep -c '^msg ' '$TMPD/rec.log') -ge 50 ]" || { echo "Bail out! nothing moves"; exit 1; }
g0=$($C generation)
# one change after another while the queue drains
$C priority add acme confirm -h X-Kind -p confirm -P 80
$C speed add acme a -p '.+@a\.test' -m 1 -i 10
$C window add acme all -h X-Kind -p '.*' -w 00:00-23:59 -w 23:59-00:00
g=$($C generation)
wait_for 10 grep -q "^settings generation=$g\$" "$TMPD/deliver.err"
ok $? "deliver took the window without a restart"
n_hold=$(count)
$PY -c 'import time; time.sleep(1)'
n_held=$(count)
$C ip add acme 127.0.0.3
$C speed add acme a -p '.+@a\.test' -m 4 -n 1
$C window del acme all
$C forward add acme copy -h X-Kind -p never -a archive@b.test
$C unsubscribe add acme news -h List-Id -p never
$C priority add acme campaign -h X-Kind -p campaign -P 90
$C ip del acme 127.0.0.2
$C speed del acme a
g1=$($C generation)
diag "delivered when the window came: $n_hold, 1 s later: $n_held; generation $g0 -> $g1"
[ $((n_held - n_hold)) -le 12 ]; ok $? "a window over the whole day stopped the flow (at most the transactions under way: $((n_held - n_hold)))"

wait_for 90 sh -c "[ \$(grep -c '^msg ' '$TMPD/rec.log') -ge 1000 ]"
ok $? "1000 messages arrived ($(( $(date +%s) - start )) s)"
spool_empty() { [ -z "$(ls -A "$CMC_HOME/spool/new")$(ls -A "$CMC_HOME/spool/queue")" ]; }
wait_for 30 spool_empty; ok $? "the spool is empty"
is "$(grep '^msg ' "$TMPD/rec.log" | awk '{print $6}' | sort -u | wc -l | tr -d ' ')" 1000 "each of the 1000 arrived"
is "$(grep '^msg ' "$TMPD/rec.log" | awk '{print $6}' | sort | uniq -d | wc -l | tr -d ' ')" 0 "none twice"
is "$(grep -c 'result=K' "$TMPD/deliver.err")" 1000 "1000 succeeded results, no more"
[ "$(grep -c '^settings generation=' "$TMPD/deliver.err")" -ge 3 ]; ok $? "deliver reloaded the settings while it ran ($(grep -c '^settings generation=' "$TMPD/deliver.err") loads)"
exit $failed
