/* filter.c: header filters of the delivery settings (see filter.h).
   Patterns are compiled by PCRE2 in UTF mode with PCRE2_ANCHORED and
   PCRE2_ENDANCHORED, which is what Java's Matcher.matches() does: the
   whole value, and alternatives are tried until one reaches the end. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "dqhdr.h"
#include "filter.h"

struct cond {
  char *header;                      /* 0: the envelope recipient ("To") */
  pcre2_code *re;
};

struct filter {
  struct cond *c;
  size_t n;
  pcre2_match_context *mctx;
  pcre2_match_data *md;              /* one per filter: callers are single-threaded */
};

struct filter_val {
  char *name;
  int found;
  struct buf v;
};

/* Fields that may occur more than once in a message (RFC 5322 3.6 trace
   and resent blocks, comments and keywords, and the fields that MTAs,
   signers and verifiers add per hop).  A filter on them would see only
   one of several values: refused. */
static const char *const multi[] = {
  "received", "x-received", "return-path", "delivered-to", "x-original-to",
  "received-spf", "authentication-results", "dkim-signature",
  "domainkey-signature", "x-google-dkim-signature", "comments", "keywords",
  0
};
static const char *const multi_prefix[] = { "resent-", "arc-", 0 };

int filter_header_ok(const char *h, struct buf *err)
{
  size_t i, n = h ? strlen(h) : 0;
  if (n == 0) return buf_adds(err, "empty header name"), 0;
  if (n > FILTER_HEADER_MAX)
    return buf_printf(err, "header name longer than %d bytes", FILTER_HEADER_MAX), 0;
  for (i = 0; i < n; i++)
    if ((unsigned char)h[i] <= 32 || (unsigned char)h[i] >= 127 || h[i] == ':')
      return buf_printf(err, "header name %.*s: only printable US-ASCII without ':' and space",
                        (int)n, h), 0;
  for (i = 0; multi[i]; i++)
    if (!strcasecmp(h, multi[i])) goto several;
  for (i = 0; multi_prefix[i]; i++)
    if (!strncasecmp(h, multi_prefix[i], strlen(multi_prefix[i]))) goto several;
  return 1;
several:
  buf_printf(err, "header %s may occur several times in a message: it cannot be used in a filter", h);
  return 0;
}

int filter_name_ok(const char *name, struct buf *err)
{
  size_t i, n = name ? strlen(name) : 0;
  if (n == 0) return buf_adds(err, "empty filter name"), 0;
  if (n > FILTER_NAME_MAX)
    return buf_printf(err, "filter name longer than %d bytes", FILTER_NAME_MAX), 0;
  for (i = 0; i < n; i++)
    if ((unsigned char)name[i] < 32 || name[i] == 127)
      return buf_adds(err, "control character in filter name"), 0;
  return 1;
}

static pcre2_code *compile(const char *p, struct buf *err)
{
  pcre2_code *re;
  int ec;
  PCRE2_SIZE off;
  size_t i, n = strlen(p);
  if (n == 0) return buf_adds(err, "empty pattern"), (pcre2_code *)0;
  if (n > FILTER_PATTERN_MAX) {
    buf_printf(err, "pattern longer than %d bytes", FILTER_PATTERN_MAX);
    return 0;
  }
  for (i = 0; i < n; i++)
    if ((unsigned char)p[i] < 32 || p[i] == 127) {
      buf_printf(err, "pattern %s: control character at offset %zu", p, i);
      return 0;
    }
  re = pcre2_compile((PCRE2_SPTR)p, n,
                     PCRE2_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_NEVER_BACKSLASH_C,
                     &ec, &off, 0);
  if (!re) {
    PCRE2_UCHAR msg[256];
    if (ec == PCRE2_ERROR_NOMEMORY) { errno = ENOMEM; return 0; }
    if (pcre2_get_error_message(ec, msg, sizeof msg) < 0) memcpy(msg, "unknown error", 14);
    buf_printf(err, "pattern %s: %s at offset %zu", p, (const char *)msg, (size_t)off);
    errno = EINVAL;
    return 0;
  }
  pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);   /* no JIT: the interpreter does it */
  return re;
}

int filter_pattern_ok(const char *pattern, struct buf *err)
{
  pcre2_code *re = compile(pattern, err);
  if (!re) return 0;
  pcre2_code_free(re);
  return 1;
}

void filter_free(struct filter *f)
{
  size_t i;
  if (!f) return;
  for (i = 0; i < f->n; i++) {
    free(f->c[i].header);
    pcre2_code_free(f->c[i].re);
  }
  free(f->c);
  pcre2_match_data_free(f->md);
  pcre2_match_context_free(f->mctx);
  free(f);
}

int filter_new(struct filter **fp, const char *const *header, const char *const *pattern,
               size_t n, struct buf *err)
{
  struct filter *f;
  size_t i;
  *fp = 0;
  if (n == 0 || n > FILTER_COND_MAX) {
    buf_printf(err, "a filter has 1 to %d conditions", FILTER_COND_MAX);
    return errno = EINVAL, -1;
  }
  for (i = 0; i < n; i++)
    if (!filter_header_ok(header[i], err)) return errno = EINVAL, -1;
  if (!(f = calloc(1, sizeof *f)) || !(f->c = calloc(n, sizeof *f->c))) {
    free(f);
    return errno = ENOMEM, -1;
  }
  for (i = 0; i < n; i++) {
    f->n = i + 1;
    if (strcasecmp(header[i], "To") && !(f->c[i].header = strdup(header[i]))) goto nomem;
    errno = EINVAL;
    if (!(f->c[i].re = compile(pattern[i], err))) {
      int e = errno;
      filter_free(f);
      return errno = e, -1;
    }
  }
  if (!(f->md = pcre2_match_data_create(1, 0)) || !(f->mctx = pcre2_match_context_create(0)))
    goto nomem;
  pcre2_set_match_limit(f->mctx, FILTER_MATCH_LIMIT);
  *fp = f;
  return 0;
nomem:
  filter_free(f);
  return errno = ENOMEM, -1;
}

/* --- messages --- */

void filter_msg_init(struct filter_msg *fm, const char *msg, size_t len, const char *rcpt)
{
  memset(fm, 0, sizeof *fm);
  fm->msg = msg ? msg : "";
  fm->len = msg ? len : 0;
  filter_msg_rcpt(fm, rcpt);
}

void filter_msg_rcpt(struct filter_msg *fm, const char *rcpt)
{
  fm->rcpt = rcpt;
  fm->has_to = 0;
  buf_trunc(&fm->to, 0);
}

void filter_msg_free(struct filter_msg *fm)
{
  size_t i;
  for (i = 0; i < fm->nval; i++) {
    free(fm->val[i].name);
    buf_free(&fm->val[i].v);
  }
  free(fm->val);
  buf_free(&fm->to);
  memset(fm, 0, sizeof *fm);
}

/* The value a condition on header h looks at: 1 with it in *v, 0 when the
   message has no such field, -1 ENOMEM. */
static int value(struct filter_msg *fm, const char *h, const struct buf **v)
{
  struct buf raw = BUF_ZERO;
  struct filter_val *x;
  size_t i;
  int r;
  if (!h) {
    if (!fm->rcpt) return 0;
    if (!fm->has_to) {
      if (buf_adds(&fm->to, fm->rcpt) == -1 || buf_addc(&fm->to, 0) == -1) return -1;
      fm->to.len--;
      fm->has_to = 1;
      for (i = 0; i < fm->to.len; i++)
        if (fm->to.s[i] >= 'A' && fm->to.s[i] <= 'Z') fm->to.s[i] = (char)(fm->to.s[i] + 32);
    }
    *v = &fm->to;
    return 1;
  }
  for (i = 0; i < fm->nval; i++)
    if (!strcasecmp(fm->val[i].name, h)) {
      *v = &fm->val[i].v;
      return fm->val[i].found;
    }
  if (fm->nval == fm->cap) {
    size_t nc = fm->cap ? fm->cap * 2 : 4;
    struct filter_val *nv = realloc(fm->val, nc * sizeof *nv);
    if (!nv) return errno = ENOMEM, -1;
    fm->val = nv;
    fm->cap = nc;
  }
  x = &fm->val[fm->nval];
  memset(x, 0, sizeof *x);
  if (!(x->name = strdup(h))) return errno = ENOMEM, -1;
  r = dqhdr_field(fm->msg, fm->len, h, &raw);
  if (r == 1 && (dqhdr_decode(raw.s ? raw.s : "", raw.len, &x->v) == -1
                 || buf_addc(&x->v, 0) == -1))
    r = -1;
  buf_free(&raw);
  if (r == -1) {
    free(x->name);
    buf_free(&x->v);
    return errno = ENOMEM, -1;
  }
  if (r == 1) x->v.len--;            /* the NUL stays after len */
  x->found = r;
  fm->nval++;
  *v = &x->v;
  return r;
}

int filter_match(const struct filter *f, struct filter_msg *fm)
{
  size_t i;
  for (i = 0; i < f->n; i++) {
    const struct buf *v;
    int r = value(fm, f->c[i].header, &v);
    if (r == -1) return -1;
    if (r == 0) continue;
    r = pcre2_match(f->c[i].re, (PCRE2_SPTR)(v->s ? v->s : ""), v->len, 0, 0, f->md, f->mctx);
    if (r >= 0) return 1;
    if (r == PCRE2_ERROR_NOMEMORY) return errno = ENOMEM, -1;
    /* no match, the match limit, or a value that is not UTF-8: no match */
  }
  return 0;
}

long filter_first(struct filter *const *f, size_t n, struct filter_msg *fm)
{
  size_t i;
  for (i = 0; i < n; i++) {
    int r;
    if (!f[i]) continue;
    r = filter_match(f[i], fm);
    if (r == -1) return -2;
    if (r == 1) return (long)i;
  }
  return -1;
}
