/* report_fmt.c: report rows as a tab-separated table, CSV (RFC 4180) or
   JSON (built with libjansson, Debian's maintained JSON library, so that
   escaping is not ours to get wrong); the columns of the delivery and
   error logs (spec/api.md section 4.3).  See report.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "event.h"
#include "report.h"

int report_format_parse(const char *s)
{
  if (!strcmp(s, "table")) return REPORT_TABLE;
  if (!strcmp(s, "csv")) return REPORT_CSV;
  if (!strcmp(s, "json")) return REPORT_JSON;
  return -1;
}

/* s with every invalid UTF-8 sequence replaced by U+FFFD, into b. */
static int clean(struct buf *b, const char *s)
{
  const unsigned char *p = (const unsigned char *)s;
  buf_trunc(b, 0);
  while (*p) {
    unsigned c = *p, need, cp, i;
    if (c < 0x80) {
      if (buf_addc(b, (char)c) == -1) return -1;
      p++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) need = 1, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) need = 2, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) need = 3, cp = c & 0x07;
    else need = 0, cp = 0;
    for (i = 1; need && i <= need; i++) {
      if ((p[i] & 0xc0) != 0x80) break;
      cp = cp << 6 | (p[i] & 0x3f);
    }
    if (!need || i <= need || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000)
        || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      if (buf_add(b, "\xef\xbf\xbd", 3) == -1) return -1;
      p++;
      continue;
    }
    if (buf_add(b, p, need + 1) == -1) return -1;
    p += need + 1;
  }
  return buf_addc(b, 0) == -1 ? -1 : (b->len--, 0);
}

static int tsv(struct buf *b, const char *s)
{
  for (; *s; s++) {
    char c = *s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s;
    if (buf_addc(b, c) == -1) return -1;
  }
  return 0;
}

static int csv(struct buf *b, const char *s)
{
  if (!strpbrk(s, ",\"\r\n")) return buf_adds(b, s);
  if (buf_addc(b, '"') == -1) return -1;
  for (; *s; s++)
    if ((*s == '"' && buf_addc(b, '"') == -1) || buf_addc(b, *s) == -1) return -1;
  return buf_addc(b, '"');
}

static int header(struct report_out *o)
{
  size_t i;
  for (i = 0; i < o->ncols; i++) {
    if (i && buf_addc(o->b, o->fmt == REPORT_CSV ? ',' : '\t') == -1) return -1;
    if ((o->fmt == REPORT_CSV ? csv(o->b, o->cols[i]) : tsv(o->b, o->cols[i])) == -1) return -1;
  }
  return buf_adds(o->b, o->fmt == REPORT_CSV ? "\r\n" : "\n");
}

int report_out_begin(struct report_out *o, struct buf *b, enum report_format fmt,
                     const char *root, const char *const *cols, const int *numeric, size_t ncols)
{
  memset(o, 0, sizeof *o);
  o->fmt = fmt;
  o->root = root;
  o->cols = cols;
  o->numeric = numeric;
  o->ncols = ncols;
  o->b = b;
  if (fmt == REPORT_JSON) return buf_printf(b, "{\"%s\":[", root);
  return header(o);
}

static int dump(const char *p, size_t n, void *ctx)
{
  return buf_add(ctx, p, n);
}

static json_t *value(const char *s, int numeric)
{
  char *end;
  if (numeric && *s) {
    if (strchr(s, '.')) {
      double d = strtod(s, &end);
      if (!*end) return json_real(d);
    } else {
      long long v;
      errno = 0;
      v = strtoll(s, &end, 10);
      if (!*end && !errno) return json_integer(v);
    }
  }
  return json_stringn(s, strlen(s));
}

int report_out_row(struct report_out *o, const char *const *vals)
{
  struct buf c = BUF_ZERO;
  json_t *row = 0;
  size_t i;
  int r = -1;
  if (o->fmt == REPORT_JSON) {
    if (!(row = json_object())) goto out;
    for (i = 0; i < o->ncols; i++) {
      json_t *v;
      if (clean(&c, vals[i] ? vals[i] : "") == -1) goto out;
      if (!(v = value(c.s ? c.s : "", o->numeric && o->numeric[i]))
          || json_object_set_new(row, o->cols[i], v) == -1)
        goto out;
    }
    if (o->rows && buf_addc(o->b, ',') == -1) goto out;
    if (json_dump_callback(row, dump, o->b, JSON_COMPACT) == -1) goto out;
  } else {
    for (i = 0; i < o->ncols; i++) {
      if (clean(&c, vals[i] ? vals[i] : "") == -1) goto out;
      if (i && buf_addc(o->b, o->fmt == REPORT_CSV ? ',' : '\t') == -1) goto out;
      if ((o->fmt == REPORT_CSV ? csv(o->b, c.s ? c.s : "") : tsv(o->b, c.s ? c.s : "")) == -1)
        goto out;
    }
    if (buf_adds(o->b, o->fmt == REPORT_CSV ? "\r\n" : "\n") == -1) goto out;
  }
  o->rows++;
  r = 0;
out:
  if (row) json_decref(row);
  buf_free(&c);
  if (r == -1 && !errno) errno = ENOMEM;
  return r;
}

int report_out_end(struct report_out *o)
{
  if (o->fmt == REPORT_JSON) return buf_adds(o->b, "]}\n");
  return 0;
}

/* ---------- the logs' columns ---------- */

static const char *const log_cols[] = {
  "created", "status", "from", "to", "returnPath", "messageId", "subject", "apiData", "reason",
};
static const char *const delivery_more[] = { "senderIp", "sourceIp" };
static const char *const own_delivery[] = { "errorStatus", "composition", "user", "id", "remote" };
static const char *const own_error[] = { "senderIp", "composition", "user", "id", "remote" };

size_t report_log_cols(int errors, int all, const char **cols)
{
  size_t n = 0, i;
  for (i = 0; i < sizeof log_cols / sizeof *log_cols; i++) cols[n++] = log_cols[i];
  if (!errors)
    for (i = 0; i < 2; i++) cols[n++] = delivery_more[i];
  if (all)
    for (i = 0; i < 5; i++) cols[n++] = errors ? own_error[i] : own_delivery[i];
  return n;
}

size_t report_log_row(int errors, int all, const struct event *e, char *scratch, size_t n,
                      const char **vals)
{
  size_t k = 0;
  char *created = scratch, *code = scratch + 32;
  if (n < 64) return 0;
  report_time_text(e->time, 1, 0, created, 32);
  snprintf(code, 16, "%d", e->error);
  vals[k++] = created;
  vals[k++] = errors ? code : event_status_name(e->status);
  vals[k++] = e->from;
  vals[k++] = e->rcpt;
  vals[k++] = e->sender;
  vals[k++] = e->message_id;
  vals[k++] = e->subject;
  vals[k++] = e->api_data;
  /* A success's reply is in the record too; the log shows it (api.md's
     example does) for every status but queued. */
  vals[k++] = e->status == EV_QUEUED ? "" : e->reply;
  if (!errors) {
    vals[k++] = e->sender_ip;
    vals[k++] = e->source_ip;
  }
  if (all) {
    if (errors) vals[k++] = e->sender_ip;
    else vals[k++] = e->error ? code : "";
    vals[k++] = e->composition;
    vals[k++] = e->user;
    vals[k++] = e->id;
    vals[k++] = e->remote;
  }
  return k;
}
