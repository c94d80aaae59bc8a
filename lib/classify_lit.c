/* classify_lit.c: the prefilter of the rule engine (see classify_lit.h):
   which literals every match of a pattern must contain, and whether the
   subject can contain them, decided from a bitmap of its 3-byte grams. */
#include <stdlib.h>
#include <string.h>
#include "classify_lit.h"

static int lc(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* ---- prefilter ----
   For each pattern, a set of lowercase literals of which every match
   contains at least one ("user unknown|no such user" gives both;
   "^stage=data .*(?:a|b)" gives "stage=data ").  classify() keeps a
   bitmap of the 3-byte sequences of the subject; a pattern none of whose
   literals can occur is not run.  Conservative: a pattern the analysis
   does not understand has no set and always runs. */

#define LIT_MAX  64             /* literals in one set */
#define LIT_LEN  48             /* bytes kept of one literal */

struct cond {
  int any;                      /* no constraint known */
  int n;
  char lit[LIT_MAX][LIT_LEN + 1];
};

static int lit_char(int c)
{
  return c && !strchr("\\^$.|?*+()[]{}", c);
}

/* After an atom at *i: skip a quantifier; 1 if it allows zero. */
static int quant(const char *p, size_t *i, size_t n)
{
  int opt = 0;
  if (*i >= n) return 0;
  if (p[*i] == '?' || p[*i] == '*') { opt = 1; (*i)++; }
  else if (p[*i] == '+') (*i)++;
  else if (p[*i] == '{') {
    size_t j = *i + 1;
    if (j < n && p[j] == '0') opt = 1;
    while (j < n && p[j] != '}') j++;
    if (j < n) *i = j + 1;
    else return 0;
    opt = opt || 0;
  } else return 0;
  if (*i < n && (p[*i] == '?' || p[*i] == '+')) (*i)++;   /* lazy, possessive */
  return opt;
}

/* Text every subject contains: a literal inside it filters nothing. */
static const char always[] = " stage= code= enh= action= type= text= ";

/* Words in nearly every bounce: poor filters. */
static const char *const common[] = {
  "mail", "message", "user", "recipient", "address", "account", "delivery",
  "deliver", "server", "domain", "error", "host", "the", "your", "this", "from",
  "sender", "email", "e-mail", "not", "for", "and", "smtp", "mailbox", 0
};

static int score(const struct cond *c)
{
  int i, k, min = 1000;
  if (c->any || !c->n) return -1;
  for (i = 0; i < c->n; i++) {
    const char *w = c->lit[i];
    int l = (int)strlen(w);
    if (strstr(always, w)) return -1;
    while (*w == ' ') w++, l--;
    while (l > 0 && w[l - 1] == ' ') l--;
    for (k = 0; common[k]; k++)
      if ((int)strlen(common[k]) == l && !memcmp(common[k], w, (size_t)l)) { l = 2; break; }
    if (l < min) min = l;
  }
  return min * 1000 - c->n;
}

/* Keep the best two candidates: any match contains a literal of each. */
static void take_best(struct cond *best, struct cond *second, const struct cond *c)
{
  int sc = score(c);
  if (sc > score(best)) {
    if (second) memcpy(second, best, sizeof *c);
    memcpy(best, c, sizeof *c);
  } else if (second && sc > score(second))
    memcpy(second, c, sizeof *c);
}

static void flush(struct cond *best, struct cond *second, char *run, size_t *rl, struct cond *tmp)
{
  if (*rl >= 3) {
    tmp->any = 0;
    tmp->n = 1;
    memcpy(tmp->lit[0], run, *rl > LIT_LEN ? LIT_LEN : *rl);
    tmp->lit[0][*rl > LIT_LEN ? LIT_LEN : *rl] = 0;
    take_best(best, second, tmp);
  }
  *rl = 0;
}

static void skip_group(const char *p, size_t *i, size_t n)
{
  int depth = 0;
  for (; *i < n; (*i)++) {
    if (p[*i] == '\\') { (*i)++; continue; }
    if (p[*i] == '[') {
      (*i)++;
      if (*i < n && p[*i] == '^') (*i)++;
      if (*i < n && p[*i] == ']') (*i)++;
      while (*i < n && p[*i] != ']') { if (p[*i] == '\\') (*i)++; (*i)++; }
      continue;
    }
    if (p[*i] == '(') depth++;
    else if (p[*i] == ')' && --depth == 0) { (*i)++; return; }
  }
}

static void alt(const char *p, size_t *i, size_t n, struct cond *out, int level);

/* One alternative: the best literal set of its parts. */
static void seq(const char *p, size_t *i, size_t n, struct cond *best, struct cond *second, int level)
{
  char run[LIT_LEN + 1];
  size_t rl = 0;
  struct cond *tmp = malloc(sizeof *tmp);
  best->any = 1;
  best->n = 0;
  if (second) { second->any = 1; second->n = 0; }
  if (!tmp) return;
  while (*i < n && p[*i] != '|' && p[*i] != ')') {
    int c = (unsigned char)p[*i], ch;
    if (c == '(') {
      flush(best, second, run, &rl, tmp);
      if (*i + 1 < n && p[*i + 1] == '?') {
        char k = *i + 2 < n ? p[*i + 2] : 0, k2 = *i + 3 < n ? p[*i + 3] : 0;
        if (k == '=' || k == '!' || (k == '<' && (k2 == '=' || k2 == '!'))) {
          skip_group(p, i, n);          /* look-around: matches nothing */
          continue;
        }
        if (k == ':' || k == '>') *i += 3;
        else { skip_group(p, i, n); quant(p, i, n); continue; }   /* flags, names: not understood */
      } else (*i)++;
      if (level < 8) alt(p, i, n, tmp, level + 1);
      else { tmp->any = 1; while (*i < n && p[*i] != ')') (*i)++; }
      if (*i < n && p[*i] == ')') (*i)++;
      if (!quant(p, i, n)) take_best(best, second, tmp);
      continue;
    }
    if (c == '[') {
      flush(best, second, run, &rl, tmp);
      (*i)++;
      if (*i < n && p[*i] == '^') (*i)++;
      if (*i < n && p[*i] == ']') (*i)++;
      while (*i < n && p[*i] != ']') { if (p[*i] == '\\') (*i)++; (*i)++; }
      if (*i < n) (*i)++;
      quant(p, i, n);
      continue;
    }
    if (c == '.') { flush(best, second, run, &rl, tmp); (*i)++; quant(p, i, n); continue; }
    if (c == '^' || c == '$') { (*i)++; continue; }
    if (c == '*' || c == '+' || c == '?' || c == '{') { flush(best, second, run, &rl, tmp); quant(p, i, n); continue; }
    if (c == '\\') {
      int e = *i + 1 < n ? (unsigned char)p[*i + 1] : 0;
      if (e && strchr("bBAzZG", e)) { *i += 2; continue; }      /* zero width */
      if (!e || (e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9')) {
        flush(best, second, run, &rl, tmp);     /* \d \s \x.. \p{..}: some character */
        *i += 2;
        if (*i < n && p[*i] == '{') { while (*i < n && p[*i] != '}') (*i)++; if (*i < n) (*i)++; }
        quant(p, i, n);
        continue;
      }
      ch = e;
      *i += 2;
    } else {
      if (!lit_char(c)) { flush(best, second, run, &rl, tmp); (*i)++; continue; }
      ch = c;
      (*i)++;
    }
    ch = lc(ch);
    if (*i < n && (p[*i] == '?' || p[*i] == '*' || p[*i] == '{')) {
      flush(best, second, run, &rl, tmp);       /* this character may be absent */
      quant(p, i, n);
      continue;
    }
    if (rl < LIT_LEN) run[rl++] = (char)ch;
    if (*i < n && p[*i] == '+') { flush(best, second, run, &rl, tmp); quant(p, i, n); }
  }
  flush(best, second, run, &rl, tmp);
  free(tmp);
}

/* Alternatives up to ')' or the end: the union of their sets. */
static void alt(const char *p, size_t *i, size_t n, struct cond *out, int level)
{
  struct cond *one = malloc(sizeof *one);
  out->any = 0;
  out->n = 0;
  if (!one) { out->any = 1; return; }
  for (;;) {
    int k;
    seq(p, i, n, one, 0, level);
    if (one->any || score(one) < 0 || out->n + one->n > LIT_MAX) out->any = 1;
    else
      for (k = 0; k < one->n; k++) memcpy(out->lit[out->n++], one->lit[k], LIT_LEN + 1);
    if (*i < n && p[*i] == '|') { (*i)++; continue; }
    break;
  }
  if (!out->n) out->any = 1;
  free(one);
}


/* Three bytes to a 15-bit index: 5 bits each, exact for letters. */
static unsigned gram(const unsigned char *p)
{
  return ((unsigned)(p[0] & 31) << 10) | ((unsigned)(p[1] & 31) << 5) | (p[2] & 31);
}

/* How common three characters are in English text, roughly: a rare gram
   is a good key.  Letters by their frequency rank, space and vowels
   heaviest. */
static int common_weight(const char *g)
{
  static const char order[] = " etaoinshrdlcumwfgypbvkjxqz";
  int w = 0, i;
  for (i = 0; i < 3; i++) {
    const char *q = g[i] ? strchr(order, lc((unsigned char)g[i])) : 0;
    w += q ? 27 - (int)(q - order) : 0;      /* digits, punctuation: rare */
  }
  return w;
}

/* A literal set as gram indexes: n, then per literal its gram count and
   grams.  malloc'd; 0 for no set. */
static unsigned short *serialise(const struct cond *c)
{
  size_t len = 1, o = 0;
  unsigned short *out;
  int k;
  if (c->any || score(c) < 0) return 0;
  for (k = 0; k < c->n; k++) len += 1 + strlen(c->lit[k]) - 2;
  if ((out = malloc(len * sizeof *out)) == 0) return 0;
  out[o++] = (unsigned short)c->n;
  for (k = 0; k < c->n; k++) {
    size_t l = strlen(c->lit[k]), i;
    size_t first = o + 1, best = 0;
    int bw = 1 << 30;
    out[o++] = (unsigned short)(l - 2);
    for (i = 0; i + 3 <= l; i++) {
      int w = common_weight(c->lit[k] + i);
      out[o++] = (unsigned short)gram((const unsigned char *)c->lit[k] + i);
      if (w < bw) { bw = w; best = i; }
    }
    /* the rarest-looking gram first: it is the one the index keys on
       and the first one tested */
    if (best) {
      unsigned short t = out[first];
      out[first] = out[first + best];
      out[first + best] = t;
    }
  }
  return out;
}

/* The prefilter of pattern pat: every match contains a literal of set
   *f1 and one of set *f2 (either 0: no constraint). */
void classify_lit_sets(const char *pat, unsigned short **f1, unsigned short **f2)
{
  struct cond *c = malloc(2 * sizeof *c);
  size_t i = 0, n = strlen(pat);
  *f1 = *f2 = 0;
  if (!c) return;
  seq(pat, &i, n, &c[0], &c[1], 0);
  if (i == n) {                       /* one sequence: two sets to pass */
    *f1 = serialise(&c[0]);
    if (*f1) *f2 = serialise(&c[1]);
  } else {                            /* alternatives: the union of their sets */
    i = 0;
    alt(pat, &i, n, &c[0], 0);
    if (i == n) *f1 = serialise(&c[0]);
  }
  free(c);
}


void classify_lit_grams(unsigned char *bits, const char *s, size_t n)
{
  memset(bits, 0, CLASSIFY_LIT_BITS / 8);
  classify_lit_more(bits, s, n);
}

void classify_lit_more(unsigned char *bits, const char *s, size_t n)
{
  const unsigned char *u = (const unsigned char *)s;
  unsigned g;
  size_t i;
  if (n < 3) return;
  g = ((unsigned)(u[0] & 31) << 5) | (u[1] & 31);
  for (i = 2; i < n; i++) {
    g = ((g << 5) | (u[i] & 31)) & (CLASSIFY_LIT_BITS - 1);
    bits[g >> 3] |= (unsigned char)(1u << (g & 7));
  }
}

/* Can any literal of the set occur in the subject whose grams are bits? */
int classify_lit_may(const unsigned short *f, const unsigned char *bits)
{
  unsigned n = *f++, k, i;
  for (k = 0; k < n; k++) {
    unsigned ng = *f++;
    for (i = 0; i < ng; i++)
      if (!(bits[f[i] >> 3] & (1u << (f[i] & 7)))) break;
    if (i == ng) return 1;
    f += ng;
  }
  return 0;
}


int classify_lit_index(struct classify_lit_index *x, unsigned short *const *sets, unsigned n)
{
  unsigned i, total = 0, g;
  x->n = n;
  x->start = calloc(CLASSIFY_LIT_BITS + 1, sizeof *x->start);
  x->id = 0;
  if (!x->start) return -1;
  /* count, then fill: a literal's first gram is its first entry */
  for (i = 0; i < n; i++) {
    const unsigned short *f = sets[i];
    unsigned k, nl;
    if (!f) continue;
    nl = *f++;
    for (k = 0; k < nl; k++) {
      unsigned ng = *f++;
      if (ng) { x->start[f[0] + 1]++; total++; }
      f += ng;
    }
  }
  for (g = 0; g < CLASSIFY_LIT_BITS; g++) x->start[g + 1] += x->start[g];
  if (!(x->id = malloc((total ? total : 1) * sizeof *x->id))) { free(x->start); x->start = 0; return -1; }
  {
    unsigned *fill = calloc(CLASSIFY_LIT_BITS, sizeof *fill);
    if (!fill) { classify_lit_index_free(x); return -1; }
    for (i = 0; i < n; i++) {
      const unsigned short *f = sets[i];
      unsigned k, nl;
      if (!f) continue;
      nl = *f++;
      for (k = 0; k < nl; k++) {
        unsigned ng = *f++;
        if (ng) x->id[x->start[f[0]] + fill[f[0]]++] = i;
        f += ng;
      }
    }
    free(fill);
  }
  return 0;
}

void classify_lit_index_free(struct classify_lit_index *x)
{
  free(x->start);
  free(x->id);
  x->start = 0;
  x->id = 0;
}

void classify_lit_scan(const struct classify_lit_index *x, unsigned char *bits,
                       unsigned char *cand, const char *s, size_t n, int more)
{
  const unsigned char *u = (const unsigned char *)s;
  unsigned g;
  size_t i;
  if (!more) {
    memset(bits, 0, CLASSIFY_LIT_BITS / 8);
    memset(cand, 0, (x->n + 7) / 8);
  }
  if (n < 3) return;
  g = ((unsigned)(u[0] & 31) << 5) | (u[1] & 31);
  for (i = 2; i < n; i++) {
    unsigned char bit;
    g = ((g << 5) | (u[i] & 31)) & (CLASSIFY_LIT_BITS - 1);
    bit = (unsigned char)(1u << (g & 7));
    if (!(bits[g >> 3] & bit)) {
      unsigned k;
      bits[g >> 3] |= bit;             /* the first time this gram is seen */
      for (k = x->start[g]; k < x->start[g + 1]; k++)
        cand[x->id[k] >> 3] |= (unsigned char)(1u << (x->id[k] & 7));
    }
  }
}

int classify_lit_find(const char *h, size_t n, const char *lit, size_t ln)
{
  size_t i;
  int c0, u0;
  if (!ln) return 1;
  if (ln > n) return 0;
  c0 = (unsigned char)lit[0];
  u0 = c0 >= 'a' && c0 <= 'z' ? c0 - 32 : c0;
  for (i = 0; i + ln <= n; i++) {
    const char *a = memchr(h + i, c0, n - ln + 1 - i), *b;
    size_t k;
    b = u0 != c0 ? memchr(h + i, u0, (size_t)((a ? a : h + n - ln + 1) - (h + i))) : 0;
    if (b) a = b;
    if (!a) return 0;
    i = (size_t)(a - h);
    for (k = 1; k < ln; k++)
      if (lc((unsigned char)h[i + k]) != (unsigned char)lit[k]) break;
    if (k == ln) return 1;
  }
  return 0;
}
