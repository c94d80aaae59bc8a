#!/bin/sh
# deliver: where mail goes.  MX hosts in preference order (the next one
# when the first refuses connections), the domain's own A record when it
# has no MX, static routes (a domain and its subdomains, or "*") to a fixed
# host:port; NXDOMAIN fails with status 1, a null MX with status 7, a
# server failure of DNS defers; deliver -q shows the lookup.
. "${0%/*}/lib.sh"
plan 19

mkhome
cmcctl tenant add acme >/dev/null && cmcctl tenant add beta >/dev/null || exit 1
start_dns --mx-host=a.test,mx1.a.test,10 --mx-host=a.test,mx2.a.test,20 \
  --host-record=mx1.a.test,127.0.0.4 --host-record=mx2.a.test,127.0.0.2 \
  --host-record=b.test,127.0.0.3 --address=/nx.test/ --mx-host=null.test,.,0 \
  --mx-host=dangling.test,nohost.test,5
start_sink "$TMPD/mx2" 127.0.0.2
start_sink "$TMPD/b" 127.0.0.3
start_sink "$TMPD/route" 127.0.0.5
start_sink "$TMPD/star" 127.0.0.6
export CMC_REMOTE_PORT=$SINK_PORT CMC_RETRY_INTERVAL=60 CMC_RETRY_PERIOD=3600
nothing=$(free_port)
cmcctl route add acme r.test "127.0.0.5:$SINK_PORT" && cmcctl route add acme down.test "[127.0.0.5]:$nothing" \
  && cmcctl route add beta '*' "127.0.0.6:$SINK_PORT" || exit 1

q=$(deliver -q a.test)
is "$q" "mx 10 mx1.a.test
ip mx1.a.test 127.0.0.4
mx 20 mx2.a.test
ip mx2.a.test 127.0.0.2" "deliver -q: MX hosts by preference with their addresses"
is "$(deliver -q b.test)" "nomx b.test
mx 0 b.test
ip b.test 127.0.0.3" "deliver -q: no MX, the domain itself"
out=$(deliver -q nx.test); rc=$?
is "$out,$rc" "nxdomain nx.test,100" "deliver -q: NXDOMAIN is permanent"
is "$(deliver -q null.test)" "nullmx null.test" "deliver -q: null MX"
out=$(deliver -q example.org); rc=$?
is "$out,$rc" "temp example.org,111" "deliver -q: a refused query is temporary"

msg() { printf 'Subject: %s\n\nbody\n' "$1"; }
id_mx=$(msg mx | queue-inject -t acme -f s@example.com u@a.test)
id_a=$(msg a | queue-inject -t acme -f s@example.com u@B.Test)
id_nx=$(msg nx | queue-inject -t acme -f s@example.com u@nx.test)
id_null=$(msg null | queue-inject -t acme -f s@example.com u@null.test)
id_dang=$(msg dangling | queue-inject -t acme -f s@example.com u@dangling.test)
id_route=$(msg route | queue-inject -t acme -f s@example.com u@r.test v@sub.r.test)
id_down=$(msg down | queue-inject -t acme -f s@example.com u@down.test)
id_star=$(msg star | queue-inject -t beta -f s@example.com u@nx.test)
id_temp=$(msg temp | queue-inject -t acme -f s@example.com u@example.org)

bg deliver 2>"$TMPD/deliver.err"
has() { cmcctl events "$1" "$2" | cut -f2-4 | grep -q "$3"; }
last() { cmcctl events "$1" "$2" | tail -1 | cut -f2-6; }

wait_for 30 has acme "$id_mx" succeeded
like "$(last acme "$id_mx")" "succeeded	0	u@a.test	mx2.a.test \\[127.0.0.2]	250 *" "first MX refuses connections: the second one gets it"
is "$(ls "$TMPD/mx2/new" | wc -l)" 1 "one message at mx2"
wait_for 30 has acme "$id_a" succeeded
like "$(last acme "$id_a")" "succeeded	0	u@B.Test	b.test \\[127.0.0.3]	250 *" "no MX: the A record of the domain (looked up in lower case)"
wait_for 30 has acme "$id_nx" failed
like "$(last acme "$id_nx")" "failed	1	u@nx.test		Host or domain name not found. Name service error for name=nx.test type=MX: Host not found" "NXDOMAIN: failed, status 1"
wait_for 30 has acme "$id_null" failed
like "$(last acme "$id_null")" "failed	7	u@null.test		*null MX*" "null MX: failed, status 7"
wait_for 30 has acme "$id_dang" failed
like "$(last acme "$id_dang")" "failed	1	u@dangling.test		*name=nohost.test type=A*" "the only MX host does not exist: failed, status 1"
wait_for 30 has acme "$id_route" "succeeded	0	v@sub.r.test"
wait_for 30 has acme "$id_route" "succeeded	0	u@r.test"
ok $? "static route: the domain and a subdomain go to the route's host:port"
like "$(last acme "$id_route" | cut -f4)" "127.0.0.5 \\[127.0.0.5]" "the remote is the route's host"
is "$(grep -c '^msg .*rcpts=1' "$TMPD/route/log")" 2 "each recipient in a transaction of its own"
wait_for 30 has beta "$id_star" succeeded
ok $? "route '*' of tenant beta takes even a domain that does not exist"
is "$(ls "$TMPD/star/new" | wc -l)" 1 "it is at the '*' route's server"
wait_for 30 has acme "$id_down" deferred
like "$(last acme "$id_down")" "deferred	0	u@down.test		connect to 127.0.0.5 \\[127.0.0.5]:$nothing: Connection refused" "route to a closed port: deferred"
wait_for 30 has acme "$id_temp" deferred
like "$(last acme "$id_temp")" "deferred	0	u@example.org		*name=example.org type=MX: Host not found, try again" "DNS server failure: deferred"
[ -f "$CMC_HOME/spool/queue/$id_temp" ] && [ -f "$CMC_HOME/spool/queue/$id_down" ] && [ ! -f "$CMC_HOME/spool/queue/$id_nx" ]
ok $? "deferred messages stay in queue/, failed ones are gone"
exit $failed
