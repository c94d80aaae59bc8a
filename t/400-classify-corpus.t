#!/bin/sh
# classify-bounce on the dev half of the bounce corpus ($TOP/../shared/bounces):
# agreement with dev-labels.tsv.  The evaluation (shared/bounces/README.md)
# scores the label_source=s4 files against the `code' column (strict); the
# lenient figure also accepts the `alternates'.  A file counts as agreeing
# when classify-bounce reports at least one recipient and every recipient
# line carries an accepted status.  Fails below 95%.
. "${0%/*}/lib.sh"
CORPUS=$TOP/../shared/bounces
[ -f "$CORPUS/dev-labels.tsv" ] && [ -d "$CORPUS/dev" ] \
  || skip_all "no bounce corpus at $CORPUS (shared/bounces beside the checkout)"
plan 5

OUT=$TMPD/out.tsv
(cd "$CORPUS/dev" && "$BIN/classify-bounce" -d "$TOP/templates/classify" *.eml) >"$OUT" 2>"$TMPD/err"
is "$?" 0 "classify-bounce classifies every file of the corpus (exit 0)"
is "$(cat "$TMPD/err")" "" "no diagnostics on stderr"

# file <TAB> rcpt <TAB> status <TAB> code <TAB> enhanced <TAB> diagnostic
awk -F'\t' -v out="$TMPD/score" '
FNR == NR { if ($0 ~ /^#/) next; code[$1] = $2; alt[$1] = $3; src[$1] = $5; next }
{
  f = $1; lines[f]++
  if ($3 != code[f]) bad[f] = 1
  ok = ($3 == code[f])
  n = split(alt[f], a, ",")
  for (i = 1; i <= n; i++) if (a[i] == $3) ok = 1
  if (!ok) lbad[f] = 1
}
END {
  for (f in code) {
    all++
    if (lines[f] && !bad[f]) allok++
    if (src[f] != "s4") continue
    t++
    if (lines[f] && !bad[f]) s++; else miss = miss " " f
    if (lines[f] && !lbad[f]) l++
    if (!lines[f]) none++
  }
  printf "%d %d %d %d %d %d %d\n", s, l, t, allok, all, none + 0, 0 > out
  printf "# accuracy: %d/%d = %.1f%% (strict: label_source s4, the evaluation)\n", s, t, 100 * s / t
  printf "# accuracy (lenient, alternates accepted): %d/%d = %.1f%%\n", l, t, 100 * l / t
  printf "# accuracy over all %d files (s4 and v5, strict): %d/%d = %.1f%%\n", all, allok, all, 100 * allok / all
  printf "# disagreeing (strict, s4):%s\n", miss
}' "$CORPUS/dev-labels.tsv" "$OUT"
read S L N ALLOK ALL NONE _ <"$TMPD/score"
is "$NONE" 0 "every s4 file gives at least one recipient line"
ok "$([ $((S * 1000 / N)) -ge 950 ] && echo 0 || echo 1)" "strict accuracy $S/$N is at least 95%"
ok "$([ $((L * 1000 / N)) -ge 950 ] && echo 0 || echo 1)" "lenient accuracy $L/$N is at least 95%"
exit $failed
