#!/bin/sh
# purge-reports: day 40 is kept and day 41 goes, in each tenant's own time
# zone (the same instant is day 40 in Tokyo and day 41 in New York); a
# second run finds nothing; daily statistics outlive the events, minute
# counters do not; a message deliver still has keeps its events; a dry run
# changes nothing; a purge beside a writer loses none of the writer's
# events; two purges at once are safe; the indexes agree afterwards;
# unmatched mail in spool/unmatched/ goes after the same retention.
. "${0%/*}/lib.sh"
plan 17
mkhome
for t in tokyo ny plain; do cmcctl tenant add $t >/dev/null; done
cmcctl set tokyo timezone Asia/Tokyo && cmcctl set ny timezone America/New_York \
  || { echo "Bail out! setup"; exit 1; }
# "Now" is 2024-06-15 12:00 UTC: the 15th in both zones, so day 40 is
# 2024-05-07 and day 41 is 2024-05-06, local dates.
NOW=$($PY -c 'import datetime; print(int(datetime.datetime(2024,6,15,12,tzinfo=datetime.timezone.utc).timestamp()))')
$PY - >"$TMPD/ev.tsv" <<'PYEOF'
import datetime, zoneinfo
def at(zone, s):
    return int(datetime.datetime.fromisoformat(s).replace(tzinfo=zoneinfo.ZoneInfo(zone)).timestamp())
ev = []
for tenant, zone in (('tokyo', 'Asia/Tokyo'), ('ny', 'America/New_York'), ('plain', 'Asia/Tokyo')):
    for name, when in (('old', '2024-05-05 12:00:00'), ('d41end', '2024-05-06 23:59:59'),
                       ('d40start', '2024-05-07 00:00:00'), ('d40', '2024-05-07 00:00:01'),
                       ('today', '2024-06-15 08:00:00')):
        ev.append((at(zone, when), tenant, name))
    # one instant, 2024-05-07 01:00 UTC: Tokyo's day 40, New York's day 41
    ev.append((at('UTC', '2024-05-07 01:00:00'), tenant, 'utc0100'))
    ev.append((at(zone, '2024-05-06 10:00:00'), tenant, 'queued-still'))
for t, tenant, name in sorted(ev):
    print('%d.000000\t%s\tdefault\t%s-%s\tqueued\t\t<%s@x>\ts@x.example\ts@x.example\t%s@example.jp\ts\t\t\t\t\t198.51.100.7\tapi' % (t, tenant, tenant, name, name, name))
PYEOF
report-import <"$TMPD/ev.tsv"; is "$?" 0 "events imported"
# deliver still has plain's message "queued-still" in its queue table
if command -v db5.3_load >/dev/null; then
  printf 'plain-queued-still\n1\n' | db5.3_load -T -t btree -h "$CMC_HOME/db" queue.db
  queued=$?
else
  queued=1
fi
ids() { report deliveries "$1" -s 2024-05-01 -e 2024-06-15 -r 0 --oldest -a -f csv | $PY -c '
import csv, sys
print(" ".join(r["id"].split("-", 1)[1] for r in csv.DictReader(sys.stdin)))'; }
before=$(ids tokyo)
# Unmatched mail: one file 41 days old, one 39 days old.
mkdir -p "$CMC_HOME/spool/unmatched"
echo old >"$CMC_HOME/spool/unmatched/1717000000.1.x"
echo new >"$CMC_HOME/spool/unmatched/1717000000.2.x"
touch -d "@$((NOW - 41 * 86400))" "$CMC_HOME/spool/unmatched/1717000000.1.x"
touch -d "@$((NOW - 39 * 86400))" "$CMC_HOME/spool/unmatched/1717000000.2.x"
purge-reports -n -T "$NOW" 2>"$TMPD/dry"
is "$(ids tokyo)" "$before" "a dry run changes nothing"
like "$(cat "$TMPD/dry")" "*tenant=tokyo before=2024-05-07 events=3 dry-run*" "it counts what would go"

purge-reports -T "$NOW" 2>"$TMPD/p1"; is "$?" 0 "purge runs"
is "$(ls "$CMC_HOME/spool/unmatched" | tr '\n' ' ')" "1717000000.2.x " "unmatched mail past the retention goes, newer stays"
like "$(cat "$TMPD/p1")" "*purge unmatched=1 bytes=4*" "the removal is logged"
is "$(ids tokyo)" "d40start d40 utc0100 today" "Tokyo: day 41 gone, day 40 kept (00:00:00 on)"
is "$(ids ny)" "d40start d40 today" "New York: the same rules in its own zone"
if [ "$queued" = 0 ]; then
  is "$(ids plain)" "queued-still d40start d40 utc0100 today" "no zone set: Tokyo's; a queued message's events stay"
else
  echo "ok 8 # skip db5.3_load (db5.3-util) not installed"; n=$((n+1))
fi
like "$(cat "$TMPD/p1")" "*tenant=tokyo comp=default day=2024-05-05 events=1 *day=2024-05-06 events=2 *" "a day at a time, oldest first"

purge-reports -T "$NOW" 2>"$TMPD/p2"
is "$(grep -c 'events=[1-9]' "$TMPD/p2")" 0 "a second run finds nothing"
is "$(report stats tokyo -d 2024-05-06 -f csv | tr -d '\r' | tail -1 | cut -d, -f1,2)" "2024-05-06,2" \
  "daily statistics of a purged day remain"
is "$(report deliverygraph tokyo -s '2024-05-06 23:59' -P 1m -f csv | tr -d '\r' | tail -1)" "2024-05-06 23:59,0,0,0,0" \
  "minute counters of a purged day are gone"

# A purge beside a writer: every event the writer reported committed is there.
$PY "$T/bench/reports-gen" --tenant tokyo --days 3 --per-day 3000 --end 2024-06-15 \
  --zone Asia/Tokyo --seed 4 >"$TMPD/more.tsv"
head -n 6000 "$TMPD/more.tsv" | report-import -b 20
tail -n +6001 "$TMPD/more.tsv" >"$TMPD/later.tsv"
report-import -b 3 -v <"$TMPD/later.tsv" >"$TMPD/w.out" 2>"$TMPD/w.err" &
wpid=$!
BGPIDS="$BGPIDS $wpid"
purge-reports -d 2 -T "$NOW" tokyo 2>"$TMPD/p3" & p1=$!
purge-reports -d 2 -T "$NOW" tokyo 2>"$TMPD/p4" & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
is "$r1$r2" 00 "two purges at once both succeed"
wait $wpid
is "$(tail -n 1 "$TMPD/w.out")" "$(wc -l <"$TMPD/later.tsv" | tr -d ' ')" "the writer committed everything"
left=$(report deliveries tokyo -d 2024-06-15 -r 0 -a -f csv | tail -n +2 | wc -l)
want=$($PY - "$TMPD/more.tsv" <<'PYEOF'
import datetime, sys, zoneinfo
a = int(datetime.datetime(2024, 6, 15, tzinfo=zoneinfo.ZoneInfo('Asia/Tokyo')).timestamp())
print(sum(1 for l in open(sys.argv[1]) if a <= int(l.split('.')[0]) < a + 86400) + 1)
PYEOF
)
is "$left" "$want" "today's events all there, the writer's included"
is "$(report verify tokyo -s 2024-06-15 | grep -v '^events' | grep -v ' 0$')" "" "indexes and counters agree after the purges"
exit $failed
