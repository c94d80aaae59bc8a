/* classify.c: the rule engine's matching (see classify.h): classify()
   builds the normalised subject of one reply and walks the rules of a
   set loaded by classify_load() (classify_load.c) in order, prefilters
   first.  No globals; a loaded set is read-only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "classify.h"
#include "classify_lit.h"
#include "classify_rules.h"

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

const char *classify_name(int status)
{
  switch (status) {
  case 0: return "success";
  case 1: return "host unknown";
  case 2: return "user unknown";
  case 3: return "retry timeout";
  case 4: return "refused by recipient policy";
  case 5: return "mailbox or disk full";
  case 6: return "forwarding error";
  case 7: return "receiving server error";
  case 8: return "message too large";
  case 9: return "malformed address";
  case 10: return "suppressed address";
  case 11: return "unsubscribed";
  default: return "other permanent error";
  }
}

/* ---- matching ---- */

/* A reply code at t[i] ("550 ", "550-", "#550"): its value, else 0. */
static int code_at(const char *t, size_t n, size_t i)
{
  int prev = i ? (unsigned char)t[i - 1] : ' ';
  if (i + 3 > n || t[i] < '2' || t[i] > '5' || t[i] == '3') return 0;
  if (!is_digit((unsigned char)t[i + 1]) || !is_digit((unsigned char)t[i + 2])) return 0;
  if (i + 3 < n && !strchr(" -:)]'\",;", t[i + 3])) return 0;
  if (i && !strchr(" ([:'\"#<", prev)) return 0;
  return (t[i] - '0') * 100 + (t[i + 1] - '0') * 10 + (t[i + 2] - '0');
}

/* An enhanced status X.Y.Z at t[i]: its length, else 0. */
static size_t enh_at(const char *t, size_t n, size_t i)
{
  int prev = i ? (unsigned char)t[i - 1] : ' ';
  size_t j, k;
  if (t[i] != '2' && t[i] != '4' && t[i] != '5') return 0;
  if (is_digit(prev) || prev == '.' || i + 4 >= n || t[i + 1] != '.') return 0;
  for (j = i + 2; j < n && is_digit((unsigned char)t[j]) && j - i < 6; j++) ;
  if (j == i + 2 || j >= n || t[j] != '.' || j + 1 >= n || !is_digit((unsigned char)t[j + 1])) return 0;
  for (k = j + 1; k < n && is_digit((unsigned char)t[k]) && k - j < 5; k++) ;
  if (k < n && is_digit((unsigned char)t[k])) return 0;
  if (k + 1 < n && t[k] == '.' && is_digit((unsigned char)t[k + 1])) return 0;  /* an IP address */
  return k - i;
}

void classify_codes(const char *t, int *code, char enhanced[16])
{
  size_t i, n = strlen(t), el;
  int c2 = 0;
  char e2[16] = "";
  *code = 0;
  enhanced[0] = 0;
  /* the first 4xx/5xx ones; a 2xx one only when there is no other */
  for (i = 0; i < n && (!*code || !enhanced[0]); i++) {
    int c;
    if (t[i] != '2' && t[i] != '4' && t[i] != '5') continue;   /* the common case */
    if (!*code && (c = code_at(t, n, i)) != 0) {
      if (c >= 400) *code = c;
      else if (!c2) c2 = c;
      i += 2;
      continue;
    }
    if (!enhanced[0] && (el = enh_at(t, n, i)) != 0 && el < 16) {
      if (t[i] != '2') { memcpy(enhanced, t + i, el); enhanced[el] = 0; }
      else if (!e2[0]) { memcpy(e2, t + i, el); e2[el] = 0; }
      i += el - 1;
    }
  }
  if (!*code) *code = c2;
  if (!enhanced[0]) memcpy(enhanced, e2, sizeof e2);
}

/* dst = s, cut to fit (n > 0).  snprintf is slow on this path. */
static void scopy(char *dst, size_t n, const char *s)
{
  size_t l = strlen(s);
  if (l >= n) l = n - 1;
  memcpy(dst, s, l);
  dst[l] = 0;
}

/* The decimal digits of u (at most 10) into d; their number. */
static size_t digits(char *d, unsigned u)
{
  char t[12];
  size_t n = 0, i;
  do t[n++] = (char)('0' + u % 10); while ((u /= 10) && n < sizeof t);
  for (i = 0; i < n; i++) d[i] = t[n - 1 - i];
  return n;
}

/* out->why = "FILE:LINE" or a word and a value */
static void why(struct classify_out *out, const char *a, const char *b, int line)
{
  size_t n;
  scopy(out->why, sizeof out->why - 12, a);
  n = strlen(out->why);
  if (b) scopy(out->why + n, sizeof out->why - n, b);
  else if (line >= 0) {
    out->why[n++] = ':';
    n += digits(out->why + n, (unsigned)line);
    out->why[n] = 0;
  }
}

/* The reply text on one line, with later continuation prefixes of the
   same reply ("550-5.7.1 ", "550 5.7.1 ", "550-") taken out. */
static size_t normalise(char *out, size_t outn, const char *t, int code)
{
  size_t i, o = 0, n = strlen(t);
  int sp = 0;
  char cc[8];
  cc[digits(cc, (unsigned)(code < 0 ? 0 : code) % 1000)] = 0;
  for (i = 0; i < n && o + 1 < outn; i++) {
    unsigned char ch = (unsigned char)t[i];
    if (is_ws(ch) || ch < 32) { sp = 1; continue; }
    if (sp && o) {
      /* " 550-..." or " 550 X.Y.Z" of the same reply: a continuation */
      if (code && i + 4 <= n && !memcmp(t + i, cc, 3) && (t[i + 3] == '-' || t[i + 3] == ' ')) {
        size_t j = i + 4;
        if (t[i + 3] == '-' || (j + 1 < n && is_digit((unsigned char)t[j]) && t[j + 1] == '.')) {
          if (j + 1 < n && is_digit((unsigned char)t[j]) && t[j + 1] == '.') {
            while (j < n && (is_digit((unsigned char)t[j]) || t[j] == '.')) j++;
          }
          i = j - 1;
          continue;
        }
      }
      if (o + 2 >= outn) break;
      out[o++] = ' ';
    }
    sp = 0;
    out[o++] = (char)ch;
  }
  out[o] = 0;
  return o;
}

/* What classify() knows about the current subject. */
struct subject {
  const char *s;
  size_t len;
  unsigned char bits[CLASSIFY_LIT_BITS / 8];
  unsigned char *cand;             /* per piece: a literal's first gram occurs */
  signed char *memo;               /* per pattern: -1 not run yet, 0, 1 */
  pcre2_match_data *md;
};

static int pat_match(const struct classify *c, struct subject *sb, int k)
{
  const struct pat *p = &c->pats[k];
  int i;
  if (sb->memo[k] >= 0) return sb->memo[k];
  sb->memo[k] = 0;
  for (i = 0; i < p->n; i++) {
    const struct piece *pc = &p->pc[i];
    if (pc->f1 && (!(sb->cand[pc->id >> 3] & (1u << (pc->id & 7)))
                   || !classify_lit_may(pc->f1, sb->bits)))
      continue;
    if (pc->f2 && !classify_lit_may(pc->f2, sb->bits)) continue;
    if (pc->re ? pcre2_match(pc->re, (PCRE2_SPTR)sb->s, sb->len, 0, 0, sb->md, 0) >= 0
               : classify_lit_find(sb->s, sb->len, pc->lit, pc->litn)) {
      sb->memo[k] = 1;
      break;
    }
  }
  return sb->memo[k];
}

/* First rule of v[from..n) that holds for the subject, or -1; -2 - i
   when the "@enhanced" directive at i comes first. */
static long first_match(const struct classify *c, const struct rule *v, size_t n,
                        struct subject *sb, size_t from)
{
  size_t i;
  int k;
  for (i = from; i < n; i++) {
    if (v[i].status == -1) return -2 - (long)i;
    /* the positive patterns first: a negated one is often the costly one */
    for (k = 0; k < v[i].n; k++)
      if (!(v[i].ref[k] & 1) && !pat_match(c, sb, v[i].ref[k] >> 1)) break;
    if (k < v[i].n) continue;
    for (k = 0; k < v[i].n; k++)
      if ((v[i].ref[k] & 1) && pat_match(c, sb, v[i].ref[k] >> 1)) break;
    if (k == v[i].n) return (long)i;
  }
  return -1;
}


static int enh_lookup(const struct classify *c, const char *enh)
{
  char cls;
  unsigned s, d;
  size_t i;
  int best = -1;
  if (!enh[0] || !classify_enh_parse(enh, &cls, &s, &d)) return -1;
  for (i = 0; i < c->nenh; i++) {
    const struct enh *e = &c->enh[i];
    if (e->subj != s || e->detail != d) continue;
    if (e->cls == cls) return e->status;
    if (e->cls == 'X' && best < 0) best = e->status;
  }
  return best;
}


#define PREFIX_MAX 128                 /* "stage=S code=C ... text=" */
#define SUBJ_MAX (PREFIX_MAX + CLASSIFY_TEXT_MAX + 1 + CLASSIFY_TEXT_MAX)

/* Append s (at most max bytes) to *o, up to end; the new end. */
static char *put(char *o, const char *end, const char *s, size_t max)
{
  size_t n = strlen(s);
  if (n > max) n = max;
  if (n > (size_t)(end - o)) n = (size_t)(end - o);
  memcpy(o, s, n);
  return o + n;
}

int classify(const struct classify *c, const struct classify_in *in, struct classify_out *out)
{
  /* One buffer: PREFIX TEXT " " CONTEXT.  The stage is looked for in
     TEXT CONTEXT; the rules run over PREFIX TEXT, the prefix written in
     front once the stage is known.  The 3-gram bitmap is computed once,
     over all of it: for the rule subject that is a superset, which only
     lets the prefilter pass a little more. */
  char subj[SUBJ_MAX], pre[PREFIX_MAX], tenh[16], cbuf[8];
  signed char memo[CLASSIFY_RULES_MAX];
  struct subject sb;
  const char *t = in->text ? in->text : "", *dash = "-";
  char *body = subj + PREFIX_MAX, *o, *start;
  int tcode, cls;
  long m;
  size_t tlen, plen;
  memset(out, 0, sizeof *out);
  classify_codes(t, &tcode, tenh);
  out->code = in->code > 0 ? in->code : tcode;
  /* enhanced: the caller's; else the text's unless it says only X.0.0
     where the DSN Status says more; else the Status field */
  if (in->enhanced && in->enhanced[0]) scopy(out->enhanced, sizeof out->enhanced, in->enhanced);
  else if (tenh[0] && (!(in->status && in->status[0])
                       || strncmp(tenh + 1, ".0.0", 4) || tenh[5]))
    memcpy(out->enhanced, tenh, sizeof tenh);
  else if (in->status && in->status[0]) scopy(out->enhanced, sizeof out->enhanced, in->status);
  if (out->code && (out->code < 200 || out->code > 599)) out->code = 0;

  /* success is not an error, whatever the text says */
  cls = out->code ? out->code / 100 : out->enhanced[0] ? out->enhanced[0] - '0' : 0;
  if (cls == 2 && !(in->action && (!strcmp(in->action, "failed") || !strcmp(in->action, "delayed")))) {
    out->status = CLASSIFY_SUCCESS;
    why(out, "2xx", 0, -1);
    return 0;
  }

  tlen = normalise(body, CLASSIFY_TEXT_MAX, t, out->code);
  o = body + tlen;
  if (in->context && in->context[0] && !(in->stage && in->stage[0])) {
    *o++ = ' ';
    o = put(o, subj + sizeof subj - 1, in->context, CLASSIFY_TEXT_MAX);
  }
  *o = 0;
  sb.memo = memo;
  sb.s = body;
  sb.len = (size_t)(o - body);
  sb.md = pcre2_match_data_create(1, 0);
  if (!sb.md) return errno = ENOMEM, -1;
  if (!(sb.cand = malloc(c->npieces / 8 + 1))) { pcre2_match_data_free(sb.md); return errno = ENOMEM, -1; }
  /* case does not matter: a gram keeps 5 bits of each byte */
  classify_lit_scan(&c->index, sb.bits, sb.cand, body, sb.len, 0);

  /* the stage, from the caller, or from the reply ("550 <a@b>: User
     unknown") and the text around it ("(in reply to RCPT TO command)") */
  if (in->stage && in->stage[0]) scopy(out->stage, sizeof out->stage, in->stage);
  else if (c->nstages) {
    memset(memo, -1, c->npats);
    m = first_match(c, c->stages, c->nstages, &sb, 0);
    if (m >= 0) scopy(out->stage, sizeof out->stage, classify_stage_names[c->stages[m].status]);
  }

  /* the prefix, right in front of the text */
  if (out->code) cbuf[digits(cbuf, (unsigned)out->code)] = 0;
  o = pre;
  o = put(o, pre + sizeof pre, "stage=", 6);
  o = put(o, pre + sizeof pre, out->stage[0] ? out->stage : dash, 8);
  o = put(o, pre + sizeof pre, " code=", 6);
  o = put(o, pre + sizeof pre, out->code ? cbuf : dash, 3);
  o = put(o, pre + sizeof pre, " enh=", 5);
  o = put(o, pre + sizeof pre, out->enhanced[0] ? out->enhanced : dash, 15);
  o = put(o, pre + sizeof pre, " action=", 8);
  o = put(o, pre + sizeof pre, in->action && in->action[0] ? in->action : dash, 15);
  o = put(o, pre + sizeof pre, " type=", 6);
  o = put(o, pre + sizeof pre, in->dtype && in->dtype[0] ? in->dtype : dash, 15);
  o = put(o, pre + sizeof pre, " text=", 6);
  plen = (size_t)(o - pre);
  start = body - plen;
  memcpy(start, pre, plen);
  body[tlen] = 0;                         /* the context is not the rules' business */
  classify_lit_scan(&c->index, sb.bits, sb.cand, start, plen + (tlen < 2 ? tlen : 2), 1);
  sb.s = start;
  sb.len = plen + tlen;
  memset(memo, -1, c->npats);

  m = first_match(c, c->rules, c->nrules, &sb, 0);
  while (m <= -2) {                     /* the "@enhanced" directive */
    size_t at = (size_t)(-2 - m);
    int s = enh_lookup(c, out->enhanced);
    if (s > 0) {
      pcre2_match_data_free(sb.md);
      free(sb.cand);
      out->status = s;
      why(out, "enhanced:", out->enhanced, -1);
      return 0;
    }
    m = first_match(c, c->rules, c->nrules, &sb, at + 1);
  }
  pcre2_match_data_free(sb.md);
  free(sb.cand);
  if (m >= 0) {
    out->status = c->rules[m].status;
    why(out, c->rules[m].file, 0, c->rules[m].line);
    return 0;
  }
  if (!c->has_directive) {
    int s = enh_lookup(c, out->enhanced);
    if (s > 0) {
      out->status = s;
      why(out, "enhanced:", out->enhanced, -1);
      return 0;
    }
  }
  out->status = CLASSIFY_OTHER;
  why(out, "default", 0, -1);
  return 0;
}

int classify_reply_at(const struct classify *c, const char *stage, int code,
                      const char *enhanced, const char *text)
{
  struct classify_in in;
  struct classify_out out;
  memset(&in, 0, sizeof in);
  in.code = code;
  in.enhanced = enhanced;
  in.text = text;
  in.stage = stage;
  if (classify(c, &in, &out) == -1) return -1;
  return out.status;
}

int classify_reply(const struct classify *c, int code, const char *enhanced, const char *text)
{
  return classify_reply_at(c, 0, code, enhanced, text);
}
