#ifndef CTL_H
#define CTL_H
/* ctl.h: cmcctl's commands on the lists and delivery settings of a
   tenant's composition, as library functions (doc/programs/cmcctl.md):
   the words after the command in, table rows out through a callback, the
   outcome in struct ctl for main() to turn into a message and an exit
   code.  ctl.c also has what every command of cmcctl uses: "-c COMP" and
   other options taken out of argv wherever they stand, the tenant that
   must exist, rows of TAB-separated fields.  Nothing here exits or prints:
   the functions return 0 (done, maybe with a warning) or -1 (c->code). */
#include <stddef.h>
#include "buf.h"
#include "tbl.h"

enum ctl_code {
  CTL_OK,
  CTL_USAGE,                         /* bad usage: the program's usage text */
  CTL_PERM,                          /* refused (what, arg): exit 100 */
  CTL_TEMP,                          /* what, arg, strerror(err): exit 111 */
  CTL_FAIL                           /* a table operation failed (what, arg, err):
                                        err decides 100 or 111 (as cmcctl's fail) */
};

struct ctl {
  struct tbl *db;
  /* Each row as it is made, LF-terminated. */
  void (*put)(void *ctx, const char *row, size_t n);
  void *ctx;
  enum ctl_code code;
  const char *what, *arg;            /* the message; arg may be reason.s */
  int err;                           /* errno of CTL_TEMP and CTL_FAIL */
  const char *warn, *warnarg;        /* done, but say this */
  struct buf row;
  struct buf reason;                 /* why a library function refused */
};

/* Take "OPT VALUE" (or the flag OPT when value is 0) out of argv, the
   first one; the rest stays in order.  1 taken, 0 absent, -1 EINVAL no
   value after it. */
int ctl_take(int *argc, char **argv, const char *opt, const char **value);
/* Take "-c COMP" out of argv: *comp is it, else "default"; *all (may be
   0) is 1 when there was none (a listing then shows every composition). */
int ctl_comp(struct ctl *c, int *argc, char **argv, const char **comp, int *all);
/* The tenant must be a valid name and exist. */
int ctl_tenant(struct ctl *c, const char *tenant);
/* One row of n fields to c->put (TAB, CR, LF inside a field: spaces). */
int ctl_row(struct ctl *c, const char *const *field, size_t n);
/* t (unix seconds) as YYYY-MM-DDTHH:MM:SSZ, or in decimal if it has no
   such form. */
void ctl_time(char *out, size_t n, long long t);

/* The outcomes, set by the commands: -1, or 0 for ctl_warn. */
int ctl_usage(struct ctl *c);
int ctl_perm(struct ctl *c, const char *what, const char *arg);
int ctl_temp(struct ctl *c, const char *what, const char *arg);   /* err: errno */
int ctl_fail(struct ctl *c, const char *what, const char *arg);   /* err: errno */
/* A library function's refusal: EINVAL with a reason in c->reason is
   refused (100, "refused: REASON"), anything else is ctl_fail. */
int ctl_refused(struct ctl *c, const char *what, const char *arg);
/* The value of a writer that returns 1 for "nothing to do": -1 fails,
   1 warns with absent (if not 0), 0 is done. */
int ctl_result(struct ctl *c, int r, const char *what, const char *arg, const char *absent);

/* The commands (argv: the words after the command). */
int ctl_suppress(struct ctl *c, int argc, char **argv);        /* suppress add|del|list|search */
int ctl_unsubscribed(struct ctl *c, int argc, char **argv);    /* unsubscribed add|del|list */
int ctl_filters(struct ctl *c, const char *kind, int argc, char **argv);  /* speed, priority... */
int ctl_ip(struct ctl *c, int argc, char **argv);              /* ip add|del|list */
#endif
