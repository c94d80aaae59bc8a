#!/bin/sh
# Writers killed with SIGKILL during ingest lose nothing they reported
# committed: two report-import processes (one event a transaction, and
# eleven) write the same tenant at once and die at random moments, three
# rounds; afterwards a new process gets in (recovery), every event of
# every line a writer reported committed is there, nothing else is (a
# killed transaction leaves no part behind: events, index entries and
# counters agree), and the tenant can be written and searched again.
. "${0%/*}/lib.sh"
plan 8
mkhome
cmcctl tenant add acme >/dev/null || { echo "Bail out! setup"; exit 1; }
END=$($PY -c 'import datetime,zoneinfo; print(datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo")).date())')
$PY "$T/bench/reports-gen" --days 1 --per-day 8000 --end "$END" --seed 11 >"$TMPD/a.tsv"
$PY "$T/bench/reports-gen" --days 1 --per-day 8000 --comps bulk --end "$END" --seed 12 \
  | sed 's/\.acme\t/.acme-b\t/' >"$TMPD/b.tsv"

rnd() { awk -v s="$$$(date +%N)" -v n="$1" 'BEGIN { srand(s); print int(rand() * n) }'; }
lines() { wc -l <"$1" 2>/dev/null || echo 0; }
ready() { ! kill -0 "$1" 2>/dev/null || [ "$(lines "$2")" -ge "$3" ]; }
# One round: both writers go on from where the last round's commits end;
# each is killed once it has reported a random number of commits.
done_a=0; done_b=0
for round in 1 2 3; do
  tail -n +$((done_a + 1)) "$TMPD/a.tsv" | head -n 20000 >"$TMPD/a$round.in"
  tail -n +$((done_b + 1)) "$TMPD/b.tsv" | head -n 20000 >"$TMPD/b$round.in"
  report-import -b 1 -v <"$TMPD/a$round.in" >"$TMPD/a$round.out" 2>>"$TMPD/err" & wa=$!
  report-import -b 11 -v <"$TMPD/b$round.in" >"$TMPD/b$round.out" 2>>"$TMPD/err" & wb=$!
  BGPIDS="$BGPIDS $wa $wb"
  wait_for 30 ready $wa "$TMPD/a$round.out" $(( $(rnd 40) + 5 ))
  kill -KILL $wa 2>/dev/null
  wait_for 30 ready $wb "$TMPD/b$round.out" $(( $(rnd 20) + 3 ))
  kill -KILL $wb 2>/dev/null
  wait $wa $wb 2>/dev/null
  # What each reported committed; the next round starts after it, so a
  # batch that was in flight may be written twice only if it had committed.
  ca=$(tail -n 1 "$TMPD/a$round.out"); cb=$(tail -n 1 "$TMPD/b$round.out")
  done_a=$((done_a + ${ca:-0})); done_b=$((done_b + ${cb:-0}))
  echo "# round $round: writer a committed ${ca:-0}, writer b ${cb:-0}"
done
[ "$done_a" -gt 0 ] && [ "$done_b" -gt 0 ]; ok $? "both writers committed before they were killed ($done_a, $done_b)"
timeout 30 cmcctl checkpoint; is $? 0 "a new process gets into the environment"

# Every committed line is there; the in-flight transaction of each kill is
# all there or not at all (a whole batch), nothing else.
report deliveries acme -s "$END" -e "$END" -r 0 -a --oldest -f csv >"$TMPD/db.csv"
is $? 0 "the log can be read"
$PY - "$TMPD" "$done_a" "$done_b" >"$TMPD/check" <<'PYEOF'
import csv, glob, os, sys
d, done_a, done_b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
have = {}
for r in csv.DictReader(open(os.path.join(d, 'db.csv'))):
    k = (r['id'], r['status'], r['to'], r['created'][-8:])
    have[k] = have.get(k, 0) + 1
def key(l):
    import datetime, zoneinfo
    f = l.rstrip('\n').split('\t')
    t = datetime.datetime.fromtimestamp(int(f[0].split('.')[0]), zoneinfo.ZoneInfo('Asia/Tokyo'))
    return (f[3], f[4], f[9], t.strftime('%H:%M:%S'))
bad = []
for w, batch in (('a', 1), ('b', 11)):
    for rnd in (1, 2, 3):
        inp = open(os.path.join(d, '%s%d.in' % (w, rnd))).readlines()
        out = open(os.path.join(d, '%s%d.out' % (w, rnd))).read().split()
        c = int(out[-1]) if out else 0
        for l in inp[:c]:
            k = key(l)
            if not have.get(k):
                bad.append('%s round %d: committed line missing: %s' % (w, rnd, k))
            else:
                have[k] -= 1
# Left over: at most the batch each killed writer had in flight (it may
# have committed without reporting), and then also in the next round's input.
extra = sum(v for v in have.values() if v > 0)
if extra > 3 * (1 + 11):
    bad.append('%d events nobody reported' % extra)
print('\n'.join(bad[:5]) if bad else 'ok %d left over' % extra)
PYEOF
like "$(cat "$TMPD/check")" "ok *" "every event a writer reported committed is there, nothing more than in flight"
is "$(report verify acme | grep -v '^events' | grep -v ' 0$')" "" "indexes and counters agree with the records"

head -n 50 "$TMPD/a.tsv" | sed 's/^\([0-9]*\)\.[0-9]*\t\([^\t]*\)\t\([^\t]*\)\t/\1.000001\t\2\t\3\tafter-/' | report-import
is $? 0 "a write after the crashes"
is "$(report deliveries acme -s "$END" -e "$END" --id "after-$(head -n 1 "$TMPD/a.tsv" | cut -f4)" -r 0 -f csv | tail -n +2 | wc -l)" \
  "$(head -n 50 "$TMPD/a.tsv" | cut -f4 | grep -c -x "$(head -n 1 "$TMPD/a.tsv" | cut -f4)")" "and it is found"
is "$(report verify acme | grep -v '^events' | grep -v ' 0$')" "" "still consistent"
grep -v 'waited in it; leaving\|stuck in the database' "$TMPD/err" | head -n 5 | sed 's/^/# /'
exit $failed
