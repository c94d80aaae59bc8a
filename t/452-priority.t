#!/bin/sh
# Delivery priority: a destination limited to one connection, 200
# low-priority (campaign) messages queued; a high-priority (confirmation)
# message queued after them goes first, and one injected while the
# campaign is being sent is delivered among the next few (the running
# connection is asked to make room after its current message).  Nothing
# is lost, nothing sent twice, no attempt is wasted on the way.
. "${0%/*}/lib.sh"
plan 9
mkhome
C="$BIN/cmcctl"
$C tenant add acme >/dev/null || exit 1
start_dns --mx-host=p.test,mx.p.test,10 --host-record=mx.p.test,127.0.0.1
PORT=$(free_port)
export CMC_REMOTE_PORT=$PORT CMC_HOSTNAME=relay.test
bg $PY "$T/data/recsink.py" "$TMPD/rec.log" "$TMPD/msgs" "$PORT" 0
wait_port "$PORT" || { echo "Bail out! recsink did not start"; exit 1; }
$C speed add acme one -p '.+@p\.test' -m 1 || exit 1
$C priority add acme confirm -h X-Kind -p 'confirm(ation)?' -P 90 || exit 1
$C priority add acme campaign -h X-Kind -p campaign -P 10 || exit 1

# 200 campaign messages, queued by 8 queue-inject at a time
seq 1 200 | xargs -P 8 -I N sh -c \
  'printf "X-Kind: campaign\nX-Seq: low-N\n\nbody\n" | queue-inject -t acme -f s@example.com cN@p.test >/dev/null' \
  || exit 1
is "$(ls "$CMC_HOME/spool/new" | wc -l | tr -d ' ')" 200 "200 campaign messages queued"
printf 'X-Kind: confirmation\nX-Seq: high-1\n\nbody\n' | queue-inject -t acme -f s@example.com h1@p.test >/dev/null || exit 1
bg deliver 2>"$TMPD/deliver.err"
count() { grep -c '^msg ' "$TMPD/rec.log"; }
pos() { grep '^msg ' "$TMPD/rec.log" | awk '{print $6}' | grep -n -x "$1" | cut -d: -f1; }
wait_for 30 sh -c "grep -q ' high-1\$' '$TMPD/rec.log'"
is "$(pos high-1)" 1 "queued after 200 campaign messages, the confirmation goes first"

wait_for 30 sh -c "[ \$(grep -c '^msg ' '$TMPD/rec.log') -ge 20 ]" || { echo "Bail out! the campaign does not move"; exit 1; }
n0=$(count)
printf 'X-Kind: confirm\nX-Seq: high-2\n\nbody\n' | queue-inject -t acme -f s@example.com h2@p.test >/dev/null
n1=$(count)
wait_for 30 sh -c "grep -q ' high-2\$' '$TMPD/rec.log'"
ok $? "the second confirmation arrived"
p=$(pos high-2)
diag "campaign messages delivered when it was queued: $n0..$n1; its position: $p"
[ -n "$p" ] && [ "$p" -le $((n1 + 3)) ]
ok $? "injected during the campaign, it is delivered among the next few (position $p, queued at $n0..$n1)"
grep -q '^yield ' "$TMPD/deliver.err"; ok $? "the running connection was asked to make room"
[ "$(count)" -lt 150 ]; ok $? "while most of the campaign was still waiting ($(count) delivered then)"

wait_for 60 sh -c "[ \$(grep -c '^msg ' '$TMPD/rec.log') -ge 202 ]"
ok $? "all 202 messages delivered"
is "$(grep '^msg ' "$TMPD/rec.log" | awk '{print $6}' | sort | uniq -d | wc -l | tr -d ' ')" 0 "none twice"
is "$(grep -c 'result=Z' "$TMPD/deliver.err")" 0 "no deferral: making room costs no attempt"
exit $failed
