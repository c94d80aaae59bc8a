/* unit-tenant: lib/tenant.c: names, tenants, networks (IPv4/IPv6 CIDR,
   single addresses, canonical form), routes (exact, parent, "*"),
   settings, users (hash + verify, never the password in the table or the
   snapshot), and the access snapshot written and read back. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "io.h"
#include "tenant.h"

static char dir[] = "/tmp/unit-tenant.XXXXXX";

static void rmdir_all(void)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  char p[4096];
  if (!d) return;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' && snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < (int)sizeof p)
      unlink(p);
  closedir(d);
  rmdir(dir);
}

static int cat(void *ctx, const char *comp, const char *a, const char *b)
{
  char *s = ctx;
  size_t l = strlen(s);
  snprintf(s + l, 1024 - l, "%s%s %s%s%s", l ? "," : "", comp, a, *b ? " " : "", b);
  return 0;
}

static int count(void *ctx, const char *name)
{
  (void)name;
  ++*(int *)ctx;
  return 0;
}

static const char *route(struct tbl *t, const char *tenant, const char *domain)
{
  static struct buf b;
  int r = tenant_route_get(t, tenant, "default", domain, &b);
  if (r == 1) return "MX";
  if (r == -1) return "ERR";
  buf_addc(&b, 0);
  return b.s;
}

static const char *ip(const struct access *a, const char *addr)
{
  static char s[200];
  const char *tn, *cp;
  if (access_by_ip(a, addr, &tn, &cp) != 1) return "-";
  snprintf(s, sizeof s, "%s/%s", tn, cp);
  return s;
}

int main(void)
{
  struct tbl *t;
  struct access *a;
  struct buf b = BUF_ZERO;
  char list[1024], path[4096], hash[512];
  const char *tn = 0, *cp = 0;
  int n = 0;

  plan(56);
  if (!mkdtemp(dir) || tbl_open(&t, dir, TBL_RECOVER) == -1) return 1;
  ok(tenant_name_ok("acme-1_x") && !tenant_name_ok("Acme") && !tenant_name_ok("-a")
     && !tenant_name_ok("") && !tenant_name_ok("a b"), "tenant names");
  ok(tenant_add(t, "acme") == 0, "tenant add");
  ok(tenant_add(t, "acme") == 1, "tenant add again is 1");
  ok(tenant_add(t, "beta") == 0, "second tenant");
  ok(tenant_add(t, "Bad!") == -1 && errno == EINVAL, "bad tenant name: EINVAL");
  ok(tenant_exists(t, "acme") == 1 && tenant_exists(t, "nope") == 0, "tenant_exists");
  ok(tenant_list(t, count, &n) == 0 && n == 2, "tenant_list");

  ok(tenant_net_add(t, "acme", "default", "192.0.2.0/24") == 0, "net add v4/24");
  ok(tenant_net_add(t, "acme", "default", "192.0.2.77/24") == 1, "same net, host bits set: exists");
  ok(tenant_net_add(t, "acme", "bulk", "198.51.100.7") == 0, "single v4 address");
  ok(tenant_net_add(t, "acme", "default", "2001:DB8:1::/48") == 0, "net add v6/48");
  ok(tenant_net_add(t, "beta", "default", "192.0.2.128/25") == 0, "beta: a longer prefix inside acme's");
  ok(tenant_net_add(t, "beta", "default", "::1") == 0, "single v6 address");
  ok(tenant_net_add(t, "acme", "default", "10.0.0.0/33") == -1 && errno == EINVAL, "prefix too long: EINVAL");
  ok(tenant_net_add(t, "acme", "default", "10.0.0.300") == -1 && errno == EINVAL, "bad address: EINVAL");
  ok(tenant_net_add(t, "acme", "default", "10.0.0.0/") == -1 && errno == EINVAL, "empty prefix: EINVAL");
  ok(tenant_net_add(t, "nope", "default", "10.0.0.0/8") == -1 && errno == ENOENT, "unknown tenant: ENOENT");
  list[0] = 0;
  ok(tenant_net_list(t, "acme", 0, cat, list) == 0
     && !strcmp(list, "bulk 198.51.100.7/32,default 192.0.2.0/24,default 2001:db8:1::/48"),
     "net list, canonical forms");
  list[0] = 0;
  ok(tenant_net_list(t, "acme", "bulk", cat, list) == 0 && !strcmp(list, "bulk 198.51.100.7/32"),
     "net list of one composition");
  ok(tenant_net_add(t, "acme", "default", "10.9.0.0/16") == 0 && tenant_net_del(t, "acme", "default", "10.9.1.1/16") == 0,
     "net del by any address of the range");
  ok(tenant_net_del(t, "acme", "default", "10.9.0.0/16") == 1, "net del again: 1");

  ok(tenant_route_set(t, "acme", "default", "Example.COM", "mx.example.net:25") == 0, "route for a domain");
  ok(tenant_route_set(t, "acme", "default", "*", "[192.0.2.1]:2525") == 0, "route for *");
  ok(tenant_route_set(t, "acme", "default", "v6.test", "[2001:db8::1]:25") == 0, "route to a v6 literal");
  ok(tenant_route_set(t, "acme", "default", "a..b", "h:25") == -1 && errno == EINVAL, "bad domain: EINVAL");
  ok(tenant_route_set(t, "acme", "default", "x.test", "h:0") == -1
     && tenant_route_set(t, "acme", "default", "x.test", "h") == -1
     && tenant_route_set(t, "acme", "default", "x.test", "[1.2.3]:25") == -1, "bad host:port: EINVAL");
  ok(!strcmp(route(t, "acme", "example.com"), "mx.example.net:25"), "exact route");
  ok(!strcmp(route(t, "acme", "Mail.Sub.EXAMPLE.com"), "mx.example.net:25"), "parent route");
  ok(!strcmp(route(t, "acme", "example.org"), "[192.0.2.1]:2525"), "* route");
  ok(!strcmp(route(t, "acme", "notexample.com"), "[192.0.2.1]:2525"), "no suffix match without a dot");
  ok(!strcmp(route(t, "beta", "example.com"), "MX"), "other tenant: no route");
  ok(tenant_route_del(t, "acme", "default", "*") == 0 && !strcmp(route(t, "acme", "example.org"), "MX"),
     "route del *: MX again");
  list[0] = 0;
  ok(tenant_route_list(t, "acme", "default", cat, list) == 0
     && !strcmp(list, "default example.com mx.example.net:25,default v6.test [2001:db8::1]:25"), "route list");

  ok(tenant_set(t, "acme", "default", "retry_period", "3600") == 0, "set");
  ok(tenant_get(t, "acme", "default", "retry_period", &b) == 0 && !strcmp(b.s, "3600"), "get");
  ok(tenant_get(t, "acme", "bulk", "retry_period", &b) == 1, "other composition: unset");
  ok(tenant_set(t, "acme", "default", "x", "a\nb") == -1 && errno == EINVAL, "newline in a value: EINVAL");
  ok(tenant_unset(t, "acme", "default", "retry_period") == 0
     && tenant_get(t, "acme", "default", "retry_period", &b) == 1, "unset");

  ok(tenant_hash("s3cret", hash, sizeof hash) == 0 && !strncmp(hash, "$y$", 3), "yescrypt hash");
  ok(tenant_verify("s3cret", hash) == 1 && tenant_verify("s3creT", hash) == 0, "verify");
  ok(tenant_hash("", hash, sizeof hash) == -1 && errno == EINVAL, "empty password: EINVAL");
  ok(tenant_user_set(t, "acme", "default", "alice", "pw-alice-123") == 0, "user add");
  ok(tenant_user_set(t, "acme", "bulk", "bob@acme.test", "pw-bob-456") == 0, "user in another composition");
  ok(tenant_user_set(t, "beta", "default", "alice", "x") == -1 && errno == EEXIST, "user name of another tenant: EEXIST");
  ok(tenant_user_del(t, "beta", "default", "alice") == 1, "other tenant cannot delete it");
  list[0] = 0;
  ok(tenant_user_list(t, "acme", 0, cat, list) == 0 && !strcmp(list, "default alice,bulk bob@acme.test"),
     "user list");

  snprintf(path, sizeof path, "%s/access", dir);
  ok(tenant_export_access(t, path) == 0, "export the snapshot");
  ok(file_read(path, &b, 1 << 20) == 0 && !strstr(b.s, "pw-alice") && strstr(b.s, "user\talice\tacme\tdefault\t$y$")
     && strstr(b.s, "net\tbeta\tdefault\t192.0.2.128/25\n"), "snapshot has hashes, not passwords");
  ok(access_load(&a, path) == 0, "load the snapshot");
  ok(!strcmp(ip(a, "192.0.2.5"), "acme/default") && !strcmp(ip(a, "192.0.2.200"), "beta/default")
     && !strcmp(ip(a, "192.0.3.1"), "-"), "v4: longest prefix wins, outside is refused");
  ok(!strcmp(ip(a, "198.51.100.7"), "acme/bulk") && !strcmp(ip(a, "198.51.100.8"), "-")
     && !strcmp(ip(a, "::ffff:198.51.100.7"), "acme/bulk"), "single v4 address, also v4-mapped");
  ok(!strcmp(ip(a, "2001:db8:1:ffff::9"), "acme/default") && !strcmp(ip(a, "2001:db8:2::1"), "-")
     && !strcmp(ip(a, "::1"), "beta/default") && !strcmp(ip(a, "garbage"), "-"), "v6");
  ok(access_by_user(a, "alice", "pw-alice-123", &tn, &cp) == 1 && !strcmp(tn, "acme") && !strcmp(cp, "default")
     && access_by_user(a, "bob@acme.test", "pw-bob-456", &tn, &cp) == 1 && !strcmp(cp, "bulk"),
     "users verify");
  ok(access_by_user(a, "alice", "wrong", &tn, &cp) == 0 && access_by_user(a, "nobody", "pw-alice-123", &tn, &cp) == 0,
     "wrong password, unknown user: 0");
  access_free(a);
  ok(tenant_user_del(t, "acme", "default", "alice") == 0 && tenant_export_access(t, path) == 0
     && access_load(&a, path) == 0 && access_by_user(a, "alice", "pw-alice-123", 0, 0) == 0,
     "deleted user is gone from a new snapshot");
  access_free(a);
  snprintf(path, sizeof path, "%s/missing", dir);
  ok(access_load(&a, path) == 0 && !strcmp(ip(a, "192.0.2.5"), "-"), "missing snapshot: empty");
  access_free(a);
  tbl_close(t);
  buf_free(&b);
  rmdir_all();
  return done();
}
