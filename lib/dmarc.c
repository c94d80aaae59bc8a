/* dmarc.c: DMARC records: the one to publish, and a parser for
   published ones (see dmarc.h).  Pure functions: no I/O. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "dmarc.h"

static const char *const pnames[] = { "none", "quarantine", "reject" };

const char *dmarc_policy_name(int p)
{
  return p >= DMARC_NONE && p <= DMARC_REJECT ? pnames[p] : "?";
}

static int lc(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static int is_wsp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* 1 if v[0..vn) equals s (lowercase) without regard to case. */
static int ieq(const char *v, size_t vn, const char *s)
{
  size_t i;
  for (i = 0; i < vn; i++)
    if (!s[i] || lc((unsigned char)v[i]) != s[i]) return 0;
  return s[vn] == 0;
}

static int policy(const char *v, size_t vn)
{
  int i;
  for (i = DMARC_NONE; i <= DMARC_REJECT; i++)
    if (ieq(v, vn, pnames[i])) return i;
  return -1;
}

int dmarc_policy_parse(const char *s)
{
  return policy(s, strlen(s));
}

/* v[0..vn) as a decimal number in [lo, hi]: 0 (*out), or -1. */
static int number(const char *v, size_t vn, long lo, long hi, long *out)
{
  long x = 0;
  size_t i;
  if (vn == 0 || vn > 10) return -1;
  for (i = 0; i < vn; i++) {
    if (v[i] < '0' || v[i] > '9') return -1;
    x = x * 10 + (v[i] - '0');
  }
  if (x < lo || x > hi) return -1;
  *out = x;
  return 0;
}

/* The URI list v[0..vn) (comma-separated, white space around each) into
   uris.  0, or -1 with why. */
static int uris(const char *v, size_t vn, char out[][DMARC_URI_LEN], size_t *nout,
                const char *tag, struct buf *why)
{
  size_t i = 0;
  *nout = 0;
  while (i <= vn) {
    const char *comma = memchr(v + i, ',', vn - i);
    size_t end = comma ? (size_t)(comma - v) : vn, a = i, b = end, k;
    while (a < b && is_wsp(v[a])) a++;
    while (b > a && is_wsp(v[b - 1])) b--;
    if (b - a < 8 || !ieq(v + a, 7, "mailto:") || !memchr(v + a + 7, '@', b - a - 7)) {
      buf_printf(why, "%s= has an entry that is not a mailto: address", tag);
      return -1;
    }
    for (k = a; k < b; k++)
      if ((unsigned char)v[k] <= 32 || v[k] == 127) {
        buf_printf(why, "%s= has white space or a control character inside a URI", tag);
        return -1;
      }
    if (*nout < DMARC_URI_MAX && b - a < DMARC_URI_LEN) {
      memcpy(out[*nout], v + a, b - a);
      out[(*nout)++][b - a] = 0;
    }
    if (!comma) break;
    i = end + 1;
  }
  return 0;
}

int dmarc_parse(const char *txt, size_t n, struct dmarc_rec *r, struct buf *why)
{
  size_t i = 0;
  int first = 1, have_p = 0;
  unsigned seen = 0;
  memset(r, 0, sizeof *r);
  r->p = DMARC_NONE;
  r->sp = -1;
  r->adkim = r->aspf = 'r';
  r->pct = 100;
  r->ri = 86400;
  memcpy(r->fo, "0", 2);
  if (n > DMARC_TXT_MAX) {
    buf_printf(why, "record over %d bytes", DMARC_TXT_MAX);
    return DMARC_INVALID;
  }
  while (i < n) {
    const char *semi = memchr(txt + i, ';', n - i), *t, *v;
    size_t end = semi ? (size_t)(semi - txt) : n, a = i, b, tn, vn;
    const char *eq;
    static const char *const known[] = { "v", "p", "sp", "adkim", "aspf", "pct", "rua", "ruf",
                                         "fo", "rf", "ri", 0 };
    int k;
    i = end + 1;
    while (a < end && is_wsp(txt[a])) a++;
    if (a == end) {                  /* empty: "…;" at the end, or ";;" */
      if (first) return DMARC_NOT_DMARC;
      continue;
    }
    eq = memchr(txt + a, '=', end - a);
    if (!eq) {
      if (first) return DMARC_NOT_DMARC;
      buf_adds(why, "a tag without '='");
      return DMARC_INVALID;
    }
    b = (size_t)(eq - txt);
    while (b > a && is_wsp(txt[b - 1])) b--;
    t = txt + a;
    tn = b - a;
    a = (size_t)(eq - txt) + 1;
    b = end;
    while (a < b && is_wsp(txt[a])) a++;
    while (b > a && is_wsp(txt[b - 1])) b--;
    v = txt + a;
    vn = b - a;
    if (first) {
      /* 6.4: v=DMARC1 first, exactly, or it is no DMARC record. */
      if (!(tn == 1 && t[0] == 'v' && vn == 6 && !memcmp(v, "DMARC1", 6))) return DMARC_NOT_DMARC;
      first = 0;
      seen |= 1;
      continue;
    }
    for (k = 0; known[k]; k++)
      if (ieq(t, tn, known[k])) break;
    if (!known[k]) continue;         /* 6.3: unknown tags are ignored */
    if (seen & (1u << k)) {
      buf_printf(why, "tag %s= given twice", known[k]);
      return DMARC_INVALID;
    }
    seen |= 1u << k;
    switch (k) {
    case 0:
      buf_adds(why, "v= given twice");
      return DMARC_INVALID;
    case 1:
    case 2: {
      int p = policy(v, vn);
      if (p < 0) {
        buf_printf(why, "%s= is not none, quarantine or reject", known[k]);
        return DMARC_INVALID;
      }
      if (k == 1) {
        r->p = p;
        have_p = 1;
      } else {
        r->sp = p;
      }
      break;
    }
    case 3:
    case 4:
      if (vn != 1 || (lc((unsigned char)v[0]) != 'r' && lc((unsigned char)v[0]) != 's')) {
        buf_printf(why, "%s= is not r or s", known[k]);
        return DMARC_INVALID;
      }
      if (k == 3) r->adkim = (char)lc((unsigned char)v[0]);
      else r->aspf = (char)lc((unsigned char)v[0]);
      break;
    case 5: {
      long x;
      if (number(v, vn, 0, 100, &x) == -1) {
        buf_adds(why, "pct= is not a number from 0 to 100");
        return DMARC_INVALID;
      }
      r->pct = (int)x;
      break;
    }
    case 6:
    case 7:
      if (uris(v, vn, k == 6 ? r->rua : r->ruf, k == 6 ? &r->nrua : &r->nruf, known[k], why) == -1)
        return DMARC_INVALID;
      break;
    case 8: {
      size_t j;
      for (j = 0; j < vn; j++)
        if (!strchr("01ds:", lc((unsigned char)v[j])) || vn >= sizeof r->fo) {
          buf_adds(why, "fo= is not a ':'-separated list of 0, 1, d, s");
          return DMARC_INVALID;
        }
      memcpy(r->fo, v, vn);
      r->fo[vn] = 0;
      break;
    }
    case 9:
      if (!ieq(v, vn, "afrf")) {
        buf_adds(why, "rf= is not afrf");
        return DMARC_INVALID;
      }
      break;
    case 10:
      if (number(v, vn, 0, 0x7fffffffL, &r->ri) == -1) {
        buf_adds(why, "ri= is not a number of seconds");
        return DMARC_INVALID;
      }
      break;
    }
  }
  if (first) return DMARC_NOT_DMARC;
  if (!have_p) {
    buf_adds(why, "no p= tag (the policy)");
    return DMARC_INVALID;
  }
  return DMARC_OK;
}

int dmarc_record(int p, const char *rua, struct buf *out)
{
  size_t i;
  const char *at = strrchr(rua, '@');
  if (p < DMARC_NONE || p > DMARC_REJECT || !at || at == rua || !at[1]) return errno = EINVAL, -1;
  for (i = 0; rua[i]; i++)
    if ((unsigned char)rua[i] <= 32 || rua[i] == ',' || rua[i] == ';' || rua[i] == '!'
        || (unsigned char)rua[i] >= 127)
      return errno = EINVAL, -1;
  buf_trunc(out, 0);
  return buf_printf(out, "v=DMARC1; p=%s; rua=mailto:%s; adkim=r; aspf=r", pnames[p], rua);
}

int dmarc_has_rua(const struct dmarc_rec *r, const char *addr)
{
  size_t i, al = strlen(addr);
  for (i = 0; i < r->nrua; i++) {
    const char *u = r->rua[i] + 7, *bang = strchr(u, '!');
    size_t ul = bang ? (size_t)(bang - u) : strlen(u), k;
    if (ul != al) continue;
    for (k = 0; k < al && lc((unsigned char)u[k]) == lc((unsigned char)addr[k]); k++) ;
    if (k == al) return 1;
  }
  return 0;
}
