/* dq.c: deliver's queue state, its record, the retry schedule, the
   classification of replies and the worker result lines (see dq.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "dq.h"
#include "event.h"

static char *dup0(const char *s)
{
  return strdup(s ? s : "");
}

struct dq_msg *dq_msg_new(const char *id, const char *tenant, const char *comp,
                          const char *sender, const char *client_ip, const char *user,
                          long long accepted, int is_8bitmime, int is_smtputf8,
                          const char *const *rcpt, size_t nrcpt)
{
  struct dq_msg *m;
  size_t i;
  if (strlen(id) > SPOOL_ID_MAX || nrcpt == 0) return errno = EINVAL, (struct dq_msg *)0;
  m = calloc(1, sizeof *m);
  if (!m) return errno = ENOMEM, (struct dq_msg *)0;
  memcpy(m->id, id, strlen(id) + 1);
  m->tenant = dup0(tenant);
  m->comp = dup0(comp);
  m->sender = dup0(sender);
  m->client_ip = dup0(client_ip);
  m->user = dup0(user);
  m->from = dup0("");
  m->subject = dup0("");
  m->message_id = dup0("");
  m->api_data = dup0("");
  m->accepted = accepted;
  m->is_8bitmime = is_8bitmime;
  m->is_smtputf8 = is_smtputf8;
  m->r = calloc(nrcpt, sizeof *m->r);
  if (!m->tenant || !m->comp || !m->sender || !m->client_ip || !m->user || !m->from
      || !m->subject || !m->message_id || !m->api_data || !m->r)
    goto nomem;
  m->nrcpt = nrcpt;
  for (i = 0; i < nrcpt; i++) {
    m->r[i].addr = dup0(rcpt[i]);
    m->r[i].state = DQ_PENDING;
    if (!m->r[i].addr) goto nomem;
  }
  return m;
nomem:
  dq_msg_free(m);
  return errno = ENOMEM, (struct dq_msg *)0;
}

void dq_msg_free(struct dq_msg *m)
{
  size_t i;
  if (!m) return;
  free(m->tenant);
  free(m->comp);
  free(m->sender);
  free(m->client_ip);
  free(m->user);
  free(m->from);
  free(m->subject);
  free(m->message_id);
  free(m->api_data);
  if (m->r)
    for (i = 0; i < m->nrcpt; i++) free(m->r[i].addr);
  free(m->r);
  free(m);
}

static int replace(char **dst, const char *s)
{
  char *p = dup0(s);
  if (!p) return errno = ENOMEM, -1;
  free(*dst);
  *dst = p;
  return 0;
}

int dq_msg_sethdr(struct dq_msg *m, const char *from, const char *subject,
                  const char *message_id, const char *api_data)
{
  if (replace(&m->from, from) == -1 || replace(&m->subject, subject) == -1
      || replace(&m->message_id, message_id) == -1 || replace(&m->api_data, api_data) == -1)
    return -1;
  return 0;
}

int dq_msg_final(const struct dq_msg *m)
{
  size_t i;
  for (i = 0; i < m->nrcpt; i++)
    if (m->r[i].state == DQ_PENDING) return 0;
  return 1;
}

static int addll(struct buf *b, long long v)
{
  return buf_printf(b, "%lld", v) == -1 || buf_addc(b, 0) == -1 ? -1 : 0;
}

int dq_encode(struct buf *out, const struct dq_msg *m)
{
  char flags[3];
  size_t i, nf = 0;
  if (m->is_8bitmime) flags[nf++] = '8';
  if (m->is_smtputf8) flags[nf++] = 'u';
  flags[nf] = 0;
  if (buf_addz(out, "1") == -1 || buf_addz(out, m->id) == -1
      || buf_addz(out, m->tenant) == -1 || buf_addz(out, m->comp) == -1
      || buf_addz(out, m->sender) == -1 || buf_addz(out, flags) == -1
      || addll(out, m->accepted) == -1 || buf_addz(out, m->client_ip) == -1
      || buf_addz(out, m->user) == -1 || buf_addz(out, m->from) == -1
      || buf_addz(out, m->subject) == -1 || buf_addz(out, m->message_id) == -1
      || buf_addz(out, m->api_data) == -1 || addll(out, (long long)m->nrcpt) == -1)
    return -1;
  for (i = 0; i < m->nrcpt; i++) {
    const struct dq_rcpt *r = &m->r[i];
    char st[2] = { r->state, 0 };
    if (buf_addz(out, r->addr) == -1 || buf_addz(out, st) == -1
        || addll(out, r->attempts) == -1 || addll(out, r->first) == -1
        || addll(out, r->next) == -1)
      return -1;
  }
  return 0;
}

/* Field reader over a record. */
struct rd {
  const char *p;
  size_t n, pos;
  int bad;
};

static const char *field(struct rd *r)
{
  const char *s, *z;
  if (r->bad || r->pos >= r->n) { r->bad = 1; return ""; }
  s = r->p + r->pos;
  z = memchr(s, 0, r->n - r->pos);
  if (!z) { r->bad = 1; return ""; }
  r->pos += (size_t)(z - s) + 1;
  return s;
}

static long long number(struct rd *r)
{
  const char *s = field(r);
  char *end;
  long long v;
  if (r->bad) return 0;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < 0) r->bad = 1;
  return v;
}

struct dq_msg *dq_decode(const char *p, size_t n)
{
  struct rd r = { p, n, 0, 0 };
  const char *id, *tenant, *comp, *sender, *flags, *cip, *user;
  const char *from, *subject, *mid, *api;
  const char *one = "x";
  long long accepted, nrcpt;
  struct dq_msg *m;
  size_t i;
  if (strcmp(field(&r), "1") != 0) return errno = EINVAL, (struct dq_msg *)0;
  id = field(&r);
  tenant = field(&r);
  comp = field(&r);
  sender = field(&r);
  flags = field(&r);
  accepted = number(&r);
  cip = field(&r);
  user = field(&r);
  from = field(&r);
  subject = field(&r);
  mid = field(&r);
  api = field(&r);
  nrcpt = number(&r);
  if (r.bad || nrcpt < 1 || nrcpt > 1000000 || !spool_id_ok(id))
    return errno = EINVAL, (struct dq_msg *)0;
  /* Recipients are filled in below: start from placeholders. */
  {
    const char **ph = malloc((size_t)nrcpt * sizeof *ph);
    if (!ph) return errno = ENOMEM, (struct dq_msg *)0;
    for (i = 0; i < (size_t)nrcpt; i++) ph[i] = one;
    m = dq_msg_new(id, tenant, comp, sender, cip, user, accepted,
                   strchr(flags, '8') != 0, strchr(flags, 'u') != 0, ph, (size_t)nrcpt);
    free(ph);
  }
  if (!m) return 0;
  if (dq_msg_sethdr(m, from, subject, mid, api) == -1) { dq_msg_free(m); return 0; }
  for (i = 0; i < m->nrcpt; i++) {
    struct dq_rcpt *q = &m->r[i];
    const char *a = field(&r), *st = field(&r);
    q->attempts = (unsigned)number(&r);
    q->first = number(&r);
    q->next = number(&r);
    if (r.bad || !*a || strlen(st) != 1
        || (st[0] != DQ_PENDING && st[0] != DQ_SUCCEEDED && st[0] != DQ_FAILED)
        || replace(&q->addr, a) == -1) {
      int e = r.bad || errno != ENOMEM ? EINVAL : ENOMEM;
      dq_msg_free(m);
      return errno = e, (struct dq_msg *)0;
    }
    q->state = st[0];
  }
  if (r.pos != n) { dq_msg_free(m); return errno = EINVAL, (struct dq_msg *)0; }
  return m;
}

long long dq_retry_next(long long period, long long interval, long long accepted,
                        long long now, unsigned attempts)
{
  long long deadline, delay, cap;
  unsigned i;
  if (period < 0) period = 0;
  if (interval < 1) interval = 1;
  deadline = accepted + period;
  if (now >= deadline) return -1;
  cap = interval > DQ_RETRY_INTERVAL_CAP ? interval : DQ_RETRY_INTERVAL_CAP;
  delay = interval;
  for (i = 1; i < attempts && delay < cap; i++) delay *= 2;
  if (delay > cap) delay = cap;
  return now + delay > deadline ? deadline : now + delay;
}

int dq_classify(int code, const char *reply, int *err)
{
  (void)reply;
  *err = 0;
  if (code >= 200 && code < 300) return DQ_SUCCEEDED;
  if (code >= 500 && code < 600) {
    *err = ERR_OTHER;
    return DQ_FAILED;
  }
  return DQ_DEFERRED;
}

/* s made one safe field: TAB, CR, LF and NUL-free, at most max bytes. */
static int put_field(struct buf *out, const char *s, size_t max)
{
  size_t i, n = s ? strlen(s) : 0;
  if (n > max) {
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) n--;   /* whole UTF-8 only */
  }
  for (i = 0; i < n; i++) {
    char c = s[i];
    if (c == '\t' || c == '\r' || c == '\n') c = ' ';
    if (buf_addc(out, c) == -1) return -1;
  }
  return 0;
}

int dq_result_put(struct buf *out, const struct dq_result *r)
{
  if (put_field(out, r->id, SPOOL_ID_MAX) == -1
      || buf_printf(out, "\t%zu\t%c\t%d\t", r->idx, r->kind, r->err) == -1
      || put_field(out, r->remote, 512) == -1 || buf_addc(out, '\t') == -1
      || put_field(out, r->local_ip, 64) == -1 || buf_addc(out, '\t') == -1
      || put_field(out, r->reply, DQ_REPLY_MAX) == -1 || buf_addc(out, '\n') == -1)
    return -1;
  return 0;
}

int dq_result_parse(struct dq_result *r, char *line, size_t n)
{
  char *f[7], *end;
  size_t i, k = 0;
  unsigned long long v;
  long e;
  f[k++] = line;
  for (i = 0; i < n; i++) {
    if (line[i] == 0) return errno = EINVAL, -1;
    if (line[i] != '\t') continue;
    if (k == 7) return errno = EINVAL, -1;
    line[i] = 0;
    f[k++] = line + i + 1;
  }
  if (k != 7) return errno = EINVAL, -1;
  line[n] = 0;
  if (!spool_id_ok(f[0])) return errno = EINVAL, -1;
  errno = 0;
  v = strtoull(f[1], &end, 10);
  if (errno || end == f[1] || *end || v > 1000000) return errno = EINVAL, -1;
  if (strlen(f[2]) != 1 || (f[2][0] != 'K' && f[2][0] != 'Z' && f[2][0] != 'D'))
    return errno = EINVAL, -1;
  e = strtol(f[3], &end, 10);
  if (end == f[3] || *end || e < 0 || e > 99) return errno = EINVAL, -1;
  r->id = f[0];
  r->idx = (size_t)v;
  r->kind = f[2][0];
  r->err = (int)e;
  r->remote = f[4];
  r->local_ip = f[5];
  r->reply = f[6];
  return 0;
}
