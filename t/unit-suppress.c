/* unit-suppress: lib/suppress.c: suppression entries added, counted,
   checked without regard to case, kept apart per tenant and composition,
   listed, searched by part of the address, released (kept as removed) and
   added again; the auto-add rule of suppress_statuses / suppress_auto;
   unsubscribe entries per filter and for all mail, checked, listed and
   removed; bad names refused. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "suppress.h"
#include "tbl.h"

static char dir[] = "/tmp/unit-suppress.XXXXXX";

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

static char out[4096];

static int cat(void *ctx, const struct suppress_rec *r)
{
  size_t l = strlen(out);
  (void)ctx;
  snprintf(out + l, sizeof out - l, "%s%s/%s %s %d %lu%s", l ? "," : "", r->tenant, r->comp,
           r->addr, r->status, r->occurred, r->removed ? " removed" : "");
  return 0;
}

static int ucat(void *ctx, const struct suppress_unsub *u)
{
  size_t l = strlen(out);
  (void)ctx;
  snprintf(out + l, sizeof out - l, "%s%s %s[%s]", l ? "," : "", u->comp, u->addr, u->filter);
  return 0;
}

static int first_id(void *ctx, const struct suppress_rec *r)
{
  snprintf(ctx, 32, "%s", r->id);
  return 1;
}

int main(void)
{
  struct tbl *t;
  char id1[32] = "", id2[32] = "";
  plan(38);
  if (!mkdtemp(dir)) return 1;
  if (tbl_open(&t, dir, TBL_RECOVER) == -1) { perror("tbl_open"); return 1; }

  ok(suppress_check(t, 0, "acme", "default", "nobody@example.jp") == 0, "empty list: not listed");
  ok(suppress_add(t, 0, "acme", "default", "Nobody@Example.JP", 2, 1000) == 0, "added");
  ok(suppress_add(t, 0, "acme", "default", "NOBODY@example.jp", 2, 1001) == 1, "again: listed already");
  ok(suppress_check(t, 0, "acme", "default", "nobody@EXAMPLE.jp") == 1, "checked without case");
  ok(suppress_check(t, 0, "acme", "other", "nobody@example.jp") == 0, "another composition: not listed");
  ok(suppress_check(t, 0, "beta", "default", "nobody@example.jp") == 0, "another tenant: not listed");
  ok(suppress_add(t, 0, "acme", "default", "full@example.jp", 5, 1002) == 0, "another address");
  ok(suppress_add(t, 0, "acme", "other", "x@example.org", 10, 1003) == 0, "in another composition");
  ok(suppress_add(t, 0, "acmex", "default", "y@example.org", 2, 1003) == 0, "in a tenant with a longer name");
  out[0] = 0;
  ok(suppress_list(t, "acme", "default", 0, 0, cat, 0) == 0, "listed");
  ok(!strcmp(out, "acme/default full@example.jp 5 1,acme/default Nobody@Example.JP 2 2"),
     "list: first spelling kept, occurrences counted");
  out[0] = 0;
  suppress_list(t, "acme", 0, 0, 0, cat, 0);
  ok(!strcmp(out, "acme/default full@example.jp 5 1,acme/default Nobody@Example.JP 2 2,"
                  "acme/other x@example.org 10 1"), "every composition of one tenant, no other tenant");
  out[0] = 0;
  suppress_list(t, "acme", "default", "BODY@", 0, cat, 0);
  ok(!strcmp(out, "acme/default Nobody@Example.JP 2 2"), "search: part of the address, case ignored");
  out[0] = 0;
  suppress_list(t, "acme", "default", "zzz", 0, cat, 0);
  ok(out[0] == 0, "search without a hit: nothing");
  suppress_list(t, "acme", "default", "nobody", 0, first_id, id1);
  ok(strlen(id1) == SUPPRESS_ID_LEN, "an opaque id of 13 characters");

  ok(suppress_del(t, 0, "acme", "default", "NOBODY@example.jp", 2000) == 0, "released");
  ok(suppress_del(t, 0, "acme", "default", "nobody@example.jp", 2001) == 1, "released twice: not listed");
  ok(suppress_del(t, 0, "acme", "default", "never@example.jp", 2001) == 1, "never listed: 1");
  ok(suppress_check(t, 0, "acme", "default", "nobody@example.jp") == 0, "released: not listed");
  out[0] = 0;
  suppress_list(t, "acme", "default", 0, 0, cat, 0);
  ok(!strcmp(out, "acme/default full@example.jp 5 1"), "the list leaves it out");
  out[0] = 0;
  suppress_list(t, "acme", "default", 0, 1, cat, 0);
  ok(!strcmp(out, "acme/default Nobody@Example.JP 2 2 removed"), "the removed list shows it");
  ok(suppress_add(t, 0, "acme", "default", "nobody@example.jp", 2, 3000) == 0, "added again after release");
  ok(suppress_check(t, 0, "acme", "default", "nobody@example.jp") == 1, "listed again");
  suppress_list(t, "acme", "default", "nobody", 0, first_id, id2);
  ok(!strcmp(id1, id2), "the id stays the same");

  {
    struct tbl_txn *x;
    int r1, r2;
    tbl_begin(t, &x);
    r1 = suppress_add(t, x, "acme", "default", "tx@example.jp", 2, 4000);
    r2 = suppress_check(t, x, "acme", "default", "tx@example.jp");
    tbl_abort(x);
    ok(r1 == 0 && r2 == 1 && suppress_check(t, 0, "acme", "default", "tx@example.jp") == 0,
       "inside a caller's transaction: seen there, gone with its abort");
  }

  ok(suppress_add(t, 0, "Bad Name", "default", "a@b.c", 2, 1) == -1 && errno == EINVAL, "bad tenant refused");
  ok(suppress_add(t, 0, "acme", "default", "no-at-sign", 2, 1) == -1 && errno == EINVAL, "bad address refused");

  ok(suppress_wanted(0, 0, 2) == 1 && suppress_wanted(0, 0, 5) == 0, "default: status 2 only");
  ok(suppress_wanted("off", 0, 2) == 0, "suppress_auto=off: nothing");
  ok(suppress_wanted("on", "1, 2,9", 9) == 1 && suppress_wanted(0, "1,2,9", 5) == 0,
     "suppress_statuses chooses");

  /* unsubscribe */
  ok(suppress_unsub_check(t, 0, "acme", "default", "u@example.jp", "news") == 0, "not unsubscribed");
  ok(suppress_unsub_add(t, 0, "acme", "default", "U@Example.jp", "news", 100) == 0
     && suppress_unsub_add(t, 0, "acme", "default", "u@example.jp", "news", 101) == 1,
     "unsubscribed from filter news, once");
  ok(suppress_unsub_check(t, 0, "acme", "default", "u@EXAMPLE.jp", "news") == 1
     && suppress_unsub_check(t, 0, "acme", "default", "u@example.jp", "promo") == 0
     && suppress_unsub_check(t, 0, "acme", "default", "u@example.jp", 0) == 0,
     "applies to mail of that filter only");
  ok(suppress_unsub_add(t, 0, "acme", "default", "all@example.jp", "", 102) == 0
     && suppress_unsub_check(t, 0, "acme", "default", "all@example.jp", 0) == 1
     && suppress_unsub_check(t, 0, "acme", "default", "all@example.jp", "promo") == 1,
     "unsubscribed from all mail: every filter and none");
  suppress_unsub_add(t, 0, "acme", "default", "u@example.jp", "promo", 103);
  out[0] = 0;
  suppress_unsub_list(t, "acme", "default", 0, 0, ucat, 0);
  ok(!strcmp(out, "default all@example.jp[],default U@Example.jp[news],default u@example.jp[promo]"),
     "unsubscribe list");
  out[0] = 0;
  suppress_unsub_list(t, "acme", "default", "u@", "promo", ucat, 0);
  ok(!strcmp(out, "default u@example.jp[promo]"), "searched by address and filter");
  ok(suppress_unsub_del(t, 0, "acme", "default", "u@example.jp", "news") == 0
     && suppress_unsub_check(t, 0, "acme", "default", "u@example.jp", "news") == 0
     && suppress_unsub_check(t, 0, "acme", "default", "u@example.jp", "promo") == 1,
     "removed from one filter");
  ok(suppress_unsub_del(t, 0, "acme", "default", "u@example.jp", 0) == 0
     && suppress_unsub_check(t, 0, "acme", "default", "u@example.jp", "promo") == 0
     && suppress_unsub_del(t, 0, "acme", "default", "u@example.jp", 0) == 1,
     "removed from every filter; then nothing left");

  tbl_close(t);
  rmdir_all();
  return done();
}
