/* unit-tbl: lib/tbl.c on a fresh environment in a temporary directory:
   put/get/add/del, walks forward and backward from a key, a stopped walk,
   transaction abort and commit, durability across close and reopen. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "tbl.h"

static char dir[] = "/tmp/unit-tbl.XXXXXX";

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

struct seen {
  char keys[512];
  int n, stop_at;
};

static int collect(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct seen *s = ctx;
  size_t l = strlen(s->keys);
  (void)v; (void)vn;
  if (l + kn + 2 < sizeof s->keys) {
    if (l) s->keys[l++] = ',';
    memcpy(s->keys + l, k, kn);
    s->keys[l + kn] = 0;
  }
  if (++s->n == s->stop_at) return 7;
  return 0;
}

static int walk(struct tbl *t, const char *from, int reverse, int stop_at, char *out, size_t n)
{
  struct seen s;
  int r;
  memset(&s, 0, sizeof s);
  s.stop_at = stop_at;
  r = tbl_walk(t, 0, "w", from, from ? strlen(from) : 0, reverse, collect, &s);
  snprintf(out, n, "%s", s.keys);
  return r;
}

int main(void)
{
  struct tbl *t;
  struct tbl_txn *x;
  struct buf v = BUF_ZERO;
  char got[512];
  const char *keys[] = { "b", "d", "f", "h" };
  int i, r;

  plan(34);
  if (!mkdtemp(dir)) return 1;
  ok(tbl_open(&t, dir, TBL_RECOVER) == 0, "open with recovery on an empty directory");
  ok(tbl_put(t, 0, "kv", "k1", 2, "v1", 2) == 0, "put");
  ok(tbl_get(t, 0, "kv", "k1", 2, &v) == 0 && v.len == 2 && !memcmp(v.s, "v1", 2), "get");
  ok(tbl_put(t, 0, "kv", "k1", 2, "value2", 6) == 0, "put replaces");
  ok(tbl_get(t, 0, "kv", "k1", 2, &v) == 0 && v.len == 6 && !strcmp(v.s, "value2"), "get the new value");
  ok(tbl_add(t, 0, "kv", "k1", 2, "x", 1) == 1, "add of an existing key is 1");
  ok(tbl_get(t, 0, "kv", "k1", 2, &v) == 0 && !strcmp(v.s, "value2"), "add wrote nothing");
  ok(tbl_add(t, 0, "kv", "k2", 2, "", 0) == 0, "add of a new key, empty value");
  ok(tbl_get(t, 0, "kv", "k2", 2, &v) == 0 && v.len == 0, "empty value read back");
  ok(tbl_get(t, 0, "kv", "nope", 4, &v) == 1, "get of an absent key is 1");
  ok(tbl_del(t, 0, "kv", "k2", 2) == 0, "del");
  ok(tbl_del(t, 0, "kv", "k2", 2) == 1, "del of an absent key is 1");
  ok(tbl_put(t, 0, "Bad/Name", "k", 1, "v", 1) == -1 && errno == EINVAL, "bad table name: EINVAL");

  for (i = 0; i < 4; i++) tbl_put(t, 0, "w", keys[i], 1, "", 0);
  ok(walk(t, 0, 0, 0, got, sizeof got) == 0 && !strcmp(got, "b,d,f,h"), "walk all forward");
  ok(walk(t, 0, 1, 0, got, sizeof got) == 0 && !strcmp(got, "h,f,d,b"), "walk all in reverse");
  ok(walk(t, "d", 0, 0, got, sizeof got) == 0 && !strcmp(got, "d,f,h"), "forward from an existing key");
  ok(walk(t, "e", 0, 0, got, sizeof got) == 0 && !strcmp(got, "f,h"), "forward from between keys");
  ok(walk(t, "z", 0, 0, got, sizeof got) == 0 && !strcmp(got, ""), "forward from past the end");
  ok(walk(t, "f", 1, 0, got, sizeof got) == 0 && !strcmp(got, "f,d,b"), "reverse from an existing key");
  ok(walk(t, "e", 1, 0, got, sizeof got) == 0 && !strcmp(got, "d,b"), "reverse from between keys");
  ok(walk(t, "z", 1, 0, got, sizeof got) == 0 && !strcmp(got, "h,f,d,b"), "reverse from past the end");
  ok(walk(t, "a", 1, 0, got, sizeof got) == 0 && !strcmp(got, ""), "reverse from before the start");
  ok(walk(t, 0, 0, 2, got, sizeof got) == 7 && !strcmp(got, "b,d"), "fn > 0 stops the walk and is returned");

  ok(tbl_begin(t, &x) == 0 && tbl_put(t, x, "kv", "tx", 2, "1", 1) == 0
     && tbl_get(t, x, "kv", "tx", 2, &v) == 0, "put inside a transaction, seen by it");
  tbl_abort(x);
  ok(tbl_get(t, 0, "kv", "tx", 2, &v) == 1, "aborted put is gone");
  ok(tbl_begin(t, &x) == 0 && tbl_put(t, x, "kv", "tx", 2, "2", 1) == 0
     && tbl_del(t, x, "kv", "k1", 2) == 0 && tbl_commit(x) == 0, "put and del committed");
  ok(tbl_get(t, 0, "kv", "tx", 2, &v) == 0 && !strcmp(v.s, "2"), "committed put is there");
  {
    int wrote = -1, again = -1;
    char k[16];
    for (i = 0; i < 200; i++) {
      snprintf(k, sizeof k, "t%d", i);
      tbl_put(t, 0, "trickle", k, strlen(k), "0123456789012345678901234567890123456789", 40);
    }
    ok(tbl_trickle(t, 100, &wrote) == 0 && wrote > 0, "trickle writes the dirty pages");
    ok(tbl_trickle(t, 100, &again) == 0 && again == 0, "trickle again: nothing left to write");
    ok(tbl_trickle(t, 0, 0) == -1 && errno == EINVAL, "trickle 0 percent: EINVAL");
  }
  ok(tbl_checkpoint(t) == 0, "checkpoint");
  ok(tbl_uniq(t) != tbl_uniq(t), "tbl_uniq gives a new number each time");
  tbl_close(t);

  r = tbl_open(&t, dir, 0);
  ok(r == 0 && tbl_get(t, 0, "kv", "tx", 2, &v) == 0 && !strcmp(v.s, "2"),
     "reopened: committed data is there");
  ok(tbl_get(t, 0, "kv", "k1", 2, &v) == 1, "reopened: deleted key stays deleted");
  tbl_close(t);
  buf_free(&v);
  rmdir_all();
  return done();
}
