/* ctl_dset.c: cmcctl's delivery settings that are lists (ctl.h, lib/dset.h):
   the filter lists (speed, priority, window, forward, unsubscribe: add,
   del, move, list), a composition's default speed, and its sending IPs.
   Rows: COMP POSITION NAME SPEC, COMP "-m N -i N -n N", COMP ADDRESS. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ctl.h"
#include "dset.h"

struct listing {
  struct ctl *c;
  enum dset_kind k;
};

static int print_filter(void *ctx, const char *comp, size_t pos, const struct dset_filter *f)
{
  struct listing *l = ctx;
  struct buf spec = BUF_ZERO;
  char p[24];
  const char *row[4];
  int r = -1;
  snprintf(p, sizeof p, "%zu", pos);
  if (dset_filter_format(l->k, f, &spec) == 0 && buf_addc(&spec, 0) == 0) {
    row[0] = comp;
    row[1] = p;
    row[2] = f->name;
    row[3] = spec.s;
    r = ctl_row(l->c, row, 4);
  }
  if (r == -1) ctl_temp(l->c, "out of memory", 0);
  buf_free(&spec);
  return r;
}

static int print_ip(void *ctx, const char *comp, const char *ip)
{
  const char *row[2] = { comp, ip };
  if (ctl_row(ctx, row, 2) == -1) return ctl_temp(ctx, "out of memory", 0);
  return 0;
}

/* speed default TENANT [-c COMP] [-m MAXCONN [-i MS] [-n NIPS] | -d] */
static int speed_default(struct ctl *c, const char *tenant, const char *comp, int argc, char **argv)
{
  struct dset_speed sp;
  char line[96];
  int i, r;
  if (argc == 0) {
    const char *row[2] = { comp, line };
    r = dset_speed_get(c->db, tenant, comp, &sp);
    if (r == -1) return ctl_fail(c, "unable to read the default speed of ", tenant);
    if (r == 1) return ctl_perm(c, "not set: default speed of ", tenant);
    snprintf(line, sizeof line, "-m %u -i %u -n %u", sp.maxconn, sp.interval, sp.nips);
    if (ctl_row(c, row, 2) == -1) return ctl_temp(c, "out of memory", 0);
    return 0;
  }
  if (argc == 1 && !strcmp(argv[0], "-d"))
    return ctl_result(c, dset_speed_unset(c->db, tenant, comp), "unable to unset the default speed of ",
                      tenant, "not set: default speed of ");
  memset(&sp, 0, sizeof sp);
  for (i = 0; i + 1 < argc; i += 2) {
    unsigned *dst = !strcmp(argv[i], "-m") ? &sp.maxconn : !strcmp(argv[i], "-i") ? &sp.interval
                  : !strcmp(argv[i], "-n") ? &sp.nips : 0;
    char *end;
    unsigned long x;
    if (!dst) return ctl_usage(c);
    errno = 0;
    x = strtoul(argv[i + 1], &end, 10);
    if (errno || *end || !*argv[i + 1] || x > 1000000) return ctl_perm(c, "not a number: ", argv[i + 1]);
    *dst = (unsigned)x;
  }
  if (i != argc) return ctl_usage(c);
  if (dset_speed_set(c->db, tenant, comp, &sp, &c->reason) == -1)
    return ctl_refused(c, "unable to set the default speed of ", tenant);
  return 0;
}

int ctl_filters(struct ctl *c, const char *kind, int argc, char **argv)
{
  struct listing l;
  const char *comp, *tenant;
  int all, r;
  c->code = CTL_OK;
  buf_trunc(&c->reason, 0);
  l.c = c;
  l.k = (enum dset_kind)dset_kind_parse(kind);
  if (ctl_comp(c, &argc, argv, &comp, &all) == -1) return -1;
  if (argc < 2) return ctl_usage(c);
  tenant = argv[1];
  if (ctl_tenant(c, tenant) == -1) return -1;
  if (!strcmp(argv[0], "list") && argc == 2) {
    if (dset_filter_list(c->db, tenant, all ? 0 : comp, l.k, print_filter, &l) == -1)
      return c->code != CTL_OK ? -1 : ctl_fail(c, "unable to list the filters of ", tenant);
    return 0;
  }
  if (!strcmp(argv[0], "add") && argc >= 3) {
    struct dset_filter f;
    r = 0;
    if (dset_filter_args(l.k, argc - 2, argv + 2, &f, &c->reason) == -1
        || dset_filter_put(c->db, tenant, comp, l.k, &f, &c->reason) == -1)
      r = ctl_refused(c, "unable to save filter ", argv[2]);
    dset_filter_free(&f);
    return r;
  }
  if (!strcmp(argv[0], "del") && argc == 3)
    return ctl_result(c, dset_filter_del(c->db, tenant, comp, l.k, argv[2]), "unable to delete filter ",
                      argv[2], "no such filter: ");
  if (!strcmp(argv[0], "move") && argc == 4) {
    char *end;
    unsigned long pos;
    errno = 0;
    pos = strtoul(argv[3], &end, 10);
    if (errno || *end || pos == 0) return ctl_perm(c, "bad position (1 is the first): ", argv[3]);
    r = dset_filter_move(c->db, tenant, comp, l.k, argv[2], (size_t)pos);
    if (ctl_result(c, r, "unable to move filter ", argv[2], 0) == -1) return -1;
    if (r == 1) return ctl_perm(c, "no such filter: ", argv[2]);
    return 0;
  }
  if (l.k == DSET_SPEED && !strcmp(argv[0], "default"))
    return speed_default(c, tenant, comp, argc - 2, argv + 2);
  return ctl_usage(c);
}

int ctl_ip(struct ctl *c, int argc, char **argv)
{
  const char *comp, *tenant;
  int all, r;
  c->code = CTL_OK;
  buf_trunc(&c->reason, 0);
  if (ctl_comp(c, &argc, argv, &comp, &all) == -1) return -1;
  if (argc < 2) return ctl_usage(c);
  tenant = argv[1];
  if (ctl_tenant(c, tenant) == -1) return -1;
  if (!strcmp(argv[0], "list") && argc == 2) {
    if (dset_ip_list(c->db, tenant, all ? 0 : comp, print_ip, c) == -1)
      return c->code != CTL_OK ? -1 : ctl_fail(c, "unable to list the IPs of ", tenant);
    return 0;
  }
  if (argc != 3) return ctl_usage(c);
  if (!strcmp(argv[0], "add")) {
    r = dset_ip_add(c->db, tenant, comp, argv[2], &c->reason);
    if (r == -1) return ctl_refused(c, "unable to add sending IP ", argv[2]);
    if (r == 1) {
      c->warn = "sending IP exists: ";
      c->warnarg = argv[2];
    }
    return 0;
  }
  if (!strcmp(argv[0], "del"))
    return ctl_result(c, dset_ip_del(c->db, tenant, comp, argv[2]), "unable to delete sending IP ",
                      argv[2], "no such sending IP: ");
  return ctl_usage(c);
}
