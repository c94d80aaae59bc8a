/* bounce_rcpt.c: the recipients a bounce names (for bounce.c, see
   bounce_rcpt.h): read from RFC 3464 delivery-status fields, or scanned
   from the human-readable text (lines that start with an address, then
   addresses named in running text), and the paragraph about each.
   Everything kept is one line of UTF-8, cut to the sizes of bounce.h. */
#include <string.h>
#include "bounce.h"
#include "bounce_mime.h"
#include "bounce_rcpt.h"
#include "bounce_text.h"

static int lc(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

void bounce_rcpt_put_addr(char *dst, const char *s, size_t n)
{
  if (n >= BOUNCE_ADDR_MAX) n = BOUNCE_ADDR_MAX - 1;
  memcpy(dst, s, n);
  dst[n] = 0;
}

/* An address out of a field value ("rfc822; <a@b>", "Name <a@b>").  1 ok. */
int bounce_rcpt_from_value(char *dst, const char *v, size_t n)
{
  size_t as, ae;
  const char *semi = memchr(v, ';', n);
  if (semi && bounce_text_find(v, (size_t)(semi - v), "@") < 0) {
    n -= (size_t)(semi + 1 - v);
    v = semi + 1;
  }
  if (!bounce_text_addr(v, n, 0, &as, &ae)) return 0;
  bounce_rcpt_put_addr(dst, v + as, ae - as);
  return 1;
}

static struct bounce_rcpt *rcpt_find(struct bounce *b, const char *addr)
{
  int i;
  for (i = 0; i < b->nrcpt; i++) {
    const char *x = b->rcpt[i].addr, *y = addr;
    while (*x && lc((unsigned char)*x) == lc((unsigned char)*y)) x++, y++;
    if (!*x && !*y) return &b->rcpt[i];
  }
  return 0;
}

struct bounce_rcpt *bounce_rcpt_new(struct bounce *b)
{
  struct bounce_rcpt *r;
  if (b->nrcpt >= BOUNCE_RCPT_MAX) return 0;
  r = &b->rcpt[b->nrcpt++];
  memset(r, 0, sizeof *r);
  return r;
}

/* ---- RFC 3464 fields ---- */

struct dsn_cur {
  struct bounce_rcpt r;
  int has_final, has_orig, has_action, has_status, has_diag, open;
};

static void dsn_clear(struct dsn_cur *c)
{
  c->has_final = c->has_orig = c->has_action = c->has_status = c->has_diag = c->open = 0;
  c->r.addr[0] = c->r.action[0] = c->r.status[0] = c->r.dtype[0] = 0;
  c->r.rmta[0] = c->r.diag[0] = c->r.ctx[0] = 0;
}

static void dsn_flush(struct bounce *b, struct dsn_cur *c)
{
  struct bounce_rcpt *r;
  if (!c->open) return;
  if (c->r.addr[0] && !rcpt_find(b, c->r.addr) && (r = bounce_rcpt_new(b)) != 0)
    *r = c->r;
  dsn_clear(c);
}

/* Read delivery-status fields from text t[0..n); records go to b->rcpt. */
void bounce_rcpt_dsn(struct bounce *b, const char *t, size_t n)
{
  struct dsn_cur cur, *c = &cur;
  const char *p = t, *end = t + n;
  struct mime_field f;
  int fields = 0;
  dsn_clear(c);
  while (p < end && fields < BOUNCE_FIELD_MAX) {
    const char *line = p;
    if (*p == '\n') { dsn_flush(b, c); p++; continue; }
    if (!mime_field_next(&p, end, &f)) {
      dsn_flush(b, c);
      if (p == line) p++;
      continue;
    }
    fields++;
    if (mime_field_is(&f, "final-recipient") || mime_field_is(&f, "original-recipient")
        || mime_field_is(&f, "x-actual-recipient")) {
      int fin = mime_field_is(&f, "final-recipient");
      int orig = mime_field_is(&f, "original-recipient");
      char a[BOUNCE_ADDR_MAX];
      if ((fin && c->has_final) || (orig && c->has_orig)) dsn_flush(b, c);
      c->open = 1;
      if (!bounce_rcpt_from_value(a, f.val, f.vlen)) continue;
      if (fin) { c->has_final = 1; memcpy(c->r.addr, a, sizeof a); }
      else if (orig) { c->has_orig = 1; if (!c->has_final) memcpy(c->r.addr, a, sizeof a); }
      else if (!c->r.addr[0]) memcpy(c->r.addr, a, sizeof a);
    } else if (mime_field_is(&f, "action")) {
      size_t i = 0, o = 0;
      if (c->has_action) dsn_flush(b, c);
      c->open = c->has_action = 1;
      while (i < f.vlen && is_ws((unsigned char)f.val[i])) i++;
      while (i < f.vlen && !is_ws((unsigned char)f.val[i]) && f.val[i] != '('
             && o + 1 < sizeof c->r.action)
        c->r.action[o++] = (char)lc((unsigned char)f.val[i++]);
      c->r.action[o] = 0;
    } else if (mime_field_is(&f, "status")) {
      size_t i = 0, o = 0;
      if (c->has_status) dsn_flush(b, c);
      c->open = c->has_status = 1;
      while (i < f.vlen && is_ws((unsigned char)f.val[i])) i++;
      while (i < f.vlen && (f.val[i] == '.' || (f.val[i] >= '0' && f.val[i] <= '9'))
             && o + 1 < sizeof c->r.status)
        c->r.status[o++] = f.val[i++];
      c->r.status[o] = 0;
    } else if (mime_field_is(&f, "diagnostic-code")) {
      const char *semi = memchr(f.val, ';', f.vlen);
      if (c->has_diag) continue;    /* the first one counts */
      c->open = c->has_diag = 1;
      if (semi && semi - f.val < 16) {
        bounce_text_line(c->r.dtype, sizeof c->r.dtype, f.val, (size_t)(semi - f.val));
        for (char *q = c->r.dtype; *q; q++) *q = (char)lc((unsigned char)*q);
        bounce_text_line(c->r.diag, sizeof c->r.diag, semi + 1, f.vlen - (size_t)(semi + 1 - f.val));
      } else
        bounce_text_line(c->r.diag, sizeof c->r.diag, f.val, f.vlen);
    } else if (mime_field_is(&f, "remote-mta")) {
      const char *semi = memchr(f.val, ';', f.vlen);
      const char *v = semi ? semi + 1 : f.val;
      size_t vn = f.vlen - (size_t)(v - f.val), i = 0;
      while (i < vn && is_ws((unsigned char)v[i])) i++;
      {
        size_t j = i;
        while (j < vn && !is_ws((unsigned char)v[j])) j++;
        bounce_text_line(c->r.rmta, sizeof c->r.rmta, v + i, j - i);
      }
    }
  }
  dsn_flush(b, c);
}

/* ---- free-form scanning ---- */

/* Is a[0..n) among the X-Failed-Recipients (when there are any)? */
static int listed(const struct bounce *b, const char *a, size_t n)
{
  char low[BOUNCE_ADDR_MAX];
  size_t i;
  if (!b->failed_list[0]) return 1;
  for (i = 0; i < n && i + 1 < sizeof low; i++) low[i] = (char)lc((unsigned char)a[i]);
  low[i] = 0;
  return strstr(b->failed_list, low) != 0;
}

/* Recipients from the text's lines that start with an address. */
void bounce_rcpt_freeform(struct bounce *b)
{
  const char *t = b->text.s, *end = t + b->text.len, *p = t;
  struct bounce_rcpt *cur = 0;
  int lines = 0;
  if (!t) return;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t ln = nl ? (size_t)(nl - p) : (size_t)(end - p), as, ae, rest;
    int blank = 1;
    size_t i;
    for (i = 0; i < ln; i++) if (!is_ws((unsigned char)p[i])) { blank = 0; break; }
    if (blank) cur = 0;
    else if (bounce_text_rcpt(p, ln, &as, &ae, &rest) && listed(b, p + as, ae - as)) {
      char a[BOUNCE_ADDR_MAX];
      bounce_rcpt_put_addr(a, p + as, ae - as);
      cur = rcpt_find(b, a);
      if (!cur && (cur = bounce_rcpt_new(b)) != 0) memcpy(cur->addr, a, sizeof a);
      lines = 0;
      if (cur) {
        /* "a@b <a@b>": the second copy is not diagnostic */
        size_t r = rest, as2, ae2;
        while (r < ln && is_ws((unsigned char)p[r])) r++;
        if (r < ln && p[r] == '<' && bounce_text_addr(p, ln, r, &as2, &ae2) && as2 == r + 1) {
          r = ae2;
          while (r < ln && (p[r] == '>' || is_ws((unsigned char)p[r]))) r++;
        }
        bounce_text_append(cur->diag, sizeof cur->diag, p + r, ln - r);
      }
    } else if (cur && lines++ < 24)
      bounce_text_append(cur->diag, sizeof cur->diag, p, ln);
    if (!nl) break;
    p = nl + 1;
  }
}

/* Addresses named in running text ("... to <a@b>", "RCPT TO: a@b"): the
   first one not introduced as a sender. */
void bounce_rcpt_inline(struct bounce *b)
{
  const char *t = b->text.s;
  size_t n = b->text.len, i = 0, as, ae, first_as = 0, first_ae = 0;
  struct bounce_rcpt *r;
  int have = 0;
  while (t && bounce_text_addr(t, n, i, &as, &ae)) {
    size_t k = as, w = 0, ls = as;
    char before[24], line[8];
    while (ls > 0 && t[ls - 1] != '\n') ls--;
    while (k > ls && w < sizeof before - 1) { k--; w++; }
    bounce_text_line(before, sizeof before, t + k, as - k);
    for (char *q = before; *q; q++) *q = (char)lc((unsigned char)*q);
    bounce_text_line(line, sizeof line, t + ls, as - ls);
    for (char *q = line; *q; q++) *q = (char)lc((unsigned char)*q);
    i = ae;
    /* not a sender, not a copy of the original header fields */
    if (strstr(before, "from") || strstr(before, "sender") || strstr(before, "reply-to")
        || strstr(before, "sent by") || strstr(before, "message-id:") || strstr(before, "mail for")
        || strstr(before, "contact") || !strncmp(line, "to:", 3) || !strncmp(line, "cc:", 3)
        || !strncmp(line, "date:", 5))
      continue;
    if (as > 0 && t[as - 1] == '<' && ae < n && t[ae] == '>'
        && ae - as > 60 && !memchr(t + as, '.', (size_t)(memchr(t + as, '@', ae - as) ? (const char *)memchr(t + as, '@', ae - as) - (t + as) : 0)))
      continue;                       /* <a@b> inside a Message-ID-like token */
    /* "to a@b", "recipient <a@b>": the address a bounce is about */
    if (strstr(before, "to ") || strstr(before, "to: ") || strstr(before, "to:<")
        || strstr(before, "recipient") || strstr(before, "address")) {
      first_as = as; first_ae = ae; have = 1;
      break;
    }
    if (!have) { first_as = as; first_ae = ae; have = 1; }
  }
  if (have && (r = bounce_rcpt_new(b)) != 0) bounce_rcpt_put_addr(r->addr, t + first_as, first_ae - first_as);
}

/* The text about addr: from the paragraph that names it (or the start)
   through the next two, where MTAs put the transcript. */
void bounce_rcpt_context(struct bounce *b, struct bounce_rcpt *r)
{
  const char *t = b->text.s, *s, *e, *end;
  char low[BOUNCE_ADDR_MAX];
  size_t i;
  long at;
  int paras = 0;
  if (!t) return;
  for (i = 0; r->addr[i] && i + 1 < sizeof low; i++) low[i] = (char)lc((unsigned char)r->addr[i]);
  low[i] = 0;
  at = bounce_text_find(t, b->text.len, low);     /* ci_find wants a lowercase needle */
  s = at < 0 ? t : t + at;
  end = t + b->text.len;
  while (s > t && s[-1] != '\n') s--;
  for (e = s; e < end && paras < 3 && (size_t)(e - s) < BOUNCE_CTX_MAX;) {
    const char *nl = memchr(e, '\n', (size_t)(end - e));
    if (!nl) { e = end; break; }
    if (nl + 1 < end && nl[1] == '\n') {
      paras++;
      while (nl + 1 < end && nl[1] == '\n') nl++;
    }
    e = nl + 1;
  }
  bounce_text_line(r->ctx, sizeof r->ctx, s, (size_t)(e - s));
}
