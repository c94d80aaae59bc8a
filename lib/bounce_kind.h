#ifndef BOUNCE_KIND_H
#define BOUNCE_KIND_H
/* bounce_kind.h: what kind of message a bounce being parsed is, for
   lib/bounce*.c only (everyone else goes through bounce.h). */
#include <stddef.h>
#include "bounce.h"

/* b->kind from what the parse found; b->nrcpt 0 unless a failure. */
void bounce_kind_decide(struct bounce *b);
/* Drop delivered (relayed, expanded, 2.x.x) entries from b->rcpt. */
void bounce_kind_keep_failed(struct bounce *b);
/* 1 if the message at p[0..n) looks like a bounce from its header alone. */
int bounce_kind_looks(const char *p, size_t n);
#endif
