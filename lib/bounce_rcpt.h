#ifndef BOUNCE_RCPT_H
#define BOUNCE_RCPT_H
/* bounce_rcpt.h: the recipients of a bounce being parsed, for
   lib/bounce*.c only (everyone else goes through bounce.h). */
#include <stddef.h>
#include "bounce.h"

/* s[0..n) into dst (BOUNCE_ADDR_MAX bytes), cut to fit. */
void bounce_rcpt_put_addr(char *dst, const char *s, size_t n);
/* An address out of a field value ("rfc822; <a@b>", "Name <a@b>") into
   dst (BOUNCE_ADDR_MAX bytes).  1 ok. */
int bounce_rcpt_from_value(char *dst, const char *v, size_t n);
/* A new, empty entry of b->rcpt, or 0 when there are BOUNCE_RCPT_MAX. */
struct bounce_rcpt *bounce_rcpt_new(struct bounce *b);
/* Read delivery-status fields from text t[0..n); records go to b->rcpt. */
void bounce_rcpt_dsn(struct bounce *b, const char *t, size_t n);
/* Recipients from the lines of b->text that start with an address. */
void bounce_rcpt_freeform(struct bounce *b);
/* The first address named in the running text of b->text that is not
   introduced as a sender, as the one recipient. */
void bounce_rcpt_inline(struct bounce *b);
/* r->ctx: the paragraph of b->text that names r (or the first) and the
   next two. */
void bounce_rcpt_context(struct bounce *b, struct bounce_rcpt *r);
#endif
