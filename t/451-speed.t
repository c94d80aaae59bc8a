#!/bin/sh
# Delivery speed, measured at a recording SMTP server on loopback
# (t/data/recsink.py): per destination filter and default, the maximum
# number of concurrent connections is never exceeded (and is reached), the
# time between two messages on a connection is never below the interval,
# and the source addresses seen are exactly the sending-IP pool (a filter
# with -n 2 uses two of the three, always the same two).
. "${0%/*}/lib.sh"
plan 12
mkhome
C="$BIN/cmcctl"
$C tenant add acme >/dev/null || exit 1
start_dns --mx-host=slow.test,mx.slow.test,10 --host-record=mx.slow.test,127.0.0.1 \
  --mx-host=fast.test,mx.fast.test,10 --host-record=mx.fast.test,127.0.0.1
PORT=$(free_port)
export CMC_REMOTE_PORT=$PORT CMC_HOSTNAME=relay.test CMC_DELIVER_MAXCONN=10
bg $PY "$T/data/recsink.py" "$TMPD/rec.log" "$TMPD/msgs" "$PORT" 60
wait_port "$PORT" || { echo "Bail out! recsink did not start"; exit 1; }

$C ip add acme 127.0.0.2 && $C ip add acme 127.0.0.3 && $C ip add acme 127.0.0.4 || exit 1
$C speed add acme slow -p '.+@slow\.test' -m 2 -i 150 -n 2 || exit 1
$C speed default acme -m 3 || exit 1

# 24 messages to each destination, queued while deliver is down
i=0
while [ $i -lt 24 ]; do
  i=$((i+1))
  printf 'Subject: s%s\nX-Seq: slow-%s\n\nbody\n' $i $i | queue-inject -t acme -f s@example.com "u$i@slow.test" >/dev/null || exit 1
  printf 'Subject: f%s\nX-Seq: fast-%s\n\nbody\n' $i $i | queue-inject -t acme -f s@example.com "u$i@fast.test" >/dev/null || exit 1
done
start=$(date +%s)
bg deliver 2>"$TMPD/deliver.err"
nmsg() { grep -c '^msg ' "$TMPD/rec.log"; }
wait_for 60 sh -c "[ \$(grep -c '^msg ' '$TMPD/rec.log') -ge 48 ]"
ok $? "all 48 messages arrived ($(( $(date +%s) - start )) s)"

# measure: per destination (the recipient's domain), from the server's log
$PY - "$TMPD/rec.log" >"$TMPD/measure" <<'PYEOF'
import sys, collections
ev = [l.split() for l in open(sys.argv[1])]
dest = {}                                   # cid -> destination (from its messages)
for e in ev:
    if e[0] == "msg":
        dest[e[2]] = e[4].split("@")[1]
conc = collections.Counter(); peak = collections.Counter()
srcs = collections.defaultdict(set); last = {}; gap = {}
for e in ev:
    k, cid = e[0], e[2]
    d = dest.get(cid)
    if d is None:
        continue
    if k == "conn":
        conc[d] += 1; peak[d] = max(peak[d], conc[d]); srcs[d].add(e[3])
    elif k == "end":
        conc[d] -= 1
    elif k == "mail":
        t = float(e[1])
        if cid in last:
            g = t - last[cid]
            gap[d] = min(gap.get(d, 99), g)
        last[cid] = t
for d in sorted(peak):
    print(d, "peak", peak[d], "mingap_ms", int(gap.get(d, 99) * 1000), "srcs", ",".join(sorted(srcs[d])))
allsrc = set().union(*srcs.values())
print("all", ",".join(sorted(allsrc)))
PYEOF
cat "$TMPD/measure" | sed 's/^/# /'
m() { grep "^$1 " "$TMPD/measure"; }
peak_slow=$(m slow.test | awk '{print $3}'); gap_slow=$(m slow.test | awk '{print $5}')
peak_fast=$(m fast.test | awk '{print $3}')
is "$peak_slow" 2 "slow.test: at most 2 connections at a time (the filter), and 2 were used"
is "$peak_fast" 3 "fast.test: at most 3 (the composition's default), and 3 were used"
[ -n "$gap_slow" ] && [ "$gap_slow" -ge 150 ]; ok $? "slow.test: no two messages on a connection closer than 150 ms (min $gap_slow ms)"
is "$(m all | awk '{print $2}')" "127.0.0.2,127.0.0.3,127.0.0.4" "the source addresses seen are exactly the pool"
is "$(m slow.test | awk '{print $7}' | tr ',' '\n' | wc -l | tr -d ' ')" 2 "slow.test (-n 2) came from two of the three"
is "$(m fast.test | awk '{print $7}')" "127.0.0.2,127.0.0.3,127.0.0.4" "fast.test (every IP) from all three"
is "$(grep '^msg ' "$TMPD/rec.log" | awk '{print $6}' | sort | uniq -d | wc -l | tr -d ' ')" 0 "no message twice"
like "$(cmcctl events acme "$(ls "$CMC_HOME/spool/queue" | head -1)" 2>/dev/null; grep -m1 'result=K' "$TMPD/deliver.err")" \
  "*result=K*" "deliver recorded the deliveries"

# a change while deliver runs takes effect without a restart
: >"$TMPD/rec.log"
$C speed add acme slow -p '.+@slow\.test' -m 1 -i 300 -n 1 || exit 1
i=0
while [ $i -lt 8 ]; do
  i=$((i+1))
  printf 'X-Seq: again-%s\n\nbody\n' $i | queue-inject -t acme -f s@example.com "v$i@slow.test" >/dev/null || exit 1
done
wait_for 30 sh -c "[ \$(grep -c '^msg ' '$TMPD/rec.log') -ge 8 ]"
ok $? "8 more arrived after the change"
$PY - "$TMPD/rec.log" >"$TMPD/measure2" <<'PYEOF'
import sys
ev = [l.split() for l in open(sys.argv[1])]
conc = peak = 0; srcs = set(); mails = []
for e in ev:
    if e[0] == "conn": conc += 1; peak = max(peak, conc); srcs.add(e[3])
    elif e[0] == "end": conc -= 1
    elif e[0] == "mail": mails.append(float(e[1]))
gaps = [b - a for a, b in zip(mails, mails[1:])]
print(peak, int(min(gaps) * 1000) if gaps else 999, len(srcs))
PYEOF
read peak2 gap2 nsrc2 <"$TMPD/measure2"
diag "after the change: peak $peak2, min gap between any two messages $gap2 ms, $nsrc2 source IP(s)"
[ "$peak2" = 1 ] && [ "$gap2" -ge 300 ] && [ "$nsrc2" = 1 ]
ok $? "the new setting (1 connection, 300 ms, one IP) holds for the whole destination, across connections"
grep -q '^settings generation=' "$TMPD/deliver.err"; ok $? "deliver reloaded the settings"
exit $failed
