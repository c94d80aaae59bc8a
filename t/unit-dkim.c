/* unit-dkim: lib/dkim, lib/dkimkey, lib/dkimdns without DNS.  Keys are made
   in a temporary CMC_HOME; signatures are checked in this process by
   libopendkim's verifier, the public key handed over by a key-lookup
   callback (t/500-dkim-sign.t checks them with dkimpy and opendkim-testmsg
   over real DNS).  Covers the From domain parser, the record comparison,
   the key states, and every signer outcome. */
#define _XOPEN_SOURCE 700          /* nftw */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <opendkim/dkim.h>
#include "buf.h"
#include "dkim.h"
#include "dkimdns.h"
#include "dkimed.h"
#include "dkimkey.h"
#include "tap.h"
#include "tbl.h"

static char record[2048];         /* what the key lookup callback answers */

static DKIM_CBSTAT lookup(DKIM *d, DKIM_SIGINFO *sig, unsigned char *buf, size_t len)
{
  (void)d;
  (void)sig;
  if (strlen(record) >= len) return DKIM_CBSTAT_ERROR;
  memcpy(buf, record, strlen(record) + 1);
  return DKIM_CBSTAT_CONTINUE;
}

/* 1 if sig + msg verifies with the key of k. */
static int verifies(const struct dkimkey *k, const struct buf *sig, const char *msg)
{
  struct buf name = BUF_ZERO, val = BUF_ZERO, all = BUF_ZERO;
  DKIM_LIB *lib = dkim_init(0, 0);
  DKIM *d;
  DKIM_STAT st;
  int ok = 0;
  if (dkimkey_record(k, &name, &val) == -1 || val.len >= sizeof record) return 0;
  memcpy(record, val.s, val.len + 1);
  dkim_set_key_lookup(lib, lookup);
  buf_add(&all, sig->s, sig->len);
  buf_adds(&all, msg);
  d = dkim_verify(lib, (const unsigned char *)"t", 0, &st);
  if (d && dkim_chunk(d, (unsigned char *)all.s, all.len) == DKIM_STAT_OK
      && dkim_chunk(d, 0, 0) == DKIM_STAT_OK && dkim_eom(d, 0) == DKIM_STAT_OK)
    ok = 1;
  if (d) dkim_free(d);
  dkim_close(lib);
  buf_free(&name);
  buf_free(&val);
  buf_free(&all);
  return ok;
}

static int from_is(const char *head, const char *want)
{
  struct buf b = BUF_ZERO;
  int r = dkim_from_domain(head, strlen(head), &b);
  int ok = want ? r == 0 && !strcmp(b.s, want) : r == -1 && errno == EINVAL;
  if (!ok) printf("# %s -> %s\n", head, r == 0 ? b.s : "error");
  buf_free(&b);
  return ok;
}

/* The value of tag (e.g. "bh=") in a signature field, into out. */
static void tagval(const struct buf *sig, const char *tag, char *out, size_t n)
{
  const char *p = strstr(sig->s ? sig->s : "", tag);
  size_t i = 0;
  out[0] = 0;
  if (!p) return;
  for (p += strlen(tag); *p && *p != ';' && i + 1 < n; p++)
    if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') out[i++] = *p;
  out[i] = 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
  (void)st;
  (void)flag;
  (void)f;
  return remove(path);
}

static int list_count(void *ctx, const struct dkimkey *k)
{
  (void)k;
  ++*(int *)ctx;
  return 0;
}

#define MSG(dom) \
  "From: Sender <news@" dom ">\r\nTo: r@example.org\r\nDate: Mon, 2 Jun 2025 10:00:00 +0900\r\n" \
  "Subject: unit\r\nMessage-ID: <1@" dom ">\r\n\r\nbody line\r\n\r\n"

int main(void)
{
  char home[] = "/tmp/unit-dkim.XXXXXX", db[256], keys[256], path[512];
  char bh1[128], bh2[128], s1[64];
  struct tbl *t;
  struct dkim_signer *s, *s2;
  struct dkimkey rsa, ed, k2, got;
  struct buf sig = BUF_ZERO, sig2 = BUF_ZERO, why = BUF_ZERO;
  const char *msg = MSG("rsa.test"), *lfmsg, *bad;
  char lf[1024];
  size_t i, j;
  int n;

  plan(103);
  /* names */
  ok(dkimkey_tenant_ok("t1") && dkimkey_tenant_ok("a-b_c") && !dkimkey_tenant_ok("T1")
     && !dkimkey_tenant_ok("-a") && !dkimkey_tenant_ok(""), "tenant names");
  ok(dkimkey_domain_ok("a.example") && dkimkey_domain_ok("x_y.test") && !dkimkey_domain_ok("A.test")
     && !dkimkey_domain_ok(".a") && !dkimkey_domain_ok("a..b") && !dkimkey_domain_ok("a.")
     && !dkimkey_domain_ok("-a.test") && !dkimkey_domain_ok("b\xc3\xbc.test"), "domain names");
  ok(dkimkey_selector_ok("cmc20250101-2") && !dkimkey_selector_ok("a.b")
     && !dkimkey_selector_ok("A") && !dkimkey_selector_ok(""), "selectors");
  ok(dkimkey_alg_parse("rsa") == DKIMKEY_RSA && dkimkey_alg_parse("ed25519") == DKIMKEY_ED25519
     && dkimkey_alg_parse("dsa") == -1, "algorithm names");

  /* the From domain */
  ok(from_is("From: a@Example.COM\r\n\r\n", "example.com"), "From: plain address, case folded");
  ok(from_is("From: \"Doe, John\" <j@x.test>\r\n", "x.test"),
     "From: quoted display name with comma");
  ok(from_is("From: j@x.test (a comment)\r\n", "x.test"), "From: comment");
  ok(from_is("To: r@y.test\r\nFrom: Name\r\n <j@x.test>\r\nSubject: s\r\n", "x.test"),
     "From: folded");
  ok(from_is("from :  j@x.test.\n", "x.test"),
     "From: lowercase name, space before colon, final dot, LF");
  ok(from_is("From: =?UTF-8?B?5pel5pys?= <a@x.test>\r\n", "x.test"), "From: encoded word");
  ok(from_is("From: a@b\xc3\xbc" "cher.test\r\n", "xn--bcher-kva.test"), "From: IDN to A-label");
  ok(from_is("To: r@y.test\r\n\r\nFrom: j@x.test\r\n", 0), "From in the body does not count");
  ok(from_is("From: a@x.test\r\nFrom: b@x.test\r\n", 0), "two From fields refused");
  ok(from_is("From: nobody\r\n", 0), "From without domain refused");
  ok(from_is("Subject: x\r\n", 0), "no From refused");

  /* relaxed canonicalisation (RFC 6376 3.4.5's example, and edges) */
#define CANON_F(in, want) \
  (buf_trunc(&why, 0), dkimed_canon_field(in, strlen(in), &why) == 0 && !strcmp(why.s, want))
#define CANON_B(in, want) \
  (buf_trunc(&why, 0), dkimed_canon_body(in, strlen(in), &why) == 0 \
   && !strcmp(why.s ? why.s : "", want))
  ok(CANON_F("A: X", "a:X\r\n"), "canon field: A: X");
  ok(CANON_F("B : Y\t\r\n\tZ  ", "b:Y Z\r\n"), "canon field: B : Y <TAB> folded Z");
  ok(CANON_F("Subj:\n  a \n\tb", "subj:a b\r\n"), "canon field: LF folding");
  ok(CANON_B(" C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n"), "canon body: RFC example");
  ok(CANON_B(" C \nD \t E\n\n\n", " C\r\nD E\r\n"), "canon body: LF lines");
  ok(CANON_B("abc", "abc\r\n"), "canon body: CRLF added");
  ok(CANON_B("\r\n \r\n\t\n", ""), "canon body: blank lines only: empty");
  ok(CANON_B("", ""), "canon body: empty");
  buf_trunc(&why, 0);

  /* record comparison */
  memset(&got, 0, sizeof got);
  got.alg = DKIMKEY_RSA;
  snprintf(got.selector, sizeof got.selector, "%s", "s");
  snprintf(got.domain, sizeof got.domain, "%s", "x.test");
  snprintf(got.pub, sizeof got.pub, "%s", "QUJDRA==");
#define CMP(txt) dkimdns_compare(txt, strlen(txt), &got, &why)
  ok(CMP("v=DKIM1; k=rsa; p=QUJDRA==") == DKIMDNS_MATCH, "compare: match");
  ok(CMP("p=QUJD RA==") == DKIMDNS_MATCH, "compare: no v=, k=rsa by default, p= split by space");
  ok(CMP(" v = DKIM1 ;k=rsa;  p = QUJDRA== ; t=y") == DKIMDNS_MATCH,
     "compare: white space around tags");
  ok(CMP("v=DKIM1; k=rsa; p=QUJDRB==") == DKIMDNS_MISMATCH, "compare: other key");
  ok(CMP("v=DKIM1; k=ed25519; p=QUJDRA==") == DKIMDNS_MISMATCH, "compare: other algorithm");
  ok(CMP("v=DKIM1; k=rsa; p=") == DKIMDNS_MISMATCH && strstr(why.s, "revoked"), "compare: revoked");
  ok(CMP("v=DKIM1; k=rsa; p=QUJDRA==X") == DKIMDNS_MISMATCH, "compare: longer key");
  ok(CMP("v=spf1 -all") == DKIMDNS_ABSENT, "compare: not a DKIM record");
  ok(CMP("v=DKIM2; p=QUJDRA==") == DKIMDNS_ABSENT, "compare: other version");

  /* keys */
  if (!mkdtemp(home)) return 1;
  snprintf(db, sizeof db, "%s/db", home);
  snprintf(keys, sizeof keys, "%s/keys/dkim", home);
  if (mkdir(db, 0700) == -1 || tbl_open(&t, db, TBL_RECOVER) == -1) return 1;
  ok(dkimkey_gen(t, keys, "t1", "rsa.test", 0, DKIMKEY_RSA, 0, &rsa) == 0, "gen RSA");
  ok(rsa.state == DKIMKEY_ACTIVE && rsa.bits == 2048 && !strncmp(rsa.selector, "cmc", 3)
     && strlen(rsa.selector) == 11, "first key active, 2048 bits, selector cmcYYYYMMDD");
  ok(dkimkey_gen(t, keys, "t1", "rsa.test", 0, DKIMKEY_RSA, 1024, &k2) == 0
     && k2.state == DKIMKEY_NEW && !strncmp(k2.selector, rsa.selector, 11)
     && !strcmp(k2.selector + 11, "-2"), "second default selector -2, state new");
  ok(dkimkey_gen(t, keys, "t1", "ed.test", "ed1", DKIMKEY_ED25519, 0, &ed) == 0
     && ed.bits == 256 && strlen(ed.pub) == 44, "gen Ed25519: 32-byte public key");
  ok(dkimkey_gen(t, keys, "t1", "ed.test", "ed1", DKIMKEY_ED25519, 0, &got) == 1,
     "selector taken: 1");
  ok(dkimkey_gen(t, keys, "t2", "ed.test", "ed1", DKIMKEY_ED25519, 0, &got) == 1,
     "DNS name of another tenant: 1");
  dkimkey_path(path, sizeof path, keys, "t1", "ed.test", "ed1");
  ok(access(path, R_OK) == 0, "the taken selector's key file survives");
  ok(dkimkey_gen(t, keys, "t1", "x.test", 0, DKIMKEY_RSA, 512, &got) == -1 && errno == EINVAL,
     "512 bits: EINVAL");
  ok(dkimkey_get(t, 0, "t1", "rsa.test", rsa.selector, &got) == 0 && !strcmp(got.pub, rsa.pub)
     && got.created == rsa.created && got.alg == DKIMKEY_RSA, "get reads back");
  ok(dkimkey_get(t, 0, "t1", "rsa.test", "nosuch", &got) == 1, "get: absent");
  n = 0;
  ok(dkimkey_list(t, "t1", 0, list_count, &n) == 0 && n == 3, "list a tenant");
  n = 0;
  ok(dkimkey_list(t, "t1", "rsa.test", list_count, &n) == 0 && n == 2, "list a domain");
  n = 0;
  ok(dkimkey_list(t, "t1", "rsa.tes", list_count, &n) == 0 && n == 0,
     "list: domain prefix is not a match");
  ok(dkimkey_owner(t, "rsa.test", s1) == 0 && !strcmp(s1, "t1"), "owner of a domain");
  ok(dkimkey_owner(t, "none.test", s1) == 1, "owner: none");
  ok(dkimkey_policy_get(t, "t1") == 1, "policy: allow by default");

  /* signing */
  ok(dkim_signer_open(&s, t, keys) == 0, "signer open");
  ok(dkim_signer_sign(s, "t1", msg, strlen(msg), &sig) == DKIM_RC_SIGNED, "sign RSA");
  ok(!strncmp(sig.s, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=rsa.test;", 65)
     && sig.len > 2 && !strcmp(sig.s + sig.len - 2, "\r\n"),
     "field: rsa-sha256, relaxed/relaxed, CRLF-ended");
  for (i = 0; i + 1 < sig.len; i++)
    if (sig.s[i + 1] == '\n' && sig.s[i] != '\r') break;
  ok(i + 1 == sig.len, "field folded with CRLF only");
  ok(verifies(&rsa, &sig, msg), "RSA signature verifies");
  ok(!verifies(&rsa, &sig, MSG("rsa.test") "x"), "changed body fails");
  tagval(&sig, "bh=", bh1, sizeof bh1);
  for (i = j = 0; msg[i] && j + 1 < sizeof lf; i++)
    if (msg[i] != '\r') lf[j++] = msg[i];
  lf[j] = 0;
  lfmsg = lf;
  buf_trunc(&sig2, 0);
  ok(dkim_signer_sign(s, "t1", lfmsg, strlen(lfmsg), &sig2) == DKIM_RC_SIGNED, "sign LF input");
  tagval(&sig2, "bh=", bh2, sizeof bh2);
  ok(bh1[0] && !strcmp(bh1, bh2), "LF input hashes as CRLF");
  ok(verifies(&rsa, &sig2, msg), "LF-signed verifies on the CRLF form");
  buf_trunc(&sig2, 0);
  i = (size_t)(strstr(msg, "\r\n\r\n") - msg) + 4;
  ok(dkim_signer_sign2(s, "t1", msg, i, msg + i, strlen(msg) - i, &sig2) == DKIM_RC_SIGNED
     && verifies(&rsa, &sig2, msg), "sign2: header and body apart");
  buf_trunc(&sig2, 0);
  ok(dkim_signer_sign(s, 0, msg, strlen(msg), &sig2) == DKIM_RC_SIGNED
     && verifies(&rsa, &sig2, msg), "no tenant: the owner's key");
  buf_trunc(&sig, 0);
  ok(dkim_signer_sign(s, "t1", MSG("ed.test"), strlen(MSG("ed.test")), &sig) == DKIM_RC_SIGNED
     && strstr(sig.s, "a=ed25519-sha256"), "sign Ed25519");
  ok(verifies(&ed, &sig, MSG("ed.test")), "Ed25519 signature verifies");
  ok(!verifies(&ed, &sig, MSG("ed.test") "x"), "Ed25519: changed body fails");
  ok(!verifies(&rsa, &sig, MSG("ed.test")), "Ed25519 signature does not verify with another key");

  /* a field present twice: both signed, bottom-up, for either algorithm */
  {
    const char *two = "From: a@ed.test\r\nCc: one@example.org\r\nCc: two@example.org\r\n"
                      "Subject: two\r\n\r\nb\r\n";
    const char *swapped = "From: a@ed.test\r\nCc: two@example.org\r\nCc: one@example.org\r\n"
                          "Subject: two\r\n\r\nb\r\n";
    buf_trunc(&sig, 0);
    ok(dkim_signer_sign(s, "t1", two, strlen(two), &sig) == DKIM_RC_SIGNED
       && strstr(sig.s, "h=From:Cc:Cc:Subject:from;"), "Ed25519: both Cc in h=");
    ok(verifies(&ed, &sig, two), "Ed25519: two Cc verify");
    ok(!verifies(&ed, &sig, swapped), "Ed25519: Cc fields swapped: fails");
  }

  /* outcomes */
  buf_trunc(&sig, 0);
  ok(dkim_signer_sign(s, "t1", MSG("none.test"), strlen(MSG("none.test")), &sig) == DKIM_RC_UNSIGNED
     && sig.len == 0, "no key, policy allow: unsigned");
  ok(dkimkey_policy_set(t, "t1", 0) == 0 && dkimkey_policy_get(t, "t1") == 0, "policy require");
  ok(dkim_signer_sign(s, "t1", MSG("none.test"), strlen(MSG("none.test")), &sig) == DKIM_RC_TEMP
     && strstr(dkim_signer_detail(s), "requires") && sig.len == 0,
     "no key, policy require: temporary (the mail waits for a key)");
  dkimkey_policy_set(t, "t1", 1);
  ok(dkim_signer_sign(s, "t1", "Subject: x\r\n\r\nb\r\n", 16, &sig) == DKIM_RC_PERM,
     "no From: permanent");
  ok(dkim_signer_sign(s, "t2", msg, strlen(msg), &sig) == DKIM_RC_UNSIGNED,
     "other tenant has no key for it");
  bad = "From: a@rsa.test\r\nBad header line\r\n\r\nb\r\n";
  ok(dkim_signer_sign(s, "t1", bad, strlen(bad), &sig) == DKIM_RC_PERM,
     "malformed header field: permanent");
  ok(sig.len == 0, "nothing appended on failure");

  /* rotation: the next message uses the newly active key */
  ok(dkimkey_activate(t, "t1", "rsa.test", k2.selector) == 0, "activate the second key");
  ok(dkimkey_get(t, 0, "t1", "rsa.test", rsa.selector, &got) == 0 && got.state == DKIMKEY_OLD,
     "previous key is old");
  ok(dkim_signer_sign(s, "t1", msg, strlen(msg), &sig) == DKIM_RC_SIGNED, "sign after the switch");
  tagval(&sig, "s=", s1, sizeof s1);
  ok(!strcmp(s1, k2.selector) && verifies(&k2, &sig, msg), "the new key signs at once");
  ok(dkimkey_retire(t, keys, "t1", "rsa.test", k2.selector) == -1 && errno == EBUSY,
     "active key: EBUSY");
  ok(dkimkey_retire(t, keys, "t1", "rsa.test", rsa.selector) == 0, "retire the old key");
  dkimkey_path(path, sizeof path, keys, "t1", "rsa.test", rsa.selector);
  ok(access(path, F_OK) == -1 && errno == ENOENT, "its file is gone");
  ok(dkimkey_activate(t, "t1", "rsa.test", rsa.selector) == -1 && errno == EINVAL,
     "retired: EINVAL");
  ok(dkimkey_activate(t, "t1", "rsa.test", "nosuch") == 1, "activate unknown: 1");

  /* dual signing: an Ed25519 key beside the RSA one (RFC 8463) */
  {
    struct dkimkey e2, k3;
    char act[DKIMKEY_ACTIVE_MAX][DKIMKEY_SELECTOR_MAX + 1];
    size_t na = 0;
    struct buf f1 = BUF_ZERO, f2 = BUF_ZERO;
    struct dkim_signer *s3;
    const char *second = 0;
    char aside[300];
    ok(dkimkey_gen(t, keys, "t1", "rsa.test", "e2", DKIMKEY_ED25519, 0, &e2) == 0 && e2.state == DKIMKEY_NEW,
       "dual: an Ed25519 key for a domain with an RSA key waits (new)");
    ok(dkimkey_activate_pair(t, "t1", "rsa.test", "e2") == 0
       && dkimkey_actives(t, 0, "t1", "rsa.test", act, &na) == 0 && na == 2
       && !strcmp(act[0], k2.selector) && !strcmp(act[1], "e2"), "dual: activate_pair: both active, RSA first");
    ok(dkimkey_get(t, 0, "t1", "rsa.test", k2.selector, &got) == 0 && got.state == DKIMKEY_ACTIVE
       && dkimkey_active(t, 0, "t1", "rsa.test", s1) == 0 && !strcmp(s1, k2.selector),
       "dual: the RSA key stays active, and is the first");
    buf_trunc(&sig, 0);
    ok(dkim_signer_sign(s, "t1", msg, strlen(msg), &sig) == DKIM_RC_SIGNED
       && (second = strstr(sig.s, "\r\nDKIM-Signature: ")) && !strstr(second + 2, "\r\nDKIM-Signature: "),
       "dual: two DKIM-Signature fields");
    if (!second) second = sig.s ? sig.s : "";
    buf_set(&f1, sig.s ? sig.s : "", (size_t)(second + 2 - (sig.s ? sig.s : "")));
    buf_adds(&f2, second + 2);
    ok(strstr(f1.s, "a=rsa-sha256;") && verifies(&k2, &f1, msg), "dual: the first (RSA) verifies");
    ok(strstr(f2.s, "a=ed25519-sha256;") && verifies(&e2, &f2, msg), "dual: the second (Ed25519) verifies");
    ok(strstr(dkim_signer_detail(s), "a=rsa-sha256; d=rsa.test s=e2 a=ed25519-sha256") != 0,
       "dual: the detail names both");
    ok(dkim_signer_open(&s3, t, keys) == 0, "dual: a fresh signer");
    dkimkey_path(path, sizeof path, keys, "t1", "rsa.test", "e2");
    snprintf(aside, sizeof aside, "%s/e2.key", home);
    rename(path, aside);
    buf_set(&sig, "X", 1);
    ok(dkim_signer_sign(s3, "t1", msg, strlen(msg), &sig) == DKIM_RC_TEMP && sig.len == 1
       && strstr(dkim_signer_detail(s3), "key for rsa.test selector e2 unreadable"),
       "dual: one key missing: temporary, nothing appended (never half signed)");
    rename(aside, path);
    dkim_signer_close(s3);
    ok(dkimkey_gen(t, keys, "t1", "rsa.test", "r3", DKIMKEY_RSA, 1024, &k3) == 0
       && dkimkey_activate(t, "t1", "rsa.test", "r3") == 0
       && dkimkey_actives(t, 0, "t1", "rsa.test", act, &na) == 0 && na == 2
       && !strcmp(act[0], "r3") && !strcmp(act[1], "e2"), "dual: activating an RSA key replaces the RSA key only");
    ok(dkimkey_get(t, 0, "t1", "rsa.test", k2.selector, &got) == 0 && got.state == DKIMKEY_OLD,
       "dual: the replaced key is old");
    ok(dkimkey_deactivate(t, "t1", "rsa.test", "e2") == 0
       && dkimkey_actives(t, 0, "t1", "rsa.test", act, &na) == 0 && na == 1 && !strcmp(act[0], "r3")
       && dkimkey_get(t, 0, "t1", "rsa.test", "e2", &got) == 0 && got.state == DKIMKEY_OLD,
       "deactivate: back to one key, the other old");
    ok(dkimkey_deactivate(t, "t1", "rsa.test", "r3") == -1 && errno == EBUSY, "deactivate the only active key: EBUSY");
    ok(dkimkey_deactivate(t, "t1", "rsa.test", "e2") == -1 && errno == EINVAL, "deactivate a key not active: EINVAL");
    ok(dkimkey_deactivate(t, "t1", "rsa.test", "nosuch") == 1, "deactivate unknown: 1");
    ok(dkimkey_activate(t, "t1", "rsa.test", "e2") == 0
       && dkimkey_actives(t, 0, "t1", "rsa.test", act, &na) == 0 && na == 1 && !strcmp(act[0], "e2"),
       "one key: activate switches, whatever the algorithm");
    buf_trunc(&sig, 0);
    ok(dkim_signer_sign(s, "t1", msg, strlen(msg), &sig) == DKIM_RC_SIGNED
       && !strstr(sig.s + 2, "\r\nDKIM-Signature: ") && strstr(sig.s, "a=ed25519-sha256;") && verifies(&e2, &sig, msg),
       "one signature again, with the key now active");
    buf_free(&f1);
    buf_free(&f2);
  }

  /* key files: cached once read; a fresh signer finds the file missing */
  dkimkey_path(path, sizeof path, keys, "t1", "ed.test", "ed1");
  ok(unlink(path) == 0, "remove the Ed25519 key file");
  buf_trunc(&sig, 0);
  ok(dkim_signer_sign(s, "t1", MSG("ed.test"), strlen(MSG("ed.test")), &sig) == DKIM_RC_SIGNED,
     "the signer keeps a key it has read");
  ok(dkim_signer_open(&s2, t, keys) == 0, "second signer");
  buf_trunc(&sig, 0);
  ok(dkim_signer_sign(s2, "t1", MSG("ed.test"), strlen(MSG("ed.test")), &sig) == DKIM_RC_TEMP
     && strstr(dkim_signer_detail(s2), "key for ed.test selector ed1 unreadable: unable to open ")
     && sig.len == 0,
     "missing key file: temporary");
  dkim_signer_close(s2);
  dkim_signer_close(s);
  tbl_close(t);
  buf_free(&sig);
  buf_free(&sig2);
  buf_free(&why);
  if (nftw(home, rm_one, 16, FTW_DEPTH | FTW_PHYS) == -1) printf("# could not remove %s\n", home);
  return done();
}
