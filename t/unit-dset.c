/* unit-dset: delivery settings (lib/dset.c, lib/dsetrun.c,
   lib/dsetunsub.c): records round-trip; deliver's compiled copy loads
   from db/ and reloads only when the generation moves; classification
   (priority default 50, first matching filter, exclusions); prohibited
   windows: held until the end, across midnight, adjacent windows joined,
   the fake clock, held time for the retry period; forwarding (copy,
   rewrite, no duplicates); sending IPs per destination; step 1 header
   changes (Received removed, List-Unsubscribe added and replacing the
   application's) with a token that verifies, and tampered tokens that do
   not. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "dq.h"
#include "dset.h"
#include "dsetrun.h"
#include "dsetunsub.h"
#include "tenant.h"

static char dir[] = "/tmp/unit-dset.XXXXXX";

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

static int put(struct tbl *t, enum dset_kind k, const char *words)
{
  char copy[1024], *argv[64], *p, *save = 0;
  int argc = 0, r;
  struct dset_filter f;
  struct buf err = BUF_ZERO;
  snprintf(copy, sizeof copy, "%s", words);
  for (p = strtok_r(copy, " ", &save); p && argc < 64; p = strtok_r(0, " ", &save)) argv[argc++] = p;
  r = dset_filter_args(k, argc, argv, &f, &err) == 0 ? dset_filter_put(t, "acme", "default", k, &f, &err) : -1;
  if (r == -1) printf("# %s: %s\n", words, err.s ? err.s : "?");
  dset_filter_free(&f);
  buf_free(&err);
  return r;
}

/* Every zone is UTC+9 (Asia/Tokyo), whatever the name. */
static int tz9(const char *tz, long long t, long *off)
{
  (void)tz; (void)t;
  *off = 9 * 3600;
  return 0;
}

static const char msg[] =
  "Received: from app by mta; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
  "From: \"Shop\" <news@shop.test>\r\n"
  "List-Id: <news.shop.test>\r\n"
  "List-Unsubscribe: <mailto:old@shop.test>\r\n"
  "Received: from a\r\n"
  "\tby b; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
  "X-Kind: campaign\r\n"
  "Subject: hello\r\n"
  "\r\n"
  "Received: body line\r\n";

int main(void)
{
  struct tbl *t;
  struct dsetrun r;
  struct dq_msg *m;
  const char *rc[3] = { "a@x.test", "VIP@x.test", "b@y.test" };
  const char *ips[8];
  struct dset_speed sp;
  struct buf out = BUF_ZERO, err = BUF_ZERO;
  long long base;
  char path[256];
  int k;
  plan(50);
  if (!mkdtemp(dir)) return 1;
  atexit(rmdir_all);
  if (tbl_open(&t, dir, 0) == -1 || tenant_add(t, "acme") == -1) return 1;

  /* records */
  {
    struct dset_filter f, g;
    char *w[] = { "n1", "-h", "X-A", "-p", "a=b", "-p", "c", "-x", "From", "-X", ".*vip.*", "-w", "22:00-06:00", "-w", "12:00-24:00" };
    struct buf rec = BUF_ZERO, a = BUF_ZERO, b = BUF_ZERO;
    ok(dset_filter_args(DSET_WINDOW, 15, w, &f, &err) == 0, "window words parse");
    ok(dset_filter_encode(&f, &rec) == 0 && dset_filter_decode(&g, rec.s, rec.len) == 0, "record round trip");
    dset_filter_format(DSET_WINDOW, &f, &a);
    dset_filter_format(DSET_WINDOW, &g, &b);
    ok(a.s && b.s && !strcmp(a.s, b.s), "the same filter back");
    ok(a.s && !strcmp(a.s, "-h X-A -p a=b -p c -x From -X .*vip.* -w 22:00-06:00 -w 12:00-00:00"), "24:00 is midnight");
    dset_filter_free(&f);
    dset_filter_free(&g);
    buf_free(&rec);
    buf_free(&a);
    buf_free(&b);
  }

  /* settings */
  ok(put(t, DSET_PRIO, "urgent -h To -p a@x\\.test -P 90") == 0, "priority filter saved");
  ok(put(t, DSET_PRIO, "vip -h To -p vip@.* -P 70") == 0, "second priority filter");
  ok(put(t, DSET_SPEED, "xs -p .+@x\\.test -m 2 -i 300 -n 1") == 0, "speed filter");
  ok(put(t, DSET_WINDOW, "night -h X-Kind -p campaign -x To -X vip@.* -w 22:00-06:00 -w 06:00-07:00") == 0,
     "window filter with an exclusion, adjacent windows");
  ok(put(t, DSET_FORWARD, "copy -h To -p a@x\\.test -a archive@z.test -M copy") == 0, "forward copy");
  ok(put(t, DSET_FORWARD, "move -h To -p b@y\\.test -a other@z.test -M rewrite") == 0, "forward rewrite");
  ok(put(t, DSET_UNSUB, "news -h List-Id -p <news\\.shop\\.test>") == 0, "unsubscribe filter");
  sp.maxconn = 7; sp.interval = 0; sp.nips = 0;
  ok(dset_speed_set(t, "acme", "default", &sp, &err) == 0, "default speed");
  ok(dset_ip_add(t, "acme", "default", "127.0.0.2", &err) == 0 && dset_ip_add(t, "acme", "default", "127.0.0.3", &err) == 0
     && dset_ip_add(t, "acme", "default", "127.0.0.4", &err) == 0, "three sending IPs");
  ok(tenant_set(t, "acme", "default", "received", "delete-all") == 0 && dset_touch(t) == 0, "received delete-all");

  dsetrun_init(&r);
  r.tz = tz9;
  r.hostname = "relay.test";
  r.key.n = 32;
  memset(r.key.k, 7, 32);
  ok(dsetrun_refresh(&r, t) == 1 && r.serial == 1, "loaded");
  ok(dsetrun_refresh(&r, t) == 0, "not again while the generation stands");
  ok(dset_touch(t) == 0 && dsetrun_refresh(&r, t) == 1 && r.serial == 2, "reloaded when it moves");

  /* classification */
  m = dq_msg_new("0123456789ABCDEF", "acme", "default", "s@shop.test", "", "", 1000, 0, 0, rc, 3);
  if (!m) return 1;
  ok(dsetrun_forward(&r, m, msg, sizeof msg - 1) == 1, "forwarding changed the recipients");
  ok(m->nrcpt == 4 && !strcmp(m->r[0].addr, "a@x.test") && !strcmp(m->r[2].addr, "other@z.test")
     && !strcmp(m->r[3].addr, "archive@z.test"), "a copy added, a recipient rewritten");
  ok(dsetrun_forward(&r, m, msg, sizeof msg - 1) == 0, "forwarded addresses are not forwarded again, copies not doubled");
  ok(dsetrun_classify(&r, m, msg, sizeof msg - 1) == 0 && m->dsgen == r.serial, "classified");
  ok(m->r[0].prio == 90 && m->r[1].prio == 70 && m->r[2].prio == 50, "priorities: first match, default 50");
  ok(m->r[0].speed == 1 && m->r[2].speed == 0, "speed filter by destination");
  ok(m->r[0].hold == 1 && m->r[1].hold == 0, "window filter, exclusion honoured");
  ok(m->r[0].unsub == 1, "unsubscribe filter");

  /* windows: UTC+9; 22:00 JST = 13:00 UTC */
  base = 1704067200;                 /* 2024-01-01 00:00 UTC = 09:00 JST */
  dsetrun_tick(&r, base);
  ok(dsetrun_hold(&r, m, 0, base) == 0, "09:00: not held");
  ok(dsetrun_hold(&r, m, 0, base + 13 * 3600) == base + 22 * 3600, "22:00: held until 07:00 (adjacent windows joined)");
  ok(dsetrun_hold(&r, m, 0, base + 19 * 3600 + 1800) == base + 22 * 3600, "04:30 (after midnight): held until 07:00");
  ok(dsetrun_hold(&r, m, 1, base + 13 * 3600) == 0, "excluded recipient: not held");
  ok(dsetrun_hold(&r, m, 0, base + 22 * 3600) == 0, "07:00: free (the end is exclusive)");
  ok(dsetrun_held(&r, m, 0, base, base + 86400) == 9 * 3600, "a day holds 9 hours of window");
  ok(dsetrun_held(&r, m, 1, base, base + 86400) == 0, "not held (excluded): nothing held");
  r.clock_offset = 13 * 3600;        /* the fake clock says 22:00 */
  r.tick_minute = -1;
  dsetrun_tick(&r, base);
  ok(dsetrun_hold(&r, m, 0, base) == base + 9 * 3600, "fake clock: held, the end in real time");
  r.clock_offset = 0;
  r.tick_minute = -1;
  dsetrun_tick(&r, base);

  /* speed and IPs */
  dsetrun_speed(&r, m, 0, 5, &sp);
  ok(sp.maxconn == 2 && sp.interval == 300 && sp.nips == 1, "the filter's limits");
  dsetrun_speed(&r, m, 2, 5, &sp);
  ok(sp.maxconn == 7 && sp.interval == 0, "the default speed for other destinations");
  k = (int)dsetrun_ips(&r, m, 0, "x.test", ips, 8);
  ok(k == 3, "all three IPs when nips is 0");
  k = (int)dsetrun_ips(&r, m, 1, "x.test", ips, 8);
  {
    const char *first = k == 1 ? ips[0] : "";
    ok(k == 1 && dsetrun_ips(&r, m, 1, "x.test", ips, 8) == 1 && !strcmp(first, ips[0]), "one IP, the same for a destination");
  }

  /* step 1 */
  k = dsetrun_rewrite(&r, m, 0, "return.relay.test", msg, sizeof msg - 1, &out);
  ok(k == 1, "headers changed");
  ok(out.s && !strstr(out.s, "Received: from") && strstr(out.s, "Received: body line"),
     "every Received field gone (folded lines too), the body untouched");
  ok(out.s && !strstr(out.s, "old@shop.test"), "the application's List-Unsubscribe replaced");
  ok(out.s && strstr(out.s, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), "List-Unsubscribe-Post added");
  {
    const char *u = out.s ? strstr(out.s, "<https://relay.test/cgi-bin/unsubscribe?t=") : 0, *e;
    const char *mt = out.s ? strstr(out.s, "<mailto:unsubscribe@return.relay.test?subject=") : 0;
    struct dsetunsub d;
    memset(&d, 0, sizeof d);
    ok(u && mt, "https URL and mailto with the default host and bounce domain");
    if (u) {
      u += strlen("<https://relay.test/cgi-bin/unsubscribe?t=");
      e = strchr(u, '>');
      ok(e && dsetunsub_check(&r.key, u, (size_t)(e - u), &d) == 1 && !strcmp(d.tenant.s, "acme")
         && !strcmp(d.comp.s, "default") && !strcmp(d.filter.s, "news") && !strcmp(d.rcpt.s, "a@x.test"),
         "the token verifies and names tenant, composition, filter and recipient");
      snprintf(path, sizeof path, "%.*s", e ? (int)(e - u) : 0, u);
      path[strlen(path) - 2] ^= 1;
      ok(dsetunsub_check(&r.key, path, strlen(path), &d) == 0, "a changed MAC is refused");
      snprintf(path, sizeof path, "%.*s", e ? (int)(e - u) : 0, u);
      path[3] = path[3] == 'A' ? 'B' : 'A';
      ok(dsetunsub_check(&r.key, path, strlen(path), &d) == 0, "a changed payload is refused");
      r.key.k[0] ^= 1;
      snprintf(path, sizeof path, "%.*s", e ? (int)(e - u) : 0, u);
      ok(dsetunsub_check(&r.key, path, strlen(path), &d) == 0, "another secret refuses it");
      r.key.k[0] ^= 1;
    } else {
      ok(0, "token"); ok(0, "mac"); ok(0, "payload"); ok(0, "secret");
    }
    dsetunsub_free(&d);
  }
  r.p[0].received = DSETRUN_RCVD_NONE;
  m->r[2].unsub = 0;
  ok(dsetrun_rewrite(&r, m, 2, "b.test", msg, sizeof msg - 1, &out) == 0, "nothing to change: no copy");

  /* classification from a spool file: the header after the envelope */
  {
    static const char env[] = "Tacme\0Cdefault\0Fs@shop.test\0Ra@x.test\0";
    FILE *f;
    snprintf(path, sizeof path, "%s/spoolfile", dir);
    f = fopen(path, "wb");
    if (f) {
      fwrite(env, 1, sizeof env, f);   /* with the final NUL: the "\0\0" end */
      fputs("X-Kind: campaign\r\nList-Id: <news.shop.test>\r\n\r\nbody\r\n", f);
      fclose(f);
    }
    m->dsgen = 0;
    m->r[0].unsub = 0;
    ok(dsetrun_classify_file(&r, m, path) == 0 && m->dsgen == r.serial && m->r[0].unsub == 1
       && m->r[0].hold == 1, "classified from a spool file's header");
    ok(dsetrun_unsub_name(&r, m, 0) && !strcmp(dsetrun_unsub_name(&r, m, 0), "news"), "its unsubscribe filter's name");
    unlink(path);
    ok(dsetrun_classify_file(&r, m, path) == 0 && m->r[0].unsub == 0 && m->r[0].prio == 90,
       "a file that is gone: header filters match nothing, To filters still do");
  }
  dq_msg_free(m);
  dsetrun_free(&r);
  buf_free(&out);
  buf_free(&err);
  tbl_close(t);
  return done();
}
