/* classify.c: the rule engine (see classify.h).  Rule files are read and
   their PCRE2 patterns compiled (JIT when available) once by
   classify_load(); classify() builds the normalised subject of one reply
   and walks the rules in order.  No globals; a loaded set is read-only. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "classify.h"
#include "classify_lit.h"
#include "io.h"

#define ENH_MAX 512

#define PATS_PER_LINE 8

/* One compiled pattern, shared by every line that uses the same text. */
#define PIECES_MAX 128

/* A pattern whose top level is an alternation "a|b|c" is kept as one
   piece per alternative, each with its own prefilter: only the pieces
   whose literals occur in the subject run (a long alternation run as
   one regex tries every alternative at every position). */
struct piece {
  pcre2_code *re;          /* 0 when the piece is a plain phrase: */
  char *lit;               /* the phrase, lowercase, searched for directly */
  size_t litn;
  unsigned short *f1, *f2; /* prefilter sets (classify_lit.h), or 0 */
  unsigned id;             /* number in the index of first sets */
};

/* One pattern, shared by every line that uses the same text. */
struct pat {
  char *src;
  int n;
  struct piece *pc;
};

struct rule {
  int status;              /* CLASSIFY_*, or for stages an index into stage_names; -1: @enhanced */
  int line;
  const char *file;
  int n;                   /* patterns; all must match (those marked negated must not) */
  int ref[PATS_PER_LINE];  /* pattern index << 1 | negated */
};

struct enh {
  char cls;                /* '4', '5' or 'X' */
  unsigned subj, detail;
  int status;
};

#define DEFINES_MAX 256

struct classify {
  struct pat *pats;
  size_t npats;
  struct { char name[32]; int pat; } def[DEFINES_MAX];
  size_t ndefs;
  struct rule *rules;
  size_t nrules;
  struct rule *stages;
  size_t nstages;
  struct enh enh[ENH_MAX];
  size_t nenh;
  int has_directive;
  struct classify_lit_index index; /* the pieces' f1 sets by first gram */
  unsigned npieces;
};

static const char *const stage_names[] = { "conn", "helo", "mail", "rcpt", "data", 0 };

static int lc(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
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

static int valid_status(int s) { return (s >= 1 && s <= 9) || s == 99; }

static void say(char *err, size_t errn, const char *file, int line, const char *what)
{
  if (errn) snprintf(err, errn, "%s:%d: %s", file, line, what);
}

/* Read one "KEY<TAB>VALUE" file; fn(key, value) per line.  -1 on error. */
static int read_lines(const char *dir, const char *name, int optional,
                      int (*fn)(struct classify *, const char *, int, char *, char *, char *, size_t),
                      struct classify *c, char *err, size_t errn)
{
  char path[4096];
  struct buf b = BUF_ZERO;
  char *p, *end;
  int line = 0;
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
    say(err, errn, name, 0, "path too long");
    return errno = ENAMETOOLONG, -1;
  }
  if (file_read(path, &b, CLASSIFY_FILE_MAX) == -1) {
    int e = errno;
    buf_free(&b);
    if (optional && e == ENOENT) return 0;
    say(err, errn, path, 0, e == EFBIG ? "file too large" : strerror(e));
    return errno = e, -1;
  }
  p = b.s ? b.s : "";
  end = p + b.len;
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p)), *k, *v, *e;
    if (!nl) nl = end;
    *nl = 0;
    line++;
    if ((size_t)(nl - p) > CLASSIFY_LINE_MAX) {
      say(err, errn, name, line, "line too long");
      buf_free(&b);
      return errno = EINVAL, -1;
    }
    e = nl;
    while (e > p && is_ws((unsigned char)e[-1])) *--e = 0;
    k = p;
    while (*k == ' ' || *k == '\t') k++;
    p = nl + 1;
    if (!*k || *k == '#') continue;
    v = k;
    while (*v && *v != '\t' && *v != ' ') v++;
    if (*v) *v++ = 0;
    while (*v == '\t' || *v == ' ') v++;
    if (fn(c, name, line, k, v, err, errn) == -1) {
      buf_free(&b);
      return -1;
    }
  }
  buf_free(&b);
  return 0;
}

/* The index of pattern src, compiled on first use; -1 on error. */
/* Offsets of the top-level '|' of pat into cut[] (at most max); their
   number, or -1 when the pattern must not be split (inline options,
   back references, unbalanced groups). */
static int top_bars(const char *pat, size_t *cut, int max)
{
  size_t i, n = strlen(pat);
  int depth = 0, nc = 0;
  for (i = 0; i < n; i++) {
    char ch = pat[i];
    if (ch == '\\') {
      char e = i + 1 < n ? pat[i + 1] : 0;
      if ((e >= '1' && e <= '9') || e == 'k' || e == 'g' || e == 'Q') return -1;
      i++;
    } else if (ch == '[') {
      i++;
      if (i < n && pat[i] == '^') i++;
      if (i < n && pat[i] == ']') i++;
      while (i < n && pat[i] != ']') { if (pat[i] == '\\') i++; i++; }
    } else if (ch == '(') {
      if (i + 2 < n && pat[i + 1] == '?' && ((pat[i + 2] >= 'a' && pat[i + 2] <= 'z')
                                            || (pat[i + 2] >= 'A' && pat[i + 2] <= 'Z')
                                            || pat[i + 2] == '-' || pat[i + 2] == '^'
                                            || pat[i + 2] == '|'))
        return -1;                    /* (?i) (?x) (?|...) change more than one piece */
      depth++;
    } else if (ch == ')') {
      if (--depth < 0) return -1;
    } else if (ch == '|' && depth == 0) {
      if (nc >= max) return -1;
      cut[nc++] = i;
    }
  }
  return depth ? -1 : nc;
}

/* Is pattern p a plain phrase (letters, digits, spaces, punctuation that
   is not special, or escaped)?  1 with the phrase, lowercase, in *lit. */
static int plain(const char *p, char **lit, size_t *ln)
{
  size_t i, o = 0, n = strlen(p);
  char *l;
  *lit = 0;
  if (n < 3) return 0;
  for (i = 0; i < n; i++)
    if (p[i] == '\\') {
      if (i + 1 >= n || isalnum((unsigned char)p[i + 1]) || (unsigned char)p[i + 1] >= 0x80) return 0;
      i++;
    } else if (strchr("^$.|?*+()[]{}", p[i]))
      return 0;
  if (!(l = malloc(n + 1))) return 1;       /* ENOMEM shows as no phrase */
  for (i = 0; i < n; i++) {
    if (p[i] == '\\') i++;
    l[o++] = (char)lc((unsigned char)p[i]);
  }
  l[o] = 0;
  *lit = l;
  *ln = o;
  return 1;
}

static void literals_or_none(struct piece *pc, const char *src)
{
  classify_lit_sets(src, &pc->f1, &pc->f2);
}

static int piece(struct piece *pc, const char *file, int line, const char *src, size_t len,
                 char *err, size_t errn)
{
  int ec;
  PCRE2_SIZE off;
  char *one = malloc(len + 1);
  if (!one) return -1;
  memcpy(one, src, len);
  one[len] = 0;
  if (plain(one, &pc->lit, &pc->litn)) {
    /* a phrase: found by a caseless search, no regex at all */
    literals_or_none(pc, one);
    free(one);
    return pc->lit ? 0 : -1;
  }
  pc->re = pcre2_compile((PCRE2_SPTR)one, len, PCRE2_CASELESS, &ec, &off, 0);
  if (!pc->re) {
    char msg[160], m2[200];
    pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg, sizeof msg);
    snprintf(m2, sizeof m2, "bad pattern: %s", msg);
    say(err, errn, file, line, m2);
    free(one);
    return errno = EINVAL, -1;
  }
  /* JIT pays where the interpreter backtracks; a plain phrase it finds
     nearly as fast, and compiling it would only slow the start */
  if (strpbrk(one, "\\^$.|?*+()[]{}")) pcre2_jit_compile(pc->re, PCRE2_JIT_COMPLETE);
  classify_lit_sets(one, &pc->f1, &pc->f2);
  free(one);
  return 0;
}

static void pat_free(struct pat *p)
{
  int i;
  for (i = 0; i < p->n; i++) {
    if (p->pc[i].re) pcre2_code_free(p->pc[i].re);
    free(p->pc[i].lit);
    free(p->pc[i].f1);
    free(p->pc[i].f2);
  }
  free(p->pc);
  free(p->src);
}

/* The index of pattern src, compiled on first use; -1 on error. */
static int pattern(struct classify *c, const char *file, int line, const char *src,
                   char *err, size_t errn)
{
  struct pat *p;
  size_t i, cut[PIECES_MAX], from;
  int nb, k, ec;
  PCRE2_SIZE off;
  pcre2_code *whole;
  for (i = 0; i < c->npats; i++)
    if (!strcmp(c->pats[i].src, src)) return (int)i;
  if (c->npats >= CLASSIFY_RULES_MAX) {
    say(err, errn, file, line, "too many patterns");
    return errno = E2BIG, -1;
  }
  if (c->npats % 64 == 0) {
    p = realloc(c->pats, (c->npats + 64) * sizeof *p);
    if (!p) return -1;
    c->pats = p;
  }
  p = &c->pats[c->npats];
  memset(p, 0, sizeof *p);
  nb = top_bars(src, cut, PIECES_MAX - 1);
  if (nb < 0) nb = 0, cut[0] = strlen(src);
  else cut[nb] = strlen(src);
  if ((p->src = strdup(src)) == 0 || (p->pc = calloc((size_t)nb + 1, sizeof *p->pc)) == 0) {
    free(p->src);
    return -1;
  }
  for (from = 0, k = 0; k <= nb; k++) {
    if (piece(&p->pc[k], file, line, src + from, cut[k] - from, err, errn) == -1) {
      int e = errno;
      p->n = k;
      pat_free(p);
      /* the whole pattern says where it is wrong */
      if (e == EINVAL
          && (whole = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, PCRE2_CASELESS, &ec, &off, 0)) == 0) {
        char msg[160], m2[200];
        pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg, sizeof msg);
        snprintf(m2, sizeof m2, "bad pattern at offset %lu: %s", (unsigned long)off, msg);
        say(err, errn, file, line, m2);
      } else if (e == EINVAL)
        pcre2_code_free(whole);
      return errno = e, -1;
    }
    from = cut[k] + 1;
  }
  p->n = nb + 1;
  return (int)c->npats++;
}

static int grow(struct rule **v, size_t n)
{
  struct rule *p;
  if (n >= CLASSIFY_RULES_MAX) return errno = E2BIG, -1;
  if (n % 64) return 0;
  p = realloc(*v, (n + 64) * sizeof *p);
  if (!p) return -1;
  *v = p;
  return 0;
}

/* The patterns of val (separated by tabs, "!" before one negates it). */
static int patterns(struct classify *c, struct rule *r, const char *file, int line, char *val,
                    char *err, size_t errn)
{
  char *p = val;
  r->n = 0;
  while (*p) {
    char *tab = strchr(p, '\t');
    int neg = 0, k;
    if (tab) *tab = 0;
    if (*p == '!') { neg = 1; p++; }
    if (*p) {
      if (r->n >= PATS_PER_LINE) { say(err, errn, file, line, "too many patterns on a line"); return errno = EINVAL, -1; }
      if (*p == '@') {                /* a pattern defined by "@define NAME PATTERN" */
        size_t d;
        for (d = 0; d < c->ndefs && strcmp(c->def[d].name, p + 1); d++) ;
        if (d == c->ndefs) { say(err, errn, file, line, "undefined pattern name"); return errno = EINVAL, -1; }
        k = c->def[d].pat;
      } else if ((k = pattern(c, file, line, p, err, errn)) == -1)
        return -1;
      r->ref[r->n++] = k << 1 | neg;
    }
    if (!tab) break;
    p = tab + 1;
    while (*p == '\t') p++;
  }
  if (!r->n) { say(err, errn, file, line, "no pattern"); return errno = EINVAL, -1; }
  return 0;
}

static int add_rule(struct classify *c, const char *file, int line, char *key, char *val,
                    char *err, size_t errn)
{
  struct rule *r;
  char *end;
  long s;
  if (grow(&c->rules, c->nrules) == -1) { say(err, errn, file, line, "too many rules"); return -1; }
  r = &c->rules[c->nrules];
  memset(r, 0, sizeof *r);
  r->file = file;
  r->line = line;
  if (!strcmp(key, "@define")) {       /* "@define NAME<TAB>PATTERN" */
    char *tab = val;
    int k;
    size_t d;
    while (*tab && *tab != '\t' && *tab != ' ') tab++;
    if (!*tab || tab == val || (size_t)(tab - val) >= sizeof c->def[0].name || c->ndefs >= DEFINES_MAX) {
      say(err, errn, file, line, "want @define NAME<TAB>PATTERN");
      return errno = EINVAL, -1;
    }
    *tab++ = 0;
    while (*tab == '\t' || *tab == ' ') tab++;
    for (d = 0; d < c->ndefs; d++)
      if (!strcmp(c->def[d].name, val)) { say(err, errn, file, line, "name defined twice"); return errno = EINVAL, -1; }
    if (!*tab || (k = pattern(c, file, line, tab, err, errn)) == -1) {
      if (!*tab) say(err, errn, file, line, "want @define NAME<TAB>PATTERN");
      return errno = errno ? errno : EINVAL, -1;
    }
    memcpy(c->def[c->ndefs].name, val, strlen(val) + 1);
    c->def[c->ndefs++].pat = k;
    return 0;
  }
  if (!strcmp(key, "@enhanced")) {
    r->status = -1;
    c->has_directive = 1;
    c->nrules++;
    return 0;
  }
  s = strtol(key, &end, 10);
  if (*end || end == key || !valid_status((int)s) || !*val) {
    say(err, errn, file, line, "want STATUS<TAB>PATTERN, STATUS one of 1-9, 99");
    return errno = EINVAL, -1;
  }
  if (patterns(c, r, file, line, val, err, errn) == -1) return -1;
  r->status = (int)s;
  c->nrules++;
  return 0;
}

static int add_stage(struct classify *c, const char *file, int line, char *key, char *val,
                     char *err, size_t errn)
{
  struct rule *r;
  int i;
  for (i = 0; stage_names[i]; i++) {
    const char *a = stage_names[i], *b = key;
    while (*a && lc((unsigned char)*b) == *a) a++, b++;
    if (!*a && !*b) break;
  }
  if (!stage_names[i] || !*val) {
    say(err, errn, file, line, "want STAGE<TAB>PATTERN, STAGE one of conn helo mail rcpt data");
    return errno = EINVAL, -1;
  }
  if (grow(&c->stages, c->nstages) == -1) { say(err, errn, file, line, "too many rules"); return -1; }
  r = &c->stages[c->nstages];
  memset(r, 0, sizeof *r);
  r->file = file;
  r->line = line;
  if (patterns(c, r, file, line, val, err, errn) == -1) return -1;
  r->status = i;
  c->nstages++;
  return 0;
}

/* "5.1.1" or "X.1.1" into e; 1 ok. */
static int parse_enh(const char *s, char *cls, unsigned *subj, unsigned *detail)
{
  char *end;
  unsigned long a, b;
  if (!(s[0] == '2' || s[0] == '4' || s[0] == '5' || s[0] == 'X' || s[0] == 'x') || s[1] != '.')
    return 0;
  if (!is_digit((unsigned char)s[2])) return 0;
  a = strtoul(s + 2, &end, 10);
  if (*end != '.' || a > 999 || !is_digit((unsigned char)end[1])) return 0;
  b = strtoul(end + 1, &end, 10);
  if (*end || b > 999) return 0;
  *cls = s[0] == 'x' ? 'X' : s[0];
  *subj = (unsigned)a;
  *detail = (unsigned)b;
  return 1;
}

static int add_enh(struct classify *c, const char *file, int line, char *key, char *val,
                   char *err, size_t errn)
{
  struct enh *e;
  char *end;
  long s = strtol(val, &end, 10);
  if (c->nenh >= ENH_MAX) { say(err, errn, file, line, "too many entries"); return errno = E2BIG, -1; }
  e = &c->enh[c->nenh];
  if (!parse_enh(key, &e->cls, &e->subj, &e->detail) || *end || end == val || !valid_status((int)s)) {
    say(err, errn, file, line, "want X.Y.Z<TAB>STATUS");
    return errno = EINVAL, -1;
  }
  e->status = (int)s;
  c->nenh++;
  return 0;
}

void classify_free(struct classify *c)
{
  size_t i;
  if (!c) return;
  for (i = 0; i < c->npats; i++) pat_free(&c->pats[i]);
  free(c->pats);
  classify_lit_index_free(&c->index);
  free(c->rules);
  free(c->stages);
  free(c);
}

int classify_load(struct classify **cp, const char *dir, char *err, size_t errn)
{
  struct classify *c = calloc(1, sizeof *c);
  size_t shipped = 0;
  int e;
  if (errn) err[0] = 0;
  if (!c) return -1;
  /* `local' comes first in the order but is read second, so that it can
     use the names `rules' defines */
  if (read_lines(dir, "rules", 0, add_rule, c, err, errn) == -1
      || (shipped = c->nrules, read_lines(dir, "local", 1, add_rule, c, err, errn)) == -1
      || read_lines(dir, "enhanced", 0, add_enh, c, err, errn) == -1
      || read_lines(dir, "stages", 1, add_stage, c, err, errn) == -1) {
    e = errno;
    classify_free(c);
    return errno = e, -1;
  }
  {
    /* number the pieces and index their first sets */
    unsigned short **sets;
    size_t i;
    int k;
    for (i = 0; i < c->npats; i++) c->npieces += (unsigned)c->pats[i].n;
    if (!(sets = calloc(c->npieces + 1, sizeof *sets))) { classify_free(c); return errno = ENOMEM, -1; }
    c->npieces = 0;
    for (i = 0; i < c->npats; i++)
      for (k = 0; k < c->pats[i].n; k++) {
        c->pats[i].pc[k].id = c->npieces;
        sets[c->npieces++] = c->pats[i].pc[k].f1;
      }
    e = classify_lit_index(&c->index, sets, c->npieces);
    free(sets);
    if (e == -1) { classify_free(c); return errno = ENOMEM, -1; }
  }
  if (shipped < c->nrules) {
    struct rule *v = malloc(c->nrules * sizeof *v);
    if (!v) { classify_free(c); return errno = ENOMEM, -1; }
    memcpy(v, c->rules + shipped, (c->nrules - shipped) * sizeof *v);
    memcpy(v + (c->nrules - shipped), c->rules, shipped * sizeof *v);
    memcpy(c->rules, v, c->nrules * sizeof *v);
    free(v);
  }
  *cp = c;
  return 0;
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
  if (!enh[0] || !parse_enh(enh, &cls, &s, &d)) return -1;
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
    if (m >= 0) scopy(out->stage, sizeof out->stage, stage_names[c->stages[m].status]);
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
