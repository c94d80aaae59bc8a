/* bounce.c: one message in, failed recipients out (see bounce.h).
   The MIME tree is walked with bounded depth and part count; RFC 3464
   delivery-status fields are read where they are (a message/delivery-status
   part, or pasted into the text as some MTAs do); otherwise the
   human-readable text is scanned for recipient lines and the diagnostic
   that follows them.  Everything returned is one line of UTF-8. */
#include <errno.h>
#include <string.h>
#include "bounce.h"
#include "bounce_mime.h"
#include "bounce_text.h"

static int lc(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static void put_addr(char *dst, const char *s, size_t n)
{
  if (n >= BOUNCE_ADDR_MAX) n = BOUNCE_ADDR_MAX - 1;
  memcpy(dst, s, n);
  dst[n] = 0;
}

/* An address out of a field value ("rfc822; <a@b>", "Name <a@b>").  1 ok. */
static int addr_from_value(char *dst, const char *v, size_t n)
{
  size_t as, ae;
  const char *semi = memchr(v, ';', n);
  if (semi && bounce_text_find(v, (size_t)(semi - v), "@") < 0) {
    n -= (size_t)(semi + 1 - v);
    v = semi + 1;
  }
  if (!bounce_text_addr(v, n, 0, &as, &ae)) return 0;
  put_addr(dst, v + as, ae - as);
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

static struct bounce_rcpt *rcpt_new(struct bounce *b)
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
  if (c->r.addr[0] && !rcpt_find(b, c->r.addr) && (r = rcpt_new(b)) != 0)
    *r = c->r;
  dsn_clear(c);
}

/* Read delivery-status fields from text t[0..n); records go to b->rcpt. */
static void dsn_parse(struct bounce *b, const char *t, size_t n)
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
      if (!addr_from_value(a, f.val, f.vlen)) continue;
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

/* ---- the human-readable text ---- */

/* To: of the returned message headers at h[0..n). */
static void take_orig_to(struct bounce *b, const char *h, size_t n)
{
  const char *p = h, *end = h + n;
  struct mime_field f;
  int k = 0;
  if (b->orig_to[0]) return;
  while (p < end && k++ < 400) {
    const char *line = p;
    if (*p == '\n') { p++; continue; }
    while (p < end && (*p == ' ' || *p == '\t')) p++;  /* indented header dumps */
    if (!mime_field_next(&p, end, &f)) { if (p == line) p++; continue; }
    if (mime_field_is(&f, "to") && addr_from_value(b->orig_to, f.val, f.vlen)) return;
  }
}


static int encoded(const char *cte)
{
  return bounce_text_find(cte, strlen(cte), "base64") == 0 || bounce_text_find(cte, strlen(cte), "quoted-printable") == 0;
}

/* Decode an entity body by its transfer encoding into b->dec. */
static int decode_body(struct bounce *b, const char *p, size_t n, const char *cte)
{
  b->dec.len = 0;
  if (buf_ready(&b->dec, 0) == -1) return -1;
  if (bounce_text_find(cte, strlen(cte), "base64") == 0) return mime_unbase64(&b->dec, p, n);
  if (bounce_text_find(cte, strlen(cte), "quoted-printable") == 0) return mime_unqp(&b->dec, p, n);
  return buf_add(&b->dec, p, n);
}

static void add_text(struct bounce *b, const char *p, size_t n, const char *charset, int html)
{
  size_t cut, start = b->text.len;
  if (b->text.len >= BOUNCE_TEXT_MAX) return;
  if (n > BOUNCE_TEXT_MAX) n = BOUNCE_TEXT_MAX;
  b->tmp.len = 0;
  if (html) {
    struct buf h = BUF_ZERO;
    if (mime_utf8(&h, &b->convs, charset, p, n) == 0) bounce_text_html(&b->tmp, h.s ? h.s : "", h.len);
    buf_free(&h);
  } else if (mime_utf8(&b->tmp, &b->convs, charset, p, n) == -1)
    return;
  if (!b->tmp.s) return;
  cut = bounce_text_cut(b->tmp.s, b->tmp.len);
  if (cut < b->tmp.len) {
    b->saw_orig = 1;
    take_orig_to(b, b->tmp.s + cut, b->tmp.len - cut);
    if (!b->inner.len) buf_add(&b->inner, b->tmp.s + cut, b->tmp.len - cut);
  }
  if (cut > BOUNCE_TEXT_MAX - b->text.len) cut = BOUNCE_TEXT_MAX - b->text.len;
  if (buf_add(&b->text, b->tmp.s, cut) == -1 || buf_addc(&b->text, '\n') == -1)
    buf_trunc(&b->text, start);
}

struct ent {
  char type[MIME_TYPE_MAX];
  char cte[32];
  char charset[48];
  char bnd[MIME_BOUNDARY_MAX + 1];
  char rtype[48];
  int attach;
};

static void top_field(struct bounce *b, const struct mime_field *f)
{
  /* most fields are Received, DKIM-Signature and the like: one look at
     the first letter sends them away */
  if (!strchr("sfxapr", lc((unsigned char)f->name[0]))) return;
  if (mime_field_is(f, "subject") || mime_field_is(f, "from")) {
    char *dst = lc((unsigned char)f->name[0]) == 's' ? b->subject : b->from;
    size_t dn = lc((unsigned char)f->name[0]) == 's' ? sizeof b->subject : sizeof b->from;
    if (bounce_text_find(f->val, f->vlen, "=?") < 0)
      bounce_text_line(dst, dn, f->val, f->vlen);        /* no encoded words */
    else {
      struct buf s = BUF_ZERO;
      if (mime_words(&s, &b->convs, f->val, f->vlen) == 0 && s.s) bounce_text_line(dst, dn, s.s, s.len);
      buf_free(&s);
    }
  } else if (mime_field_is(f, "x-failed-recipients")) {
    if (!b->failed[0]) {
      addr_from_value(b->failed, f->val, f->vlen);
      bounce_text_line(b->failed_list, sizeof b->failed_list, f->val, f->vlen);
      for (char *q = b->failed_list; *q; q++) *q = (char)lc((unsigned char)*q);
    }
  } else if (mime_field_is(f, "auto-submitted")) {
    if (bounce_text_find(f->val, f->vlen, "auto-") >= 0) b->autosub = 1;
  } else if (mime_field_is(f, "x-autoreply") || mime_field_is(f, "x-autorespond")
             || mime_field_is(f, "x-autoresponder") || mime_field_is(f, "x-vacation")) {
    b->autoreply_hdr = 1;
  } else if (mime_field_is(f, "x-auto-response-suppress")) {
    if (bounce_text_find(f->val, f->vlen, "oof") >= 0 || bounce_text_find(f->val, f->vlen, "autoreply") >= 0)
      b->autoreply_hdr = 1;
  } else if (mime_field_is(f, "x-apple-action")) {
    if (bounce_text_find(f->val, f->vlen, "vacation") >= 0) b->autoreply_hdr = 1;
  } else if (mime_field_is(f, "precedence")) {
    if (bounce_text_find(f->val, f->vlen, "auto_reply") >= 0) b->autoreply_hdr = 1;
  } else if (mime_field_is(f, "return-path")) {
    if (bounce_text_find(f->val, f->vlen, "<>") >= 0) b->null_sender = 1;
  }
}

/* The first line "--token" of body that occurs at least twice: its token. */
static int guess_boundary(const char *body, size_t n, char *bnd, size_t bn)
{
  const char *p = body, *end = body + n;
  int lines = 0;
  while (p < end && lines++ < 2000) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t ln = nl ? (size_t)(nl - p) : (size_t)(end - p);
    while (ln && (p[ln - 1] == ' ' || p[ln - 1] == '\t')) ln--;
    if (ln >= 12 && ln - 2 < bn && p[0] == '-' && p[1] == '-' && !memchr(p, ' ', ln)) {
      const char *q = nl ? nl + 1 : end;
      while (q < end) {
        const char *n2 = memchr(q, '\n', (size_t)(end - q));
        if ((size_t)(end - q) >= ln && !memcmp(q, p, ln)) {
          memcpy(bnd, p + 2, ln - 2);
          bnd[ln - 2] = 0;
          return 1;
        }
        if (!n2) break;
        q = n2 + 1;
      }
    }
    if (!nl) break;
    p = nl + 1;
  }
  return 0;
}

static void walk(struct bounce *b, const char *p, size_t n, int depth, const char *deftype)
{
  struct ent e;
  struct mime_field f;
  size_t hend;
  const char *hp, *body;
  int nf = 0;
  if (depth > BOUNCE_DEPTH_MAX || ++b->parts > BOUNCE_PART_MAX) return;
  memset(&e, 0, sizeof e);
  hend = mime_header_end(p, n);
  hp = p;
  while (nf++ < BOUNCE_FIELD_MAX && mime_field_next(&hp, p + hend, &f)) {
    if (lc((unsigned char)f.name[0]) != 'c') {
      if (depth == 0) top_field(b, &f);
    } else if (mime_field_is(&f, "content-type")) {
      mime_type(e.type, f.val, f.vlen);
      /* only the parameters this type has */
      if (!strncmp(e.type, "multipart/", 10)) {
        mime_param(f.val, f.vlen, "boundary", e.bnd, sizeof e.bnd);
        if (!strcmp(e.type + 10, "report"))
          mime_param(f.val, f.vlen, "report-type", e.rtype, sizeof e.rtype);
      } else if (!strncmp(e.type, "text/", 5))
        mime_param(f.val, f.vlen, "charset", e.charset, sizeof e.charset);
    } else if (mime_field_is(&f, "content-transfer-encoding")) {
      bounce_text_line(e.cte, sizeof e.cte, f.val, f.vlen);
    } else if (mime_field_is(&f, "content-disposition")) {
      char fn[8];
      if (bounce_text_find(f.val, f.vlen, "attachment") >= 0
          && mime_param(f.val, f.vlen, "filename", fn, sizeof fn))
        e.attach = 1;
    } else if (depth == 0)
      top_field(b, &f);
  }
  if (!e.type[0]) memcpy(e.type, deftype, strlen(deftype) + 1);
  body = p + hend;
  n -= hend;
  if (!strncmp(e.type, "multipart/", 10)) {
    struct mime_parts it;
    const char *pp;
    size_t pn;
    const char *child = !strcmp(e.type, "multipart/digest") ? "message/rfc822" : "text/plain";
    int found = 0;
    if (!strcmp(e.type, "multipart/report")) {
      b->is_report = 1;
      if (bounce_text_find(e.rtype, strlen(e.rtype), "feedback-report") >= 0) b->is_feedback = 1;
    }
    if (e.bnd[0]) {
      mime_parts_init(&it, body, n, e.bnd, strlen(e.bnd));
      while (mime_part_next(&it, &pp, &pn)) {
        if (b->parts >= BOUNCE_PART_MAX) break;
        walk(b, pp, pn, depth + 1, child);
        found++;
      }
    }
    /* a boundary that the body never uses (mangled by a relay or an
       editor): take the first "--token" line that comes back */
    if (!found && guess_boundary(body, n, e.bnd, sizeof e.bnd)) {
      mime_parts_init(&it, body, n, e.bnd, strlen(e.bnd));
      while (mime_part_next(&it, &pp, &pn)) {
        if (b->parts >= BOUNCE_PART_MAX) break;
        walk(b, pp, pn, depth + 1, child);
        found++;
      }
    }
    if (!found) add_text(b, body, n, e.charset, 0);
    return;
  }
  if (!strcmp(e.type, "message/delivery-status") || !strcmp(e.type, "message/global-delivery-status")) {
    if (decode_body(b, body, n, e.cte) == -1) return;
    if (buf_add(&b->dsn, b->dec.s, b->dec.len) == 0) buf_adds(&b->dsn, "\n\n");
    return;
  }
  if (!strcmp(e.type, "message/feedback-report")) { b->is_feedback = 1; return; }
  if (!strncmp(e.type, "message/", 8) || !strcmp(e.type, "text/rfc822-headers")) {
    /* the returned message: only its To: is of use; never walked, so a
       message inside a message inside ... costs nothing */
    b->saw_orig = 1;
    if (!b->hdr_n) {                  /* its To:, read only if needed */
      b->hdr_p = body;
      b->hdr_n = n;
      memcpy(b->hdr_cte, e.cte, sizeof b->hdr_cte);
    }
    if (!b->inner_n && strcmp(e.type, "text/rfc822-headers")) {
      b->inner_p = body;
      b->inner_n = n;
      memcpy(b->inner_cte, e.cte, sizeof b->inner_cte);
    }
    return;
  }
  if (!strncmp(e.type, "text/", 5)) {
    int html = !strcmp(e.type, "text/html");
    if (e.attach) {                   /* e.g. an attached header dump */
      if (decode_body(b, body, n > 16384 ? 16384 : n, e.cte) == 0) take_orig_to(b, b->dec.s, b->dec.len);
      return;
    }
    if (html && b->text.len) return;  /* the plain alternative was enough */
    if (decode_body(b, body, n, e.cte) == -1) return;
    add_text(b, b->dec.s, b->dec.len, e.charset, html);
  }
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
static void freeform(struct bounce *b)
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
      put_addr(a, p + as, ae - as);
      cur = rcpt_find(b, a);
      if (!cur && (cur = rcpt_new(b)) != 0) memcpy(cur->addr, a, sizeof a);
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
static void inline_rcpt(struct bounce *b)
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
  if (have && (r = rcpt_new(b)) != 0) put_addr(r->addr, t + first_as, first_ae - first_as);
}

/* The text about addr: from the paragraph that names it (or the start)
   through the next two, where MTAs put the transcript. */
static void context_for(struct bounce *b, struct bounce_rcpt *r)
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

/* ---- what kind of message ---- */

static int has_any(const char *s, const char *const *words)
{
  char low[256];
  size_t i;
  for (i = 0; s[i] && i + 1 < sizeof low; i++) low[i] = (char)lc((unsigned char)s[i]);
  low[i] = 0;
  for (i = 0; words[i]; i++)
    if (strstr(low, words[i])) return 1;
  return 0;
}

static const char *const daemon_from[] = {
  "mailer-daemon", "mailer_daemon", "postmaster", "post_master", "mail delivery",
  "mail-delivery", "mail.delivery", "maildelivery", "mail deliver", "mdaemon", "mailerdaemon",
  "delivery subsystem", "mail system", "mail administrator", "mailadmin", "bounce",
  "mail router", "mailer@", "-admin@", "smtp gateway", 0
};
static const char *const bounce_subject[] = {
  "undeliver", "undelivered", "delivery fail", "delivery status", "delivery notification",
  "failure notice", "failure notification", "returned mail", "returning message", "mail delivery",
  "delivery problem", "could not be delivered", "not delivered", "non-delivery", "nondelivery",
  "delivery error", "mail error", "system error", "delivery has failed", "message delivery",
  "unable to deliver", "rejected", "bounce", "failed", "error", "loop", "notification", "ndn",
  "\xe9\x85\x8d\xe4\xbf\xa1", /* 配信 */ "\xe3\x82\xa8\xe3\x83\xa9\xe3\x83\xbc", /* エラー */
  "\xe4\xb8\x8d\xe9\x81\x94", /* 不達 */ "\xe5\xb1\x8a\xe3\x81\x8d\xe3\x81\xbe\xe3\x81\x9b", /* 届きませ */
  0
};
static const char *const autoreply_subject[] = {
  "auto:", "automatic reply", "auto reply", "autoreply", "auto-reply", "auto response",
  "autoresponse", "auto-response", "out of office", "out of the office", "vacation",
  "away from", "abwesenheit", "absence", "automatische antwort", "r\xc3\xa9ponse automatique",
  "\xe8\x87\xaa\xe5\x8b\x95\xe5\xbf\x9c\xe7\xad\x94", /* 自動応答 */
  "\xe8\x87\xaa\xe5\x8b\x95\xe8\xbf\x94\xe4\xbf\xa1", /* 自動返信 */
  "\xe4\xb8\x8d\xe5\x9c\xa8", /* 不在 */ 0
};

static void decide(struct bounce *b)
{
  int i, failed = 0, ok = 0, daemon, bsubj, looks, autor;
  if (b->is_feedback) { b->kind = BOUNCE_FEEDBACK; b->nrcpt = 0; return; }
  for (i = 0; i < b->nrcpt; i++) {
    const char *a = b->rcpt[i].action, *s = b->rcpt[i].status;
    if (!strcmp(a, "delivered") || !strcmp(a, "relayed") || !strcmp(a, "expanded")
        || (s[0] == '2' && s[1] == '.'))
      ok++;
    else
      failed++;
  }
  if (b->nrcpt && !failed) { b->kind = BOUNCE_DELIVERED; b->nrcpt = 0; return; }
  if (failed && b->is_report) { b->kind = BOUNCE_FAILURE; return; }
  daemon = has_any(b->from, daemon_from);
  bsubj = has_any(b->subject, bounce_subject);
  looks = daemon || bsubj || b->failed[0] || (b->is_report && !b->is_feedback);
  autor = b->autoreply_hdr || has_any(b->subject, autoreply_subject);
  if (autor && !daemon && !bsubj) { b->kind = BOUNCE_AUTOREPLY; b->nrcpt = 0; return; }
  if (b->autosub && !looks) { b->kind = BOUNCE_AUTOREPLY; b->nrcpt = 0; return; }
  if (!looks && !(b->null_sender && failed)) { b->kind = BOUNCE_OTHER; b->nrcpt = 0; return; }
  b->kind = b->nrcpt ? BOUNCE_FAILURE : BOUNCE_OTHER;
}

/* Drop delivered entries from a mixed report. */
static void keep_failed(struct bounce *b)
{
  int i, o = 0;
  for (i = 0; i < b->nrcpt; i++) {
    const char *a = b->rcpt[i].action, *s = b->rcpt[i].status;
    if (!strcmp(a, "delivered") || !strcmp(a, "relayed") || !strcmp(a, "expanded")
        || (s[0] == '2' && s[1] == '.'))
      continue;
    if (o != i) b->rcpt[o] = b->rcpt[i];
    o++;
  }
  b->nrcpt = o;
}

void bounce_init(struct bounce *b)
{
  memset(b, 0, sizeof *b);
}

void bounce_free(struct bounce *b)
{
  buf_free(&b->msg);
  buf_free(&b->text);
  buf_free(&b->dec);
  buf_free(&b->tmp);
  buf_free(&b->dsn);
  buf_free(&b->inner);
  mime_convs_free(&b->convs);
}

const char *bounce_kind_name(enum bounce_kind k)
{
  switch (k) {
  case BOUNCE_FAILURE: return "bounce";
  case BOUNCE_AUTOREPLY: return "auto-reply";
  case BOUNCE_FEEDBACK: return "feedback-report";
  case BOUNCE_DELIVERED: return "delivered";
  default: return "not-a-bounce";
  }
}


/* Does the message at p look like a bounce from its header alone? */
static int looks_bounce_hdr(const char *p, size_t n)
{
  const char *hp = p, *end = p + mime_header_end(p, n);
  struct mime_field f;
  char v[256];
  int k = 0;
  while (k++ < 200 && mime_field_next(&hp, end, &f)) {
    bounce_text_line(v, sizeof v, f.val, f.vlen);
    if ((mime_field_is(&f, "from") && has_any(v, daemon_from))
        || (mime_field_is(&f, "subject") && has_any(v, bounce_subject))
        || (mime_field_is(&f, "content-type") && bounce_text_find(v, strlen(v), "delivery-status") >= 0))
      return 1;
  }
  return 0;
}

static void reset(struct bounce *b)
{
  b->kind = BOUNCE_OTHER;
  b->nrcpt = 0;
  b->subject[0] = b->from[0] = b->failed[0] = b->orig_to[0] = b->failed_list[0] = 0;
  b->parts = b->is_report = b->is_feedback = b->saw_orig = 0;
  b->autosub = b->autoreply_hdr = b->null_sender = 0;
  b->text.len = b->dsn.len = b->inner.len = 0;
  b->inner_p = 0;
  b->inner_n = 0;
  b->hdr_p = 0;
  b->hdr_n = 0;
}

int bounce_parse(struct bounce *b, const char *p, size_t n)
{
  const char *m;
  size_t i, mn;
  int k, level;
  if (n > BOUNCE_MSG_MAX) return errno = EFBIG, -1;
  if (buf_ready(&b->text, 0) == -1 || buf_ready(&b->dsn, 0) == -1
      || buf_ready(&b->inner, 0) == -1)
    return -1;
  m = p;
  mn = n;
  if (memchr(p, '\r', n)) {
    /* LF line ends only from here on; a lone CR stays */
    b->msg.len = 0;
    if (buf_ready(&b->msg, n) == -1) return -1;
    for (i = 0; i < n;) {
      const char *cr = memchr(p + i, '\r', n - i);
      size_t run = cr ? (size_t)(cr - (p + i)) : n - i;
      memcpy(b->msg.s + b->msg.len, p + i, run);
      b->msg.len += run;
      i += run;
      if (i >= n) break;
      if (!(i + 1 < n && p[i + 1] == '\n')) b->msg.s[b->msg.len++] = '\r';
      i++;
    }
    b->msg.s[b->msg.len] = 0;
    m = b->msg.s;
    mn = b->msg.len;
  }
  for (level = 0;; level++) {
    const char *nl;
    /* an mbox "From " line first is not part of the message */
    while (mn && *m == '\n') m++, mn--;
    if (mn > 5 && !memcmp(m, "From ", 5) && (nl = memchr(m, '\n', mn)) != 0) {
      mn -= (size_t)(nl + 1 - m);
      m = nl + 1;
    }
    reset(b);
    walk(b, m, mn, 0, "text/plain");
    if (b->dsn.len) dsn_parse(b, b->dsn.s, b->dsn.len);
    if (!b->nrcpt && b->text.len) dsn_parse(b, b->text.s, b->text.len);
    if (b->nrcpt) break;
    freeform(b);
    if (b->nrcpt || level + 1 >= BOUNCE_NEST_MAX) break;
    /* nothing here but a returned message that is itself a bounce (a
       gateway that wrapped it, a bounce pasted into a bounce): read that */
    if (!b->inner.len && b->inner_n) {
      if (decode_body(b, b->inner_p, b->inner_n, b->inner_cte) == -1
          || buf_set(&b->inner, b->dec.s, b->dec.len) == -1)
        break;
      for (i = 0, k = 0; i < b->inner.len; i++)   /* CRLF inside base64 */
        if (!(b->inner.s[i] == '\r' && i + 1 < b->inner.len && b->inner.s[i + 1] == '\n'))
          b->inner.s[k++] = b->inner.s[i];
      buf_trunc(&b->inner, (size_t)k);
    }
    if (!b->inner.len || !looks_bounce_hdr(b->inner.s, b->inner.len)) break;
    {
      struct buf t = b->msg;
      b->msg = b->inner;
      b->inner = t;
      b->inner.len = 0;
      m = b->msg.s;
      mn = b->msg.len;
    }
  }
  if (b->nrcpt && (b->dsn.len || b->rcpt[0].action[0] || b->rcpt[0].status[0])) {
    /* DSN fields found; the text still gives context (SMTP stage) and a
       diagnostic where the DSN has none */
    for (k = 0; k < b->nrcpt; k++) context_for(b, &b->rcpt[k]);
    keep_failed(b);
    if (!b->nrcpt) {
      /* every recipient delivered (or relayed): a success notice, unless
         it is in fact a complaint */
      b->kind = b->is_feedback ? BOUNCE_FEEDBACK : BOUNCE_DELIVERED;
      return 0;
    }
    for (k = 0; k < b->nrcpt; k++) {
      struct bounce_rcpt *r = &b->rcpt[k];
      char alt[BOUNCE_DIAG_MAX];
      if (!bounce_text_weak(r->diag)) continue;
      /* no usable Diagnostic-Code: the reply lines of the text, else
         what there is, else the paragraph about r */
      if (b->text.s && bounce_text_replies(b->text.s, b->text.len, b->nrcpt > 1 ? r->addr : "", alt, sizeof alt))
        memcpy(r->diag, alt, sizeof alt);
      else if (!r->diag[0] && b->nrcpt == 1 && b->text.s)
        bounce_text_line(r->diag, sizeof r->diag, b->text.s, b->text.len);
      else if (!r->diag[0])
        bounce_text_append(r->diag, sizeof r->diag, r->ctx, strlen(r->ctx));
    }
    decide(b);
    return 0;
  }
  if (!b->nrcpt) inline_rcpt(b);
  if (!b->nrcpt && !b->failed[0] && !b->orig_to[0] && b->hdr_n) {
    /* the To: of the returned message, the last guess */
    if (!encoded(b->hdr_cte)) take_orig_to(b, b->hdr_p, b->hdr_n);
    else if (decode_body(b, b->hdr_p, b->hdr_n > 16384 ? 16384 : b->hdr_n, b->hdr_cte) == 0)
      take_orig_to(b, b->dec.s, b->dec.len);    /* the header is at the start */
  }
  if (!b->nrcpt && (b->failed[0] || b->orig_to[0])) {
    struct bounce_rcpt *r = rcpt_new(b);
    const char *a = b->failed[0] ? b->failed : b->orig_to;
    if (r) put_addr(r->addr, a, strlen(a));
  }
  for (k = 0; k < b->nrcpt; k++) {
    struct bounce_rcpt *r = &b->rcpt[k];
    context_for(b, r);
    if (bounce_text_weak(r->diag)) {
      char alt[BOUNCE_DIAG_MAX];
      if (b->text.s && bounce_text_replies(b->text.s, b->text.len, b->nrcpt > 1 ? r->addr : "", alt, sizeof alt))
        memcpy(r->diag, alt, sizeof alt);
      else
        bounce_text_line(r->diag, sizeof r->diag, b->text.s ? b->text.s : "", b->text.len);
    }
  }
  decide(b);
  return 0;
}
