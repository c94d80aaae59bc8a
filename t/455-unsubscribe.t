#!/bin/sh
# One-click unsubscribe (RFC 8058): mail the unsubscribe filter takes goes
# out with List-Unsubscribe (the https URL and a mailto, each with a signed
# token for that recipient) and List-Unsubscribe-Post; other mail without.
# A real POST (curl) through a real web server (lighttpd, started here,
# running cgi-bin/unsubscribe) puts the recipient on the unsubscribe list;
# a GET only shows a confirmation page (escaped); a forged token is
# refused with 403, a missing one with 400; later mail the filter takes
# fails with status 11 without being sent, other mail still goes.  The
# mailto path: mail to the header's address, through the receiving server
# (smtp-recv -m), unsubscribes too.
. "${0%/*}/lib.sh"
[ -x /usr/sbin/lighttpd ] || skip_all "lighttpd is not installed"
command -v curl >/dev/null || skip_all "curl is not installed"
plan 20
mkhome
C="$BIN/cmcctl"
export CMC_HOSTNAME=relay.test
$C tenant add acme >/dev/null || exit 1
$C unsubscribe add acme news -h List-Id -p '<news\.shop\.test>' || exit 1
$C set acme unsubscribe_url https://unsub.acme.test/cgi-bin/unsubscribe || exit 1
start_dns --mx-host=w.test,mx.w.test,10 --host-record=mx.w.test,127.0.0.1
PORT=$(free_port); MX=$(free_port); WEB=$(free_port)
export CMC_REMOTE_PORT=$PORT
bg $PY "$T/data/recsink.py" "$TMPD/rec.log" "$TMPD/msgs" "$PORT"
bg tcpserver -q -R -H -c 20 127.0.0.1 "$MX" "$BIN/smtp-recv" -m 2>"$TMPD/mx.log"
bg deliver 2>"$TMPD/deliver.err"
wait_port "$PORT" && wait_port "$MX" || { echo "Bail out! servers did not start"; exit 1; }

inj() { printf "From: news@shop.test\n$1X-Seq: $2\nSubject: $2\n\nbody\n" | queue-inject -t acme -f news@shop.test "$3"; }
inj 'List-Id: <news.shop.test>\n' m1 "o'brien@w.test" >/dev/null
inj '' m2 plain@w.test >/dev/null
inj 'List-Id: <news.shop.test>\nList-Unsubscribe: <mailto:own@shop.test>\n' m3 mailto-user@w.test >/dev/null
wait_for 30 sh -c "[ \$(grep -c '^msg ' '$TMPD/rec.log') -ge 3 ]"
ok $? "three messages delivered"
copy() { grep -l "^X-Seq: $1" "$TMPD"/msgs/*.eml | head -1; }
hdr() { $PY - "$(copy "$1")" "$2" <<'PYEOF'
import sys, email
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
v = m.get_all(sys.argv[2]) or []
print("\n".join(" ".join(x.split()) for x in v))
PYEOF
}
lu1=$(hdr m1 List-Unsubscribe)
like "$lu1" "<https://unsub.acme.test/cgi-bin/unsubscribe?t=*>, <mailto:unsubscribe@*?subject=*>" \
  "List-Unsubscribe: the https URL and a mailto, each with a token"
is "$(hdr m1 List-Unsubscribe-Post)" "List-Unsubscribe=One-Click" "List-Unsubscribe-Post: List-Unsubscribe=One-Click"
is "$(hdr m2 List-Unsubscribe)$(hdr m2 List-Unsubscribe-Post)" "" "mail the filter does not take: no such fields"
lu3=$(hdr m3 List-Unsubscribe)
like "$lu3" "<https://*" "the application's own List-Unsubscribe is replaced"
is "$(hdr m3 List-Unsubscribe | wc -l | tr -d ' ')" 1 "and not doubled"
TOKEN=$(echo "$lu1" | sed 's/.*?t=\([^>]*\)>.*/\1/')
MTOKEN=$(echo "$lu1" | sed 's/.*subject=\([^>]*\)>.*/\1/')
is "$MTOKEN" "$TOKEN" "the mailto carries the same token"

# a web server running the CGI
mkdir -p "$TMPD/www" && ln -s "$TOP/cgi-bin" "$TMPD/www/cgi-bin"
cat >"$TMPD/lighttpd.conf" <<EOF
server.document-root = "$TMPD/www"
server.bind = "127.0.0.1"
server.port = $WEB
server.modules = ( "mod_cgi", "mod_setenv" )
server.errorlog = "$TMPD/lighttpd.err"
server.breakagelog = "$TMPD/cgi.err"
setenv.add-environment = ( "CMC_HOME" => "$CMC_HOME" )
\$HTTP["url"] =~ "^/cgi-bin/" { cgi.assign = ( "" => "" ) }
EOF
bg /usr/sbin/lighttpd -D -f "$TMPD/lighttpd.conf" 2>>"$TMPD/lighttpd.err"
wait_port "$WEB" || { cat "$TMPD/lighttpd.err"; echo "Bail out! lighttpd did not start"; exit 1; }
URL="http://127.0.0.1:$WEB/cgi-bin/unsubscribe"
code() { curl -s -o "$TMPD/body" -w '%{http_code}' "$@"; }

is "$(code "$URL?t=$TOKEN")" 200 "GET: 200"
like "$(cat "$TMPD/body")" "*o&#39;brien@w.test*<form method=\"post\"*" "a confirmation page with a POST form, the address escaped"
is "$($C unsubscribed list acme | wc -l | tr -d ' ')" 0 "a GET unsubscribes nobody"

FORGED=$(echo "$TOKEN" | $PY -c 'import sys; t = sys.stdin.read().strip(); print(t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1])')
is "$(code -X POST -d List-Unsubscribe=One-Click "$URL?t=$FORGED")" 403 "a forged token: 403"
is "$(code -X POST -H 'Accept: application/json' -d List-Unsubscribe=One-Click "$URL")" 400 "no token: 400"
like "$(cat "$TMPD/body")" '{"error":*}*' "errors in JSON when asked for"
is "$(code -X POST -d List-Unsubscribe=One-Click "$URL?t=$TOKEN")" 200 "the one-click POST: 200"
like "$($C unsubscribed list acme | cut -f1-3)" "default	o'brien@w.test	news" "the recipient is on the unsubscribe list for filter news"
like "$(cat "$TMPD/cgi.err" "$TMPD/lighttpd.err" 2>/dev/null)" "*unsubscribe tenant=acme comp=default filter=\"news\" rcpt=o'brien@w.test*" \
  "the CGI logged it"

inj 'List-Id: <news.shop.test>\n' m4 "o'brien@w.test" >"$TMPD/id4"
inj '' m5 "o'brien@w.test" >/dev/null
wait_for 30 sh -c "grep -q ' m5\$' '$TMPD/rec.log'"
ok $? "later mail the filter does not take still goes"
like "$($C events acme "$(cat "$TMPD/id4")" | cut -f2,3 | tr '\t\n' ' ;')" "*failed 11;*" "later mail the filter takes: failed, status 11"
grep -q ' m4$' "$TMPD/rec.log"; is $? 1 "and it was not sent"

# the mailto: to the header's address, through the receiving server
MAILTO=$(echo "$lu3" | sed 's/.*<mailto:\([^?]*\)?subject=\([^>]*\)>.*/\1 \2/')
$PY - "$MX" $MAILTO <<'PYEOF'
import smtplib, sys
port, to, tok = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = smtplib.SMTP("127.0.0.1", port)
s.sendmail("mailto-user@w.test", [to], "From: mailto-user@w.test\r\nTo: %s\r\nSubject: %s\r\n\r\n\r\n" % (to, tok))
s.quit()
PYEOF
wait_for 20 sh -c "$C unsubscribed list acme | grep -q mailto-user@w.test"
ok $? "mail to the List-Unsubscribe mailto unsubscribes its recipient"
exit $failed
