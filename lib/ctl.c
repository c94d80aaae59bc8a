/* ctl.c: the helpers of cmcctl's commands (ctl.h): options anywhere in
   argv, the composition and tenant a command acts on, output rows, and
   the outcomes main() reports. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "ctl.h"
#include "tenant.h"

int ctl_usage(struct ctl *c)
{
  c->code = CTL_USAGE;
  return -1;
}

int ctl_perm(struct ctl *c, const char *what, const char *arg)
{
  c->code = CTL_PERM;
  c->what = what;
  c->arg = arg;
  return -1;
}

int ctl_temp(struct ctl *c, const char *what, const char *arg)
{
  c->err = errno;
  c->code = CTL_TEMP;
  c->what = what;
  c->arg = arg;
  return -1;
}

int ctl_fail(struct ctl *c, const char *what, const char *arg)
{
  c->err = errno;
  c->code = CTL_FAIL;
  c->what = what;
  c->arg = arg;
  return -1;
}

int ctl_refused(struct ctl *c, const char *what, const char *arg)
{
  if (errno == EINVAL && c->reason.len) return ctl_perm(c, "refused: ", c->reason.s);
  return ctl_fail(c, what, arg);
}

int ctl_result(struct ctl *c, int r, const char *what, const char *arg, const char *absent)
{
  if (r == -1) return ctl_fail(c, what, arg);
  if (r == 1 && absent) {
    c->warn = absent;
    c->warnarg = arg;
  }
  return 0;
}

int ctl_take(int *argc, char **argv, const char *opt, const char **value)
{
  int i, j, k = value ? 2 : 1;
  for (i = 0; i < *argc; i++) {
    if (strcmp(argv[i], opt)) continue;
    if (i + k > *argc) return errno = EINVAL, -1;
    if (value) *value = argv[i + 1];
    for (j = i; j + k <= *argc; j++) argv[j] = argv[j + k];
    *argc -= k;
    return 1;
  }
  return 0;
}

int ctl_comp(struct ctl *c, int *argc, char **argv, const char **comp, int *all)
{
  int r;
  *comp = "default";
  r = ctl_take(argc, argv, "-c", comp);
  if (r == -1) return ctl_usage(c);
  if (all) *all = r == 0;
  if (!tenant_comp_ok(*comp)) return ctl_perm(c, "bad composition name: ", *comp);
  return 0;
}

int ctl_tenant(struct ctl *c, const char *tenant)
{
  int r;
  if (!tenant_name_ok(tenant)) return ctl_perm(c, "bad tenant name: ", tenant);
  r = tenant_exists(c->db, tenant);
  if (r == -1) return ctl_fail(c, "unable to read tenant ", tenant);
  if (r == 0) return ctl_perm(c, "no such tenant: ", tenant);
  return 0;
}

int ctl_row(struct ctl *c, const char *const *field, size_t n)
{
  size_t i;
  buf_trunc(&c->row, 0);
  for (i = 0; i < n; i++) {
    const char *s;
    for (s = field[i]; *s; s++)
      if (buf_addc(&c->row, *s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s) == -1) return -1;
    if (buf_addc(&c->row, i + 1 == n ? '\n' : '\t') == -1) return -1;
  }
  c->put(c->ctx, c->row.s, c->row.len);
  return 0;
}

void ctl_time(char *out, size_t n, long long t)
{
  time_t s = (time_t)t;
  struct tm g;
  if (!gmtime_r(&s, &g) || !strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &g)) snprintf(out, n, "%lld", t);
}
