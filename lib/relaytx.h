#ifndef RELAYTX_H
#define RELAYTX_H
/* relaytx.h: smtp-recv's mail transaction: the envelope as MAIL and RCPT
   build it (each recipient once, at most maxrcpt), then, after DATA, the
   message handed on as it arrives: read from the client (tls.h), its end
   found and dot-stuffing undone by smtpd_data (smtpd.h), streamed to
   queue-inject (injectc.h) after the envelope and the Received header;
   queue-inject's answer becomes the client's reply.  A message refused or
   cut short is given up: queue-inject keeps nothing.  Functions return 0
   or -1 with errno unless they say otherwise; nothing here exits or logs. */
#include <stddef.h>
#include "buf.h"
#include "envelope.h"
#include "injectc.h"
#include "smtpd.h"
#include "spool.h"
#include "tls.h"

enum relaytx_why { RELAYTX_OK, RELAYTX_SIZE, RELAYTX_LONG, RELAYTX_FAIL };

struct relaytx {
  int has_mail, rcpt_tried, is_8bitmime, is_smtputf8;
  struct buf sender;
  char **rcpt;                           /* maxrcpt slots, made at the first */
  size_t nrcpt, maxrcpt;
  struct injectc ic;                     /* the message being handed on */
  enum relaytx_why why;                  /* the message is not kept: why */
  unsigned long long size;               /* message bytes read */
  char id[SPOOL_ID_MAX + 2];             /* queued as */
  char reply[512];                       /* the client's reply to the message */
};

/* A new transaction (the recipients' memory is kept for the next). */
void relaytx_reset(struct relaytx *t);
/* MAIL: the sender and its parameters.  -1 ENOMEM. */
int relaytx_mail(struct relaytx *t, const struct smtpd_path *pa);
/* RCPT: 1 taken (or taken before: one copy each is enough), 0 no room
   (maxrcpt), -1 ENOMEM. */
int relaytx_rcpt(struct relaytx *t, const char *addr);
/* Begin handing the message on with envelope e (its tenant, client and
   HELO set by the caller; sender and recipients are the transaction's):
   to the server the envelope goes first, for a queue-inject run for the
   message it is kept for the end.  scratch: the caller's buffer. */
int relaytx_begin(struct relaytx *t, struct envelope *e, enum injectc_how how, const char *sock,
                  const char *prog, int timeout, struct buf *scratch);
/* Read the message text from io to the end of data, passing hdr[0..n)
   (hdr 0: it could not be made, the message is refused) and the text on;
   the rest is still read when it is refused (t->why, t->reply), so the
   session stays in step.  scratch: the caller's buffer (may hold hdr).
   0 the end was read; 1 the client went away, -1 a read failed (errno):
   the message is given up either way. */
int relaytx_data(struct relaytx *t, struct tls *io, const char *hdr, size_t n,
                 unsigned long long maxsize, struct buf *scratch);
/* The message is complete: queue-inject's answer.  0 queued (t->id, the
   250 reply), 100 refused for good, 111 not queued (t->ic.why says why);
   t->reply the reply either way. */
int relaytx_end(struct relaytx *t);
#endif
