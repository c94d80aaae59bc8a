#!/bin/sh
# Delivery settings from the shell (cmcctl): filter lists of every kind in
# order (add, replace in place, move, delete, list per composition); what
# is refused when saved and why (Received and other repeatable headers,
# patterns PCRE2 cannot compile, values out of range); the default speed,
# the sending-IP pool, the scalar settings with rules (timezone, received,
# retry period and interval, unsubscribe URL and address); every change
# moves the settings generation deliver watches; received goes into the
# access snapshot for smtp-recv.
. "${0%/*}/lib.sh"
plan 49
mkhome
C="$BIN/cmcctl"
"$C" tenant add acme || exit 1
err() { "$@" 2>&1 >/dev/null; echo "rc=$?"; }

# --- filters: the guide's examples are accepted
"$C" priority add acme confirm -h To -p '.+@example\.com' -P 90; is $? 0 "priority filter on To with the guide's pattern"
"$C" priority add acme campaign -h From -p '.*user-name@example\.com.*' -P 10; is $? 0 "priority filter on From with a display name pattern"
"$C" priority add acme subj -h subject -p 'a' -p 'b' -P 60; is $? 0 "several patterns OR-ed"
is "$("$C" priority list acme | cut -f1-3 | tr '\t\n' ' ;')" "default 1 confirm;default 2 campaign;default 3 subj;" "list in order"
is "$("$C" priority list acme | sed -n 3p | cut -f4)" "-h subject -p a -p b -P 60" "a filter reads back as its options"

# --- refused: repeatable headers, bad patterns, ranges
like "$(err "$C" priority add acme r -h Received -p '.*' -P 5)" \
  "*refused: header Received may occur several times in a message: it cannot be used in a filter*rc=100" \
  "a Received filter is refused with the reason"
like "$(err "$C" window add acme r -h x-received -p '.*' -w 01:00-02:00)" "*x-received may occur several times*rc=100" \
  "X-Received too, in any case"
like "$(err "$C" forward add acme r -h Resent-To -p '.*' -a a@b.test)" "*several times*rc=100" "Resent-* too"
like "$(err "$C" unsubscribe add acme r -h DKIM-Signature -p '.*')" "*several times*rc=100" "DKIM-Signature too"
like "$(err "$C" priority add acme bad -h Subject -p '(abc' -P 5)" \
  "*refused: pattern (abc: missing closing parenthesis at offset 4*rc=100" \
  "a pattern that does not compile: PCRE2's reason and offset"
like "$(err "$C" priority add acme bad -h Subject -p 'x' -P 100)" "*priority must be 1 to 99*rc=100" "priority 100 refused"
like "$(err "$C" priority add acme bad -h Subject -p 'x' -P 0)" "*priority must be 1 to 99*rc=100" "priority 0 refused"
like "$(err "$C" speed add acme bad -p '.+@a\.test' -m 101)" "*maximum connections must be 1 to 100*rc=100" "101 connections refused"
like "$(err "$C" speed add acme bad -p '.+@a\.test' -m 5 -i 5)" "*interval must be 0 (none) or 10 to 10000 ms*rc=100" "an interval of 5 ms refused"
like "$(err "$C" speed add acme bad -h From -p x -m 5)" "*a speed filter matches the destination address*rc=100" "speed filters take no header"
like "$(err "$C" window add acme bad -h Subject -p x -w 10:00-10:00)" "*want HH:MM-HH:MM*rc=100" "an empty window refused"
like "$(err "$C" window add acme bad -h Subject -p x -w 25:00-01:00)" "*want HH:MM-HH:MM*rc=100" "25:00 refused"
like "$(err "$C" forward add acme bad -h To -p x -a 'not an address')" "*bad forwarding address*rc=100" "a bad forwarding address refused"
like "$(err "$C" unsubscribe add acme bad -h List-Id -p "$(printf '%0101d' 0)")" "*longer than 100 bytes*rc=100" \
  "an unsubscribe pattern over 100 bytes refused"
like "$(err "$C" unsubscribe add acme "$(printf '%051d' 0)" -h List-Id -p x)" "*filter name longer than 50 bytes*rc=100" \
  "a filter name over 50 bytes refused"
like "$(err "$C" priority add nosuch x -h Subject -p x -P 5)" "*no such tenant*rc=100" "unknown tenant: 100"
is "$("$C" priority list acme | wc -l | tr -d ' ')" 3 "nothing refused was saved"

# --- replace in place, move, delete, compositions
"$C" priority add acme campaign -h From -p '.*news@example\.com.*' -P 20
is "$("$C" priority list acme | sed -n 2p | cut -f3-4)" "campaign	-h From -p .*news@example\\.com.* -P 20" "saving a name again replaces it where it stands"
"$C" priority move acme subj 1; is $? 0 "move"
is "$("$C" priority list acme | cut -f3 | tr '\n' ' ')" "subj confirm campaign " "moved to the front"
"$C" priority move acme subj 9; is "$("$C" priority list acme | cut -f3 | tr '\n' ' ')" "confirm campaign subj " "past the end: last"
"$C" priority del acme confirm; is "$("$C" priority list acme | cut -f2-3 | tr '\t\n' ' ;')" "1 campaign;2 subj;" "delete renumbers"
"$C" priority del acme confirm 2>/dev/null; is $? 0 "deleting a missing filter: 0 with a warning"
"$C" priority add acme -c bulk other -h X-Kind -p news -P 5
is "$("$C" priority list acme -c bulk | cut -f1,3 | tr '\t\n' ' ;')" "bulk other;" "per composition"
is "$("$C" priority list acme | wc -l | tr -d ' ')" 3 "list without -c: every composition"

# --- every kind
"$C" speed add acme carriers -p '.+@(docomo|ezweb)\.ne\.jp' -m 10 -i 200 -n 2; is $? 0 "speed filter"
"$C" window add acme night -h X-Kind -p campaign -x From -X '.*vip.*' -w 22:00-06:00 -w 12:00-13:00; is $? 0 "window filter crossing midnight, with an exclusion"
is "$("$C" window list acme | cut -f4)" "-h X-Kind -p campaign -x From -X .*vip.* -w 22:00-06:00 -w 12:00-13:00" "window reads back"
"$C" forward add acme keep -h X-Kind -p order -a archive@example.com -M copy; is $? 0 "forward (copy)"
"$C" unsubscribe add acme news -h List-Id -p '<news\.example\.com>'; is $? 0 "unsubscribe filter"
"$C" speed default acme -m 20 -i 50 -n 0; is "$("$C" speed default acme | cut -f2)" "-m 20 -i 50 -n 0" "default speed"

# --- sending IPs
"$C" ip add acme 127.0.0.2 && "$C" ip add acme 127.0.0.3 && "$C" ip add acme ::1; is $? 0 "sending IPs"
is "$("$C" ip list acme | cut -f2 | tr '\n' ' ')" "127.0.0.2 127.0.0.3 ::1 " "ip list"
like "$(err "$C" ip add acme 127.0.0.300)" "*not an IPv4 or IPv6 address*rc=100" "a bad IP refused"
"$C" ip del acme ::1; is "$("$C" ip list acme | wc -l | tr -d ' ')" 2 "ip del"

# --- scalar settings with rules
"$C" set acme timezone America/New_York; is $? 0 "timezone"
like "$(err "$C" set acme timezone Mars/Olympus)" "*unknown time zone*rc=100" "an unknown time zone refused"
like "$(err "$C" set acme timezone ../../etc/passwd)" "*unknown time zone*rc=100" "a path is no time zone"
like "$(err "$C" set acme received sometimes)" "*want abbreviated, normal, none or delete-all*rc=100" "received modes"
like "$(err "$C" set acme retry_period 30)" "*retry_period 30: want 60 to 432000 seconds*rc=100" "retry period range"
like "$(err "$C" set acme retry_interval 7200)" "*want 1 to 3600 seconds*rc=100" "retry interval range"
like "$(err "$C" set acme unsubscribe_url http://x.test/u)" "*want https://*rc=100" "unsubscribe URL must be https"
"$C" set acme received none && "$C" set acme -c bulk received delete-all
like "$(cat "$CMC_HOME/etc/access")" "*received	acme	bulk	delete-all
received	acme	default	none*" "received modes are in the access snapshot for smtp-recv"

# --- the generation moves with every change
g1=$("$C" generation)
"$C" set acme retry_interval 60
g2=$("$C" generation)
[ -n "$g1" ] && [ "$g2" -gt "$g1" ]; ok $? "a setting change moves the generation ($g1 -> $g2)"
exit $failed
