/* classify_load.c: reading a rule directory (see classify.h): the rule,
   local, enhanced and stages files, each line checked, its PCRE2 patterns
   compiled once (JIT when available; a top-level alternation kept as one
   piece per alternative, plain phrases as literals, each with its
   prefilter sets), and the pieces indexed by first gram.  The result is
   read-only; matching is in classify.c. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "classify.h"
#include "classify_lit.h"
#include "classify_rules.h"
#include "io.h"

const char *const classify_stage_names[] = { "conn", "helo", "mail", "rcpt", "data", 0 };

static int lc(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

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
  for (i = 0; classify_stage_names[i]; i++) {
    const char *a = classify_stage_names[i], *b = key;
    while (*a && lc((unsigned char)*b) == *a) a++, b++;
    if (!*a && !*b) break;
  }
  if (!classify_stage_names[i] || !*val) {
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
int classify_enh_parse(const char *s, char *cls, unsigned *subj, unsigned *detail)
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
  if (!classify_enh_parse(key, &e->cls, &e->subj, &e->detail) || *end || end == val || !valid_status((int)s)) {
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
