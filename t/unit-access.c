/* unit-access: lib/access.c, the access snapshot's reader, on files
   written by hand: every record type, comments and unknown types skipped,
   the longest prefix winning, users in any order, Received modes, bounce
   domains without regard to case, malformed or cut files refused, and a
   rewritten file told from the one loaded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tap.h"
#include "access.h"
#include "io.h"
#include "tenant.h"

static char dir[] = "/tmp/unit-access.XXXXXX";
static char path[4096];

static int put(const char *text)
{
  return file_write_atomic(path, text, strlen(text), 0600);
}

static int load(struct access **a, const char *text)
{
  if (put(text) == -1) return -2;
  return access_load(a, path);
}

int main(void)
{
  struct access *a = 0;
  struct stat was, now;
  char hash[512], text[4096];
  const char *tn = 0, *cp = 0;
  int r;
  plan(13);
  if (!mkdtemp(dir) || tenant_hash("pw-zed", hash, sizeof hash) == -1) return 1;
  snprintf(path, sizeof path, "%s/access", dir);
  snprintf(text, sizeof text,
           "# a comment\n\n"
           "net\tacme\tdefault\t192.0.2.0/24\n"
           "net\tbeta\tbulk\t192.0.2.128/25\n"
           "user\tzed\tbeta\tbulk\t%s\n"
           "user\tamy\tacme\tdefault\t%s\n"
           "received\tacme\tdefault\tnone\n"
           "bounce\tacme\tdefault\tbounce.acme.test\n"
           "bounce\tbeta\tdefault\tBOUNCE.acme.test\n"
           "later\tsomething\tnew\n", hash, hash);
  ok(load(&a, text) == 0, "load a snapshot with every record type");
  ok(access_by_ip(a, "192.0.2.1", &tn, &cp) == 1 && !strcmp(tn, "acme") && !strcmp(cp, "default")
     && access_by_ip(a, "192.0.2.200", &tn, &cp) == 1 && !strcmp(tn, "beta") && !strcmp(cp, "bulk"),
     "by IP: the longest prefix wins");
  ok(access_by_ip(a, "192.0.3.1", &tn, &cp) == 0 && access_by_ip(a, "not-an-ip", 0, 0) == 0,
     "by IP: outside, or not an address: 0");
  ok(access_by_user(a, "zed", "pw-zed", &tn, &cp) == 1 && !strcmp(tn, "beta") && !strcmp(cp, "bulk")
     && access_by_user(a, "amy", "pw-zed", &tn, 0) == 1 && !strcmp(tn, "acme"), "users, in any order in the file");
  ok(access_by_user(a, "zed", "wrong", 0, 0) == 0 && access_by_user(a, "nobody", "pw-zed", 0, 0) == 0
     && access_by_user(a, 0, "pw-zed", 0, 0) == 0, "wrong password, unknown user: 0");
  r = access_bounce(a, "Bounce.Acme.Test", &tn, &cp);
  ok(r == 2 && !strcmp(tn, "acme") && !strcmp(cp, "default") && access_bounce(a, "other.test", 0, 0) == 0,
     "bounce domains: case ignored, every match counted, the first named");
  ok(access_received(a, "acme", "default") && !strcmp(access_received(a, "acme", "default"), "none")
     && !access_received(a, "beta", "bulk") && !access_received(a, 0, "default"), "Received modes");
  access_free(a);
  a = 0;
  ok(stat(path, &was) == 0 && stat(path, &now) == 0 && access_unchanged(&was, &now) == 1
     && put(text) == 0 && stat(path, &now) == 0 && access_unchanged(&was, &now) == 0,
     "unchanged: the same file; a rewritten one is not");
  ok(load(&a, "net\tacme\tdefault\t192.0.2.0/24") == -1 && errno == EINVAL && !a, "a cut file: EINVAL");
  ok(load(&a, "net\tAcme\tdefault\t192.0.2.0/24\n") == -1 && errno == EINVAL, "a bad tenant name: EINVAL");
  ok(load(&a, "user\tzed\tbeta\tbulk\tplain\n") == -1 && errno == EINVAL, "a user without a hash: EINVAL");
  ok(load(&a, "net\tacme\tdefault\t192.0.2.0/40\n") == -1 && errno == EINVAL, "a bad range: EINVAL");
  unlink(path);
  ok(access_load(&a, path) == 0 && access_by_ip(a, "192.0.2.1", 0, 0) == 0 && access_bounce(a, "x", 0, 0) == 0,
     "a missing file: an empty snapshot");
  access_free(a);
  unlink(path);
  rmdir(dir);
  return done();
}
