/* fuzz/bounce: libFuzzer target for the bounce parser (bounce_parse: MIME,
   transfer encodings, charsets, delivery-status fields, free-form text) and
   the classifier on what it finds, and on the input taken as one SMTP reply.
   Run from the top of the tree (the rules are read from templates/classify,
   or $CLASSIFY_RULES).  Traps when a promise of bounce.h is broken. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "bounce.h"
#include "classify.h"

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);

static struct bounce *b;
static struct classify *c;

static int valid(int s) { return (s >= 0 && s <= 9) || s == 99; }

/* a char array field must hold a NUL inside its size */
#define TERMINATED(a) (memchr((a), 0, sizeof(a)) != 0)

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
  static char reply[CLASSIFY_TEXT_MAX];
  int i;
  if (!b) {
    const char *dir = getenv("CLASSIFY_RULES");
    char err[256];
    b = malloc(sizeof *b);
    if (!b) abort();
    bounce_init(b);
    if (classify_load(&c, dir ? dir : "templates/classify", err, sizeof err) == -1) c = 0;
  }
  if (bounce_parse(b, (const char *)p, n) == 0) {
    if (b->nrcpt < 0 || b->nrcpt > BOUNCE_RCPT_MAX) __builtin_trap();
    if (b->kind != BOUNCE_FAILURE && b->nrcpt) __builtin_trap();
    for (i = 0; i < b->nrcpt; i++) {
      const struct bounce_rcpt *r = &b->rcpt[i];
      struct classify_in in;
      struct classify_out out;
      if (!TERMINATED(r->addr) || !TERMINATED(r->diag) || !TERMINATED(r->ctx)
          || !TERMINATED(r->action) || !TERMINATED(r->status) || !TERMINATED(r->dtype)
          || !TERMINATED(r->rmta) || !r->addr[0] || strchr(r->diag, '\n'))
        __builtin_trap();
      if (!c) continue;
      memset(&in, 0, sizeof in);
      in.text = r->diag;
      in.context = r->ctx;
      in.action = r->action;
      in.dtype = r->dtype;
      in.status = r->status;
      if (classify(c, &in, &out) == 0 && (!valid(out.status) || !TERMINATED(out.enhanced)))
        __builtin_trap();
    }
  }
  if (c) {
    size_t k = n < sizeof reply - 1 ? n : sizeof reply - 1;
    int s;
    memcpy(reply, p, k);
    reply[k] = 0;
    s = classify_reply(c, 0, 0, reply);
    if (s != -1 && !valid(s)) __builtin_trap();
  }
  return 0;
}
