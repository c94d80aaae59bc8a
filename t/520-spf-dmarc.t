#!/bin/sh
# SPF and DMARC: authctl prints the records a tenant publishes (SPF include
# of the installation's record, which lists the sending IPs from the
# tenant's pool or CMC_SENDING_IPS; DMARC with rua on the tenant's bounce
# domain); dnsmasq serves them as printed, next to records of every kind
# (a, mx, include, redirect, exists with a macro, CIDR, softfail, neutral,
# none, permerror, loops, a server that fails); authctl spf check asks
# libspf2 and its verdict for every sending IP is compared with pyspf's
# for the same DNS data; authctl dmarc check finds a good record, a bad
# policy, reports that go elsewhere, two records, none, no answer, and
# for a subdomain without a record of its own the organisational domain's
# (RFC 7489 6.6.3, the Public Suffix List through libpsl), its sp= first.
. "${0%/*}/lib.sh"
$PY -c 'import spf, dns.resolver' 2>/dev/null || skip_all "python3-spf or python3-dnspython missing"
plan 49

mkhome
cmcctl tenant add t1 >/dev/null && cmcctl tenant add t2 >/dev/null || exit 1
export CMC_HOSTNAME=relay.test
unset CMC_SPF_DOMAIN CMC_SENDING_IPS

# --- records ---
authctl spf record t1 good.test >"$TMPD/out" 2>&1; is "$?" 100 "no sending IPs known: 100"
like "$(cat "$TMPD/out")" "*no sending IPs known*" "said why"
for ip in 127.0.0.2 127.0.0.3 2001:db8::25; do cmcctl ip add t1 "$ip" >/dev/null 2>&1 || echo "# ip add $ip failed"; done
cmcctl ip add t1 -c other 127.0.0.3 >/dev/null 2>&1
authctl spf record t1 good.test >"$TMPD/spf.rec" 2>&1; is "$?" 0 "spf record"
is "$(grep -v '^;' "$TMPD/spf.rec")" 'good.test. IN TXT "v=spf1 include:spf.relay.test ~all"
spf.relay.test. IN TXT "v=spf1 ip4:127.0.0.2 ip4:127.0.0.3 ip6:2001:db8::25 ~all"' \
  "the tenant's include, and the installation's record from the tenant's pool (each IP once)"
CMC_SENDING_IPS="127.0.0.9, 127.0.0.10" authctl spf record t2 x.test 2>&1 | grep -v '^;' >"$TMPD/out"
is "$(sed -n 2p "$TMPD/out")" 'spf.relay.test. IN TXT "v=spf1 ip4:127.0.0.9 ip4:127.0.0.10 ~all"' "no pool: CMC_SENDING_IPS"
cmcctl set t2 spf_domain spf.t2.relay.test >/dev/null
is "$(CMC_SENDING_IPS=127.0.0.9 authctl spf record t2 x.test | grep -v '^;' | sed -n 1p)" \
  'x.test. IN TXT "v=spf1 include:spf.t2.relay.test ~all"' "setting spf_domain names the include"
authctl dmarc record t1 good.test >"$TMPD/dmarc.rec" 2>&1; is "$?" 0 "dmarc record"
is "$(grep -v '^;' "$TMPD/dmarc.rec")" '_dmarc.good.test. IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@return.t1.relay.test; adkim=r; aspf=r"
good.test._report._dmarc.return.t1.relay.test. IN TXT "v=DMARC1"' \
  "DMARC: p=none, rua on the tenant's bounce domain, and the report receiver's authorisation"
cmcctl set t2 bounce_domain bounces.example.test >/dev/null
like "$(authctl dmarc record t2 x.test -p reject | sed -n 1p)" '*"v=DMARC1; p=reject; rua=mailto:dmarc@bounces.example.test; adkim=r; aspf=r"' \
  "-p reject; rua follows the setting bounce_domain"
authctl dmarc record t1 x.test -p sometimes >/dev/null 2>&1; is "$?" 100 "unknown policy: 100"
authctl spf record t1 'bad domain' >/dev/null 2>&1; is "$?" 100 "bad domain: 100"
authctl spf record nobody x.test >/dev/null 2>&1; is "$?" 100 "unknown tenant: 100"

# --- DNS: what authctl printed, and records of every kind ---
rec2arg() { $PY -c '
import re, sys
for l in sys.stdin:
    if l.startswith(";"): continue
    print("--txt-record=%s,%s" % (l.split()[0].rstrip("."), ",".join(re.findall(r"\"([^\"]*)\"", l))))'; }
cat "$TMPD/spf.rec" "$TMPD/dmarc.rec" | rec2arg >"$TMPD/args"
cat >>"$TMPD/args" <<'EOF'
--txt-record=partial.test,v=spf1 ip4:127.0.0.2 -all
--txt-record=soft.test,v=spf1 ~all
--txt-record=neutral.test,v=spf1 ?all
--host-record=none.test,127.0.0.50
--txt-record=perm.test,v=spf1 ip4:127.0.0.2 bogus:x -all
--txt-record=twospf.test,v=spf1 +all
--txt-record=twospf.test,v=spf1 -all
--txt-record=arec.test,v=spf1 a -all
--host-record=arec.test,127.0.0.3
--txt-record=mxrec.test,v=spf1 mx:mxrec.test/31 -all
--mx-host=mxrec.test,mx1.mxrec.test,10
--host-record=mx1.mxrec.test,127.0.0.2,2001:db8::25
--txt-record=redir.test,v=spf1 redirect=good.test
--txt-record=cidr.test,v=spf1 ip4:127.0.0.0/30 ip6:2001:db8::/64 -all
--txt-record=exists.test,v=spf1 exists:%{i}.ok.exists.test -all
--host-record=127.0.0.3.ok.exists.test,127.0.0.1
--txt-record=inclnone.test,v=spf1 include:nothing.test -all
--txt-record=loop.test,v=spf1 include:loop.test -all
--txt-record=split.test,v=spf1 ip4:127.0.0.2 ,ip4:127.0.0.3 -all
--txt-record=bad.test,v=DMARC1; p=none
--txt-record=_dmarc.bad.test,v=DMARC1; p=maybe
--txt-record=_dmarc.elsewhere.test,v=DMARC1; p=quarantine; rua=mailto:dmarc@elsewhere.test
--txt-record=_dmarc.two.test,v=DMARC1; p=none; rua=mailto:dmarc@return.t1.relay.test
--txt-record=_dmarc.two.test,v=DMARC1; p=reject; rua=mailto:dmarc@return.t1.relay.test
--txt-record=_dmarc.sp.test,v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@return.t1.relay.test
--txt-record=_dmarc.own.sp.test,v=DMARC1; p=none; rua=mailto:dmarc@return.t1.relay.test
EOF
# a DNS server that answers SERVFAIL at once, for fails.test
FAIL_PORT=$(free_port)
cat >"$TMPD/failsrv.py" <<'PYEOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    q, a = s.recvfrom(512)
    if len(q) >= 12:
        s.sendto(q[:2] + bytes([0x81, 0x82]) + q[4:6] + b"\0\0\0\0\0\0" + q[12:], a)
PYEOF
bg $PY "$TMPD/failsrv.py" "$FAIL_PORT"
echo "--server=/fails.test/127.0.0.1#$FAIL_PORT" >>"$TMPD/args"
set --
while IFS= read -r a; do set -- "$@" "$a"; done <"$TMPD/args"
start_dns "$@"

# --- SPF: libspf2 (authctl) against pyspf, same DNS, every sending IP ---
IPS="127.0.0.2 127.0.0.3 127.0.0.4 2001:db8::25"
DOMAINS="good.test partial.test soft.test neutral.test none.test perm.test twospf.test arec.test mxrec.test redir.test cidr.test exists.test inclnone.test loop.test split.test fails.test nosuch.test"
for d in $DOMAINS; do
  CMC_SENDING_IPS="$IPS" authctl spf check t2 "$d" >"$TMPD/c.$d" 2>&1
  echo "$? $d" >>"$TMPD/rc"
  for ip in $IPS; do
    printf '%s %s %s\n' "$d" "$ip" "$(grep "^$ip " "$TMPD/c.$d" | cut -d' ' -f2 | tr -d :)"
  done
done >"$TMPD/libspf2"
$PY - "$DNS_PORT" "$IPS" "$DOMAINS" >"$TMPD/pyspf" 2>"$TMPD/pyspf.err" <<'PYEOF'
import sys, dns.resolver, spf
r = dns.resolver.Resolver(configure=False)
r.nameservers = ["127.0.0.1"]
r.port = int(sys.argv[1])
r.lifetime = 3
dns.resolver.default_resolver = r
for d in sys.argv[3].split():
    for ip in sys.argv[2].split():
        res = spf.check2(i=ip, s="postmaster@" + d, h="relay.test", timeout=5)[0]
        print(d, ip, res)
PYEOF
is "$(wc -l <"$TMPD/libspf2")" 68 "libspf2: 17 domains x 4 sending IPs"
diff "$TMPD/libspf2" "$TMPD/pyspf" >"$TMPD/diff" 2>&1
ok "$?" "libspf2's verdicts equal pyspf's for every domain and IP"
[ -s "$TMPD/diff" ] && sed 's/^/# /' "$TMPD/diff"
v() { grep "^$1 $2 " "$TMPD/libspf2" | cut -d' ' -f3; }
is "$(v good.test 127.0.0.2) $(v good.test 127.0.0.3) $(v good.test 2001:db8::25) $(v good.test 127.0.0.4)" \
  "pass pass pass softfail" "the published include authorises the pool, not others"
is "$(grep '^0 ' "$TMPD/rc" | wc -l)" 0 "no domain passes all four IPs (127.0.0.4 is not in the pool)"
is "$(v partial.test 127.0.0.3) $(v soft.test 127.0.0.2) $(v neutral.test 127.0.0.2) $(v none.test 127.0.0.2)" \
  "fail softfail neutral none" "fail, softfail, neutral, none"
is "$(v perm.test 127.0.0.2) $(v twospf.test 127.0.0.2) $(v inclnone.test 127.0.0.2) $(v loop.test 127.0.0.2)" \
  "permerror permerror permerror permerror" "permerror: bad mechanism, two records, include of nothing, loop"
is "$(v arec.test 127.0.0.3) $(v arec.test 127.0.0.2) $(v mxrec.test 127.0.0.3) $(v mxrec.test 2001:db8::25) $(v mxrec.test 127.0.0.4)" \
  "pass fail pass pass fail" "a, mx with a CIDR length (IPv4 and IPv6)"
is "$(v redir.test 127.0.0.2) $(v cidr.test 127.0.0.3) $(v cidr.test 127.0.0.4) $(v exists.test 127.0.0.3) $(v exists.test 127.0.0.2)" \
  "pass pass fail pass fail" "redirect, CIDR, exists with the %{i} macro"
is "$(v split.test 127.0.0.3)" "pass" "a record in two strings is joined"
is "$(v fails.test 127.0.0.2)" "temperror" "a server that fails: temperror"
is "$(grep ' fails.test$' "$TMPD/rc" | cut -d' ' -f1)" 111 "temperror only: exit 111"
is "$(grep ' partial.test$' "$TMPD/rc" | cut -d' ' -f1)" 100 "a failing IP: exit 100"

# the tenant's own pool, all authorised: exit 0
authctl spf check t1 good.test >"$TMPD/out" 2>&1; is "$?" 0 "spf check: every IP of the pool passes"
is "$(sed -n 1p "$TMPD/out")" "good.test spf: v=spf1 include:spf.relay.test ~all" "it shows the published record"
is "$(grep -c ' pass: ' "$TMPD/out")" 3 "one line per IP"
authctl spf check t1 partial.test >"$TMPD/out" 2>&1
like "$(cat "$TMPD/out")" "*partial.test include: no include:spf.relay.test in it*" "a record without our include is pointed out"
# libspf2 gives loopback a free ride in SPF_request_query_mailfrom; ours does not
authctl spf check t1 none.test >"$TMPD/out" 2>&1
like "$(grep '^127.0.0.2 ' "$TMPD/out")" "127.0.0.2 none: *" "loopback addresses are checked like any other"

# --- DMARC checks ---
authctl dmarc check t1 good.test >"$TMPD/out" 2>&1; is "$?" 0 "dmarc check: the published record"
like "$(cat "$TMPD/out")" "*_dmarc.good.test policy: p=none sp=- adkim=r aspf=r pct=100*_dmarc.good.test rua: mailto:dmarc@return.t1.relay.test*good.test._report._dmarc.return.t1.relay.test present*_dmarc.good.test ok" \
  "policy, rua, authorisation, ok"
authctl dmarc check t1 bad.test >"$TMPD/out" 2>&1; is "$?" 100 "a bad policy: 100"
like "$(cat "$TMPD/out")" "*_dmarc.bad.test invalid: p= is not none, quarantine or reject*" "said why"
authctl dmarc check t1 elsewhere.test >"$TMPD/out" 2>&1; is "$?" 100 "reports going elsewhere: 100"
like "$(cat "$TMPD/out")" "*rua: reports do not come to mailto:dmarc@return.t1.relay.test*" "said why"
authctl dmarc check t1 two.test >"$TMPD/out" 2>&1; is "$?" 100 "two DMARC records: 100"
authctl dmarc check t1 none.test >"$TMPD/out" 2>&1; is "$?" 100 "no record: 100"
like "$(cat "$TMPD/out")" "*_dmarc.none.test absent*" "says absent"
CMC_RESOLVER=127.0.0.1:$(free_port) authctl dmarc check t1 good.test >"$TMPD/out" 2>&1; is "$?" 111 "no DNS answer: 111"
# a subdomain without a record inherits its organisational domain's
authctl dmarc check t1 news.good.test >"$TMPD/out" 2>&1; is "$?" 0 "subdomain without a record: the organisational domain's applies"
like "$(cat "$TMPD/out")" "_dmarc.news.good.test absent: no DMARC record of its own; asking the organisational domain good.test*_dmarc.good.test record: v=DMARC1; p=none;*_dmarc.news.good.test inherited from good.test: policy none for news.good.test (its p=, no sp=)*_dmarc.good.test rua: mailto:dmarc@return.t1.relay.test*good.test._report._dmarc.return.t1.relay.test present*_dmarc.news.good.test ok" \
  "inherited from good.test, its rua and report authorisation checked"
authctl dmarc check t1 a.b.sp.test >"$TMPD/out" 2>&1; is "$?" 0 "two levels down: inherited too"
like "$(cat "$TMPD/out")" "*_dmarc.a.b.sp.test inherited from sp.test: policy quarantine for a.b.sp.test (its sp=)*" "the organisational domain's sp= applies"
authctl dmarc check t1 own.sp.test >"$TMPD/out" 2>&1; is "$?" 0 "a subdomain with its own record"
is "$(grep -c inherited "$TMPD/out") $(grep -c '^_dmarc.own.sp.test policy: p=none' "$TMPD/out")" "0 1" "uses its own, inherits nothing"
authctl dmarc check t1 x.none.test >"$TMPD/out" 2>&1; is "$?" 100 "no record here nor at the organisational domain: 100"
like "$(cat "$TMPD/out")" "*_dmarc.none.test absent: no DMARC record at the organisational domain either*_dmarc.x.none.test not as it should be" "says so"
authctl dmarc check t1 x.elsewhere.test >"$TMPD/out" 2>&1; is "$?" 100 "inherited, but the reports go elsewhere: 100"
like "$(cat "$TMPD/out")" "*inherited from elsewhere.test*_dmarc.elsewhere.test rua: reports do not come to*" "said why"
exit $failed
