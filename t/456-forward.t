#!/bin/sh
# Mail forwarding: a copy to the forwarding address (the original goes
# too) or the recipient rewritten to it (the original recipient gets
# nothing); forwarded recipients have delivery records of their own
# (queued, succeeded); a copy to an address that is already a recipient is
# not made twice; mail no filter takes is not touched.  Transport (a
# route) sends a domain to a fixed server.
. "${0%/*}/lib.sh"
plan 12
mkhome
C="$BIN/cmcctl"
export CMC_HOSTNAME=relay.test
$C tenant add acme >/dev/null || exit 1
$C forward add acme keep -h X-Kind -p order -a archive@keep.test -M copy || exit 1
$C forward add acme move -h To -p '.+@old\.test' -a new@w.test -M rewrite || exit 1
start_dns --mx-host=w.test,mx.w.test,10 --mx-host=keep.test,mx.w.test,10 --mx-host=old.test,mx.w.test,10 \
  --host-record=mx.w.test,127.0.0.1
PORT=$(free_port)
export CMC_REMOTE_PORT=$PORT
bg $PY "$T/data/recsink.py" "$TMPD/rec.log" "$TMPD/msgs" "$PORT"
wait_port "$PORT" || { echo "Bail out! recsink did not start"; exit 1; }
bg deliver 2>"$TMPD/deliver.err"

inj() { printf "$1X-Seq: $2\n\nbody\n" | queue-inject -t acme -f s@shop.test $3; }
id1=$(inj 'X-Kind: order\n' m1 buyer@w.test)
id2=$(inj '' m2 someone@old.test)
id3=$(inj 'X-Kind: order\n' m3 "archive@keep.test other@w.test")
id4=$(inj 'X-Kind: news\n' m4 reader@w.test)
wait_for 30 sh -c "[ \$(grep -c '^msg ' '$TMPD/rec.log') -ge 6 ]"
ok $? "six deliveries"
got() { grep '^msg ' "$TMPD/rec.log" | awk -v s="$1" '$6 == s {print $5}' | sort | tr '\n' ' '; }
is "$(got m1)" "archive@keep.test buyer@w.test " "copy: the original and the forwarding address both get it"
is "$(got m2)" "new@w.test " "rewrite: only the forwarding address gets it"
is "$(got m3)" "archive@keep.test other@w.test " "a copy to a recipient it already has is not made twice"
is "$(got m4)" "reader@w.test " "mail no filter takes is not touched"
ev() { cmcctl events acme "$1" | cut -f2,4 | sort | tr '\t\n' ' ;'; }
wait_for 10 sh -c "cmcctl events acme $id2 | grep -q succeeded"
is "$(ev "$id1")" "queued archive@keep.test;queued buyer@w.test;succeeded archive@keep.test;succeeded buyer@w.test;" \
  "the forwarded copy has its own queued and succeeded events"
is "$(ev "$id2")" "queued new@w.test;succeeded new@w.test;" "the rewritten recipient's events name the forwarding address"
like "$(grep '^forward ' "$TMPD/deliver.err" | tr '\n' ';')" \
  "*forward id=$id1 rcpt=buyer@w.test to=archive@keep.test mode=copy filter=keep;*forward id=$id2 rcpt=someone@old.test to=new@w.test mode=rewrite filter=move;*" \
  "deliver logs each forwarding"
# a filter saved later applies to mail picked up from then on
$C forward add acme late -h X-Kind -p news -a late@w.test -M copy
g=$($C generation); wait_for 10 grep -q "^settings generation=$g\$" "$TMPD/deliver.err"
id5=$(inj 'X-Kind: news\n' m5 reader2@w.test)
wait_for 30 sh -c "[ \$(grep -c '^msg ' '$TMPD/rec.log') -ge 8 ]"
is "$(got m5)" "late@w.test reader2@w.test " "a new forwarding filter works without a restart"
is "$(grep -c ' m4$' "$TMPD/rec.log")" 1 "and mail already delivered is not forwarded after the fact"
# transport (cmcctl route): a domain without any DNS goes to a fixed server
$C route add acme nodns.test "127.0.0.1:$PORT" || exit 1
id6=$(inj '' m6 x@nodns.test)
wait_for 30 sh -c "grep -q ' m6\$' '$TMPD/rec.log'"
ok $? "transport: a domain routed to host:port is delivered there, without MX"
like "$(cmcctl events acme "$id6" | grep succeeded | cut -f5)" "127.0.0.1 \\[127.0.0.1]" "to the route's host"
exit $failed
