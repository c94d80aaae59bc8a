/* bounce.c: one message in, failed recipients out (see bounce.h).
   The MIME tree is walked with bounded depth and part count, collecting
   the header fields of interest, the human-readable text and any
   delivery-status part; bounce_parse then takes the recipients from the
   RFC 3464 fields or the text (bounce_rcpt.c) and decides what kind of
   message it is (bounce_kind.c).  Everything returned is one line of UTF-8. */
#include <errno.h>
#include <string.h>
#include "bounce.h"
#include "bounce_kind.h"
#include "bounce_mime.h"
#include "bounce_rcpt.h"
#include "bounce_text.h"

static int lc(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
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
    if (mime_field_is(&f, "to") && bounce_rcpt_from_value(b->orig_to, f.val, f.vlen)) return;
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
      bounce_rcpt_from_value(b->failed, f->val, f->vlen);
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
    if (b->dsn.len) bounce_rcpt_dsn(b, b->dsn.s, b->dsn.len);
    if (!b->nrcpt && b->text.len) bounce_rcpt_dsn(b, b->text.s, b->text.len);
    if (b->nrcpt) break;
    bounce_rcpt_freeform(b);
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
    if (!b->inner.len || !bounce_kind_looks(b->inner.s, b->inner.len)) break;
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
    for (k = 0; k < b->nrcpt; k++) bounce_rcpt_context(b, &b->rcpt[k]);
    bounce_kind_keep_failed(b);
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
    bounce_kind_decide(b);
    return 0;
  }
  if (!b->nrcpt) bounce_rcpt_inline(b);
  if (!b->nrcpt && !b->failed[0] && !b->orig_to[0] && b->hdr_n) {
    /* the To: of the returned message, the last guess */
    if (!encoded(b->hdr_cte)) take_orig_to(b, b->hdr_p, b->hdr_n);
    else if (decode_body(b, b->hdr_p, b->hdr_n > 16384 ? 16384 : b->hdr_n, b->hdr_cte) == 0)
      take_orig_to(b, b->dec.s, b->dec.len);    /* the header is at the start */
  }
  if (!b->nrcpt && (b->failed[0] || b->orig_to[0])) {
    struct bounce_rcpt *r = bounce_rcpt_new(b);
    const char *a = b->failed[0] ? b->failed : b->orig_to;
    if (r) bounce_rcpt_put_addr(r->addr, a, strlen(a));
  }
  for (k = 0; k < b->nrcpt; k++) {
    struct bounce_rcpt *r = &b->rcpt[k];
    bounce_rcpt_context(b, r);
    if (bounce_text_weak(r->diag)) {
      char alt[BOUNCE_DIAG_MAX];
      if (b->text.s && bounce_text_replies(b->text.s, b->text.len, b->nrcpt > 1 ? r->addr : "", alt, sizeof alt))
        memcpy(r->diag, alt, sizeof alt);
      else
        bounce_text_line(r->diag, sizeof r->diag, b->text.s ? b->text.s : "", b->text.len);
    }
  }
  bounce_kind_decide(b);
  return 0;
}
