/* ctl_lists.c: cmcctl suppress and unsubscribed (ctl.h): the suppression
   and unsubscribe lists of lib/suppress.h, edited and listed by hand.
   Rows: COMP ADDRESS STATUS OCCURRED CREATED ID [REMOVED], and COMP
   ADDRESS FILTER CREATED. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "addr.h"
#include "ctl.h"
#include "event.h"
#include "suppress.h"

static int print_sup(void *ctx, const struct suppress_rec *r)
{
  struct ctl *c = ctx;
  char cr[32], rm[32], st[16], occ[24];
  const char *f[7];
  ctl_time(cr, sizeof cr, r->created);
  snprintf(st, sizeof st, "%d", r->status);
  snprintf(occ, sizeof occ, "%lu", r->occurred);
  f[0] = r->comp;
  f[1] = r->addr;
  f[2] = st;
  f[3] = occ;
  f[4] = cr;
  f[5] = r->id;
  if (r->removed) ctl_time(rm, sizeof rm, r->removed);
  f[6] = rm;
  if (ctl_row(c, f, r->removed ? 7 : 6) == -1) return ctl_temp(c, "out of memory", 0);
  return 0;
}

static int print_unsub(void *ctx, const struct suppress_unsub *u)
{
  struct ctl *c = ctx;
  char cr[32];
  const char *f[4];
  ctl_time(cr, sizeof cr, u->created);
  f[0] = u->comp;
  f[1] = u->addr;
  f[2] = u->filter;
  f[3] = cr;
  if (ctl_row(c, f, 4) == -1) return ctl_temp(c, "out of memory", 0);
  return 0;
}

/* An address as the lists hold it (internal form). */
static int list_addr(struct ctl *c, const char *a, struct buf *out)
{
  buf_trunc(out, 0);
  if (addr_parse(out, a, strlen(a), 0) == -1 || !strchr(out->s, '@'))
    return ctl_perm(c, "bad address: ", a);
  return 0;
}

/* A listing's -1: the row's failure (code set), else the walk's. */
static int walk_failed(struct ctl *c, const char *what, const char *arg)
{
  if (c->code != CTL_OK) return -1;
  return ctl_fail(c, what, arg);
}

static int suppress(struct ctl *c, int argc, char **argv, struct buf *a)
{
  const char *comp;
  int all, removed;
  long long now = (long long)time(0);
  if (ctl_comp(c, &argc, argv, &comp, &all) == -1) return -1;
  removed = ctl_take(&argc, argv, "-r", 0);
  if (argc < 2) return ctl_usage(c);
  if (ctl_tenant(c, argv[1]) == -1) return -1;
  if (!strcmp(argv[0], "list") && argc == 2) {
    if (suppress_list(c->db, argv[1], all ? 0 : comp, 0, removed, print_sup, c) == -1)
      return walk_failed(c, "unable to list the suppression list of ", argv[1]);
  } else if (!strcmp(argv[0], "search") && argc == 3) {
    if (suppress_list(c->db, argv[1], all ? 0 : comp, argv[2], removed, print_sup, c) == -1)
      return walk_failed(c, "unable to search the suppression list of ", argv[1]);
  } else if (!strcmp(argv[0], "add") && (argc == 3 || argc == 4)) {
    long st = ERR_SUPPRESSED;
    if (argc == 4) {
      char *end;
      st = strtol(argv[3], &end, 10);
      if (end == argv[3] || *end || st < 1 || st > 99) return ctl_perm(c, "bad error status: ", argv[3]);
    }
    if (list_addr(c, argv[2], a) == -1) return -1;
    return ctl_result(c, suppress_add(c->db, 0, argv[1], comp, a->s, (int)st, now),
                      "unable to add to the suppression list: ", argv[2],
                      "listed already (one more occurrence): ");
  } else if (!strcmp(argv[0], "del") && argc == 3) {
    if (list_addr(c, argv[2], a) == -1) return -1;
    return ctl_result(c, suppress_del(c->db, 0, argv[1], comp, a->s, now), "unable to release ",
                      argv[2], "not listed: ");
  } else {
    return ctl_usage(c);
  }
  return 0;
}

int ctl_suppress(struct ctl *c, int argc, char **argv)
{
  struct buf a = BUF_ZERO;
  int r;
  c->code = CTL_OK;
  r = suppress(c, argc, argv, &a);
  buf_free(&a);
  return r;
}

static int unsubscribed(struct ctl *c, int argc, char **argv, struct buf *a)
{
  const char *comp, *filter = 0;
  int all, has_filter;
  if (ctl_comp(c, &argc, argv, &comp, &all) == -1) return -1;
  if ((has_filter = ctl_take(&argc, argv, "-f", &filter)) == -1) return ctl_usage(c);
  if (argc < 2) return ctl_usage(c);
  if (ctl_tenant(c, argv[1]) == -1) return -1;
  if (!strcmp(argv[0], "list") && (argc == 2 || argc == 3)) {
    if (suppress_unsub_list(c->db, argv[1], all ? 0 : comp, argc == 3 ? argv[2] : 0,
                            has_filter ? filter : 0, print_unsub, c) == -1)
      return walk_failed(c, "unable to list the unsubscribe list of ", argv[1]);
  } else if (!strcmp(argv[0], "add") && argc == 3) {
    if (list_addr(c, argv[2], a) == -1) return -1;
    return ctl_result(c, suppress_unsub_add(c->db, 0, argv[1], comp, a->s, has_filter ? filter : "",
                                            (long long)time(0)),
                      "unable to add to the unsubscribe list: ", argv[2], "listed already: ");
  } else if (!strcmp(argv[0], "del") && argc == 3) {
    if (list_addr(c, argv[2], a) == -1) return -1;
    return ctl_result(c, suppress_unsub_del(c->db, 0, argv[1], comp, a->s, has_filter ? filter : 0),
                      "unable to remove from the unsubscribe list: ", argv[2], "not listed: ");
  } else {
    return ctl_usage(c);
  }
  return 0;
}

int ctl_unsubscribed(struct ctl *c, int argc, char **argv)
{
  struct buf a = BUF_ZERO;
  int r;
  c->code = CTL_OK;
  r = unsubscribed(c, argc, argv, &a);
  buf_free(&a);
  return r;
}
