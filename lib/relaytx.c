/* relaytx.c: smtp-recv's mail transaction (relaytx.h).  Holds no message
   in memory: each piece read goes on at once, as smtpd_data_feed passes
   it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "relaytx.h"

static const char *const refusal[] = {
  "", "552 5.3.4 Message size exceeds fixed limit", "554 5.6.0 Message has a line over 1000 bytes",
  "451 4.3.0 Temporary failure, try again",
};

void relaytx_reset(struct relaytx *t)
{
  size_t i;
  for (i = 0; i < t->nrcpt; i++) free(t->rcpt[i]);
  t->nrcpt = 0;
  t->has_mail = t->rcpt_tried = t->is_8bitmime = t->is_smtputf8 = 0;
  buf_trunc(&t->sender, 0);
}

int relaytx_mail(struct relaytx *t, const struct smtpd_path *pa)
{
  if (buf_set(&t->sender, pa->addr.s, pa->addr.len) == -1) return -1;
  t->has_mail = 1;
  t->is_8bitmime = pa->is_8bitmime;
  t->is_smtputf8 = pa->is_smtputf8;
  return 0;
}

int relaytx_rcpt(struct relaytx *t, const char *addr)
{
  size_t i;
  for (i = 0; i < t->nrcpt; i++)
    if (addr_cmp(t->rcpt[i], addr) == 0) return 1;
  if (t->nrcpt >= t->maxrcpt) return 0;
  if (!t->rcpt && !(t->rcpt = calloc(t->maxrcpt, sizeof *t->rcpt))) return -1;
  if (!(t->rcpt[t->nrcpt] = strdup(addr))) return -1;
  t->nrcpt++;
  return 1;
}

int relaytx_begin(struct relaytx *t, struct envelope *e, enum injectc_how how, const char *sock,
                  const char *prog, int timeout, struct buf *scratch)
{
  e->sender = t->sender.s ? t->sender.s : "";
  e->accepted = -1;
  e->is_8bitmime = t->is_8bitmime;
  e->is_smtputf8 = t->is_smtputf8;
  e->nrcpt = t->nrcpt;
  e->rcpt = (const char **)t->rcpt;
  buf_trunc(scratch, 0);
  if (envelope_put(scratch, e) == -1) return -1;
  return injectc_start(&t->ic, how, sock, prog, scratch->s, scratch->len, timeout);
}

int relaytx_data(struct relaytx *t, struct tls *io, const char *hdr, size_t n,
                 unsigned long long maxsize, struct buf *scratch)
{
  struct smtpd_data d;
  t->why = hdr ? RELAYTX_OK : RELAYTX_FAIL;
  t->size = 0;
  t->reply[0] = 0;
  if (hdr) injectc_write(&t->ic, hdr, n);
  smtpd_data_init(&d);
  while (!d.is_done) {
    const char *p;
    size_t got = 0, used;
    int r = tls_peek(io, &p, &got);
    if (r == -1 || got == 0) {        /* the client is gone or silent: keep nothing */
      int e = errno;
      injectc_abort(&t->ic);
      errno = e;
      return r == 0 ? 1 : -1;
    }
    buf_trunc(scratch, 0);
    used = smtpd_data_feed(&d, p, got, t->why ? 0 : scratch);
    if (used == (size_t)-1) {
      t->why = RELAYTX_FAIL;
      used = smtpd_data_feed(&d, p, got, 0);
    }
    tls_consume(io, used);
    if (!t->why && d.size > maxsize) t->why = RELAYTX_SIZE;
    if (!t->why && d.is_long) t->why = RELAYTX_LONG;
    if (t->why) injectc_abort(&t->ic);
    /* A queue-inject that stopped reading has said no: its answer says how. */
    if (!t->why && scratch->len) injectc_write(&t->ic, scratch->s, scratch->len);
  }
  t->size = d.size;
  if (t->why) {
    injectc_abort(&t->ic);
    snprintf(t->reply, sizeof t->reply, "%s", refusal[t->why]);
  }
  return 0;
}

int relaytx_end(struct relaytx *t)
{
  int code = injectc_finish(&t->ic, t->id, sizeof t->id);
  if (code == 0) snprintf(t->reply, sizeof t->reply, "250 2.0.0 Ok: queued as %s", t->id);
  else if (code == 100) snprintf(t->reply, sizeof t->reply, "554 5.6.0 Message refused");
  else snprintf(t->reply, sizeof t->reply, "451 4.3.0 Temporary failure, try again");
  return code;
}
