#!/bin/sh
# report: the searches of the guide from the shell, against a brute-force
# scan of the same generated events (t/bench/reports-gen, three days, two
# compositions, a noise tenant with overlapping names): dates, hours,
# minutes, addresses exact and partial in any case, status, error status,
# Message-ID, our id, domain, sender, From, X-Api-Data, subject, API user,
# composition, paging; JSON, CSV and table carry the same rows; statistics
# per local day; the other tenant's events never show; bad input is 100;
# an export (-f events) loads into another installation as the same log.
. "${0%/*}/lib.sh"
plan 11
mkhome
cmcctl tenant add acme >/dev/null && cmcctl tenant add other >/dev/null \
  && cmcctl set acme timezone Asia/Tokyo && cmcctl set other timezone America/New_York \
  || { echo "Bail out! setup"; exit 1; }
END=$($PY -c 'import datetime,zoneinfo; print(datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo")).date())')
$PY "$T/bench/reports-gen" --days 3 --per-day 1500 --comps default,bulk --addresses 400 \
  --noise other:400 --end "$END" --seed 5 >"$TMPD/ev.tsv"
report-import -b 97 <"$TMPD/ev.tsv"
is "$?" 0 "events imported"
is "$(report verify acme | grep -v ' 0$' | grep -v '^events')" "" "indexes and counters agree with the records"

$PY - "$TMPD/ev.tsv" "$END" >"$TMPD/check.out" 2>&1 <<'PYEOF'
import csv, datetime, io, json, random, subprocess, sys, zoneinfo
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1])]
end = datetime.date.fromisoformat(sys.argv[2])
days = [end - datetime.timedelta(days=2 - i) for i in range(3)]
zones = {'acme': zoneinfo.ZoneInfo('Asia/Tokyo'), 'other': zoneinfo.ZoneInfo('America/New_York')}
F = ['time', 'tenant', 'comp', 'id', 'status', 'error', 'mid', 'sender', 'from', 'rcpt',
     'subject', 'api', 'reply', 'remote', 'sip', 'src', 'user']
ev = []
for r in rows:
    e = dict(zip(F, r))
    s, u = e['time'].split('.')
    e['t'], e['u'] = int(s), int(u)
    ev.append(e)
ev.sort(key=lambda e: (e['t'], e['u']))
bad = []
compared = [0, 0]

def local(tenant, t):
    return datetime.datetime.fromtimestamp(t, zones[tenant]).strftime('%Y-%m-%d %H:%M:%S')

def start(tenant, d, h=0, m=0):
    return int(datetime.datetime(d.year, d.month, d.day, h, m, tzinfo=zones[tenant]).timestamp())

def report(*args):
    p = subprocess.run(['report'] + list(args), capture_output=True, text=True)
    if p.returncode:
        raise SystemExit('report %s: exit %d: %s' % (' '.join(args), p.returncode, p.stderr))
    return p.stdout

def check(name, args, tenant, pred, errors=False, page=0, rows=10):
    want = [e for e in reversed(ev) if e['tenant'] == tenant and pred(e)
            and (not errors or e['status'] == 'failed')]
    if rows:
        want = want[page * rows:(page + 1) * rows]
    key = lambda e: (local(tenant, e['t']), e['status'] if not errors else e['error'], e['rcpt'], e['mid'], e['id'])
    want = [key(e) for e in want]
    out = report('errors' if errors else 'deliveries', tenant, *args, '-p', str(page), '-r', str(rows), '-a', '-f', 'json')
    j = json.loads(out)['bounces' if errors else 'deliveries']
    got = [(r['created'], r['status'], r['to'], r['messageId'], r['id']) for r in j]
    compared[0] += 1
    compared[1] += len(want)
    if got != want:
        bad.append('%s: got %d rows, want %d; first got %s want %s' % (name, len(got), len(want), got[:1], want[:1]))
    return j

rnd = random.Random(3)
d0, d1, d2 = days
A = lambda e, a, b: a <= e['t'] < b
acme = [e for e in ev if e['tenant'] == 'acme']
addrs = sorted({e['rcpt'] for e in acme})
day = lambda d: (start('acme', d), start('acme', d + datetime.timedelta(days=1)))
a1, b1 = day(d1)
check('a day', ['-d', str(d1)], 'acme', lambda e: A(e, a1, b1))
check('a day, page 3', ['-d', str(d1)], 'acme', lambda e: A(e, a1, b1), page=3)
check('a day, all rows', ['-d', str(d1)], 'acme', lambda e: A(e, a1, b1), rows=0)
o1 = json.loads(report('deliveries', 'acme', '-d', str(d1), '-r', '0', '--oldest', '-f', 'json'))['deliveries']
o2 = json.loads(report('deliveries', 'acme', '-d', str(d1), '-r', '0', '-f', 'json'))['deliveries']
if o1 != list(reversed(o2)) or not o1:
    bad.append('oldest first is not the reverse')
h = start('acme', d1, 14)
check('an hour', ['-d', str(d1), '-H', '14'], 'acme', lambda e: A(e, h, h + 3600), rows=0)
m = start('acme', d1, 14, 7)
check('a minute', ['-d', str(d1), '-H', '14', '-M', '7'], 'acme', lambda e: A(e, m, m + 60), rows=0)
a0, _ = day(d0)
_, b2 = day(d2)
for i in range(6):
    a = rnd.choice(addrs)
    part = a.split('@')[0][2:7].upper()
    check('partial %s' % part, ['-s', str(d0), '-e', str(d2), '--to', part], 'acme',
          lambda e: A(e, a0, b2) and part.lower() in e['rcpt'].lower(), rows=0)
    check('exact %s' % a.upper(), ['-s', str(d0), '-e', str(d2), '--to', a.upper(), '--full', 'to'], 'acme',
          lambda e: A(e, a0, b2) and e['rcpt'].lower() == a.lower(), rows=0)
check('domain substring', ['-s', str(d0), '-e', str(d2), '--to', 'CORP00'], 'acme',
      lambda e: A(e, a0, b2) and 'corp00' in e['rcpt'].lower(), rows=0)
check('a domain', ['-s', str(d0), '-e', str(d2), '--domain', 'Gmail.COM'], 'acme',
      lambda e: A(e, a0, b2) and e['rcpt'].lower().endswith('@gmail.com'), rows=25, page=2)
check('deferred', ['-s', str(d0), '-e', str(d2), '--status', 'deferred'], 'acme',
      lambda e: A(e, a0, b2) and e['status'] == 'deferred', rows=0)
check('error log, status 2', ['-s', str(d0), '-e', str(d2), '--error', '2'], 'acme',
      lambda e: A(e, a0, b2) and e['error'] == '2', errors=True, rows=0)
check('error log, status 2, page 2', ['-s', str(d0), '-e', str(d2), '--error', '2'], 'acme',
      lambda e: A(e, a0, b2) and e['error'] == '2', errors=True, rows=7, page=2)
check('deferred, page 4', ['-s', str(d0), '-e', str(d2), '--status', 'deferred'], 'acme',
      lambda e: A(e, a0, b2) and e['status'] == 'deferred', rows=5, page=4)
check('error log of a day', ['-d', str(d1)], 'acme', lambda e: A(e, a1, b1), errors=True, rows=0)
mid = rnd.choice(acme)['mid']
check('Message-ID without <>', ['-s', str(d0), '-e', str(d2), '--message-id', mid[1:-1]], 'acme',
      lambda e: A(e, a0, b2) and e['mid'] == mid, rows=0)
one = rnd.choice(acme)['id']
check('our id', ['-s', str(d0), '-e', str(d2), '--id', one], 'acme', lambda e: A(e, a0, b2) and e['id'] == one, rows=0)
check('sender, exact', ['-d', str(d1), '--sender', 'NEWS@acme.example', '--full', 'sender'], 'acme',
      lambda e: A(e, a1, b1) and e['sender'] == 'news@acme.example', rows=0)
check('From, partial', ['-d', str(d1), '--from', 'NoReply'], 'acme',
      lambda e: A(e, a1, b1) and 'noreply' in e['from'], rows=0)
check('X-Api-Data, partial', ['-s', str(d0), '-e', str(d2), '--api-data', 'order-12'], 'acme',
      lambda e: A(e, a0, b2) and 'order-12' in e['api'], rows=0)
check('subject', ['-d', str(d1), '--subject', 'weekly'], 'acme',
      lambda e: A(e, a1, b1) and 'weekly' in e['subject'].lower(), rows=0)
check('API user and composition', ['-d', str(d1), '-u', 'batch@acme.example', '-c', 'bulk'], 'acme',
      lambda e: A(e, a1, b1) and e['user'] == 'batch@acme.example' and e['comp'] == 'bulk', rows=0)
# The other tenant, in its own time zone, with names the first one has too.
oa = start('other', d1)
j = check('other tenant, partial name', ['-s', str(d0), '-e', str(d2), '--to', 'tanaka'], 'other',
          lambda e: start('other', d0) <= e['t'] < start('other', d2 + datetime.timedelta(days=1))
          and 'tanaka' in e['rcpt'].lower(), rows=0)
if not j or any(not r['id'].endswith('.other') for r in j):
    bad.append('isolation: no rows, or rows of another tenant')
j = check('acme never sees other', ['-s', str(d0), '-e', str(d2), '--to', 'example'], 'acme',
          lambda e: A(e, a0, b2) and 'example' in e['rcpt'].lower(), rows=0)
if any(r['id'].endswith('.other') for r in j):
    bad.append('isolation: acme sees other')
# Formats: the same rows as CSV and as a table.
js = json.loads(report('deliveries', 'acme', '-d', str(d1), '-r', '50', '-f', 'json'))['deliveries']
cs = list(csv.DictReader(io.StringIO(report('deliveries', 'acme', '-d', str(d1), '-r', '50', '-f', 'csv'))))
tb = report('deliveries', 'acme', '-d', str(d1), '-r', '50').splitlines()
if [dict(r) for r in cs] != js or len(tb) != 51 or tb[0].split('\t') != list(js[0].keys()):
    bad.append('formats differ')
# Statistics: per local day, and the API's definitions.
st = json.loads(report('stats', 'acme', '-s', str(d0), '-e', str(d2), '-f', 'json'))['statistics']
for d, s in zip(days, st):
    a, b = day(d)
    es = [e for e in acme if a <= e['t'] < b]
    q = sum(e['status'] == 'queued' for e in es)
    ok_ = sum(e['status'] == 'succeeded' for e in es)
    blk = sum(e['status'] == 'failed' and e['error'] in ('10', '11') for e in es)
    late, fail, seen = 0, 0, set()
    for e in acme:               # late bounces: a success of the recipient before
        k = (e['id'], e['rcpt'].lower())
        if e['status'] == 'succeeded':
            seen.add(k)
        elif e['status'] == 'failed' and e['error'] not in ('10', '11') and a <= e['t'] < b:
            if k in seen:
                late += 1
            else:
                fail += 1
    want = {'date': str(d), 'queued': q, 'succeeded': ok_, 'failed': fail,
            'deferred': sum(e['status'] == 'deferred' for e in es), 'blocked': blk, 'valid': ok_ + fail}
    got = {k: s[k] for k in want}
    compared[0] += 1
    compared[1] += len(want)
    if got != want:
        bad.append('stats %s: got %s want %s' % (d, got, want))
tot = json.loads(report('stats', 'acme', '-s', str(d0), '-e', str(d2), '--total', '-f', 'json'))['statistics'][0]
if tot['date'] != 'total' or tot['queued'] != sum(s['queued'] for s in st):
    bad.append('total')
sys.stderr.write('# %d searches, %d rows compared\n' % tuple(compared))
print('\n'.join(bad) if bad else 'all equal')
PYEOF
grep '^#' "$TMPD/check.out"
is "$(grep -v '^#' "$TMPD/check.out" | tail -n 20)" "all equal" "every search equals the brute-force scan; formats; statistics"

report deliveries acme -d 2024-02-30 >/dev/null 2>&1; is "$?" 100 "a bad date is 100"
report deliveries nosuch -d "$END" >/dev/null 2>&1; is "$?" 100 "an unknown tenant is 100"
report deliveries acme --status nosuch >/dev/null 2>&1; is "$?" 100 "a bad status is 100"
report deliveries acme -z Nowhere/City >/dev/null 2>&1; is "$?" 100 "an unknown time zone is 100"
like "$(report errorgraph acme -s "$END 00:00" -P 1d -f csv | head -3 | tr '\r\n' '  ')" \
  "status,count  1,* 2,* " "error graph by error status"
rows=$(report deliverygraph acme -s "$END 10:00" -P 1h -f csv | wc -l)
is "$rows" 61 "delivery graph: one row a minute"
# Export and load elsewhere: the same log.
D0=$($PY -c "import datetime; print(datetime.date.fromisoformat('$END') - datetime.timedelta(days=3))")
report deliveries acme -s "$D0" -e "$END" -r 0 --oldest -f events >"$TMPD/export.tsv"
report deliveries acme -s "$D0" -e "$END" -r 0 -a -f json >"$TMPD/a.json"
home1=$CMC_HOME
CMC_HOME=$TMPD/home2; export CMC_HOME
cmcctl init >/dev/null && cmcctl tenant add acme >/dev/null && report-import <"$TMPD/export.tsv"
is "$?" 0 "exported events load into another installation"
report deliveries acme -s "$D0" -e "$END" -r 0 -a -f json >"$TMPD/b.json"
$PY -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); sys.exit(a != b or not a["deliveries"])' "$TMPD/a.json" "$TMPD/b.json"
is "$?" 0 "and give the same log"
CMC_HOME=$home1
exit $failed
