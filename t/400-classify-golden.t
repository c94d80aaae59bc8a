#!/bin/sh
# classify-bounce on t/data/classify/*.eml: each message gives the recipients
# and statuses of NAME.expect ("ADDRESS<TAB>STATUS" lines) or says it is not
# a bounce ("not a bounce: KIND") with exit 2; bounces exit 0.  The same
# messages as one mbox (-m) give the same lines.
. "${0%/*}/lib.sh"
D=$T/data/classify
set -- "$D"/*.eml
plan $(($# * 2 + 2))
RULES="-d $TOP/templates/classify"
for f in "$@"; do
  b=${f%.eml}
  got=$("$BIN/classify-bounce" $RULES "$f" 2>"$TMPD/err")
  rc=$?
  got=$(printf '%s\n' "$got" | awk -F'\t' '$1 == "-" { print $5; next } { print $1 "\t" $2 }')
  is "$got" "$(cat "$b.expect")" "${b##*/}: recipients and statuses"
  case $(cat "$b.expect") in
  "not a bounce"*) is "$rc $(cat "$TMPD/err")" "2 " "${b##*/}: exit 2, nothing on stderr" ;;
  *) is "$rc $(cat "$TMPD/err")" "0 " "${b##*/}: exit 0, nothing on stderr" ;;
  esac
done
# the same as an mbox
for f in "$@"; do
  printf 'From MAILER-DAEMON Thu Jan  1 00:00:00 2025\n'
  sed 's/^From />From /' "$f"
  printf '\n'
done >"$TMPD/all.mbox"
"$BIN/classify-bounce" $RULES -m "$TMPD/all.mbox" >"$TMPD/mbox.out" 2>"$TMPD/err"
is "$?" 2 "an mbox with some non-bounces exits 2"
i=0
for f in "$@"; do
  i=$((i + 1))
  awk -F'\t' -v n="$TMPD/all.mbox:$i" '$1 == n { if ($2 == "-") print $6; else print $2 "\t" $3 }' "$TMPD/mbox.out"
done >"$TMPD/mbox.got"
cat $(for f in "$@"; do printf '%s ' "${f%.eml}.expect"; done) >"$TMPD/mbox.want"
is "$(cat "$TMPD/mbox.got")" "$(cat "$TMPD/mbox.want")" "each message of the mbox gives what it gives alone"
exit $failed
