/* unit-verp: lib/verp.c: the secret file (made 0600, kept, read back,
   refused when malformed), VERP addresses made and parsed back (round
   trip), any change of case survives, a changed id, recipient, MAC or key
   is refused, and malformed addresses are not taken for VERP ones.  Also
   lib/dqprep.c's envelope sender: VERP by default, the tenant's sender
   with verp off, the null sender kept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tap.h"
#include "dqprep.h"
#include "verp.h"

static char dir[] = "/tmp/unit-verp.XXXXXX";

static void upcase(char *s)
{
  for (; *s; s++) if (*s >= 'a' && *s <= 'z') *s = (char)(*s - 'a' + 'A');
}

int main(void)
{
  struct verp_key k, k2;
  struct buf a = BUF_ZERO, b = BUF_ZERO;
  char path[256], path2[256], id[VERP_ID_MAX + 1], mac[VERP_MAC_LEN + 1], up[512];
  const char *dom;
  const char *msgid = "0005F1A2B3C4D00001234ABCD";
  struct stat st;
  FILE *f;
  int i, bad;

  plan(30);
  if (!mkdtemp(dir)) return 1;
  snprintf(path, sizeof path, "%s/verp-secret", dir);
  snprintf(path2, sizeof path2, "%s/other", dir);

  ok(verp_key_load(&k, path) == -1, "a missing secret file is an error");
  ok(verp_key_create(path) == 0, "secret file made");
  ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode 0600");
  ok(verp_key_create(path) == 1, "an existing secret is kept");
  ok(verp_key_load(&k, path) == 0 && k.n == VERP_KEY_LEN, "read back: 32 bytes");
  ok(verp_key_create(path2) == 0 && verp_key_load(&k2, path2) == 0
     && memcmp(k.k, k2.k, k.n) != 0, "two installations get different secrets");
  f = fopen(path2, "w");
  fputs("not hex at all, not hex at all, not hex at all\n", f);
  fclose(f);
  ok(verp_key_load(&k2, path2) == -1, "a malformed secret is refused");
  f = fopen(path2, "w");
  fputs("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", f);
  fclose(f);
  ok(verp_key_load(&k2, path2) == 0 && k2.n == 32, "a hand-written hex secret is read");

  /* round trip */
  ok(verp_make(&a, &k, msgid, "User@Example.COM", "return.mx.test") == 0, "made");
  ok(strncmp(a.s, "b-0005f1a2b3c4d00001234abcd-", 28) == 0, "b-, the id in lower case");
  ok(strlen(a.s) - strlen("@return.mx.test") <= 64, "the local part fits in 64 octets");
  ok(strcmp(a.s + strlen(a.s) - strlen("@return.mx.test"), "@return.mx.test") == 0, "on the bounce domain");
  ok(verp_parse(a.s, id, mac, &dom) == 0 && !strcmp(id, msgid) && !strcmp(dom, "return.mx.test"),
     "parsed back: id and domain");
  ok(verp_check(&k, id, "user@example.com", mac) == 1, "MAC checks with the recipient");
  ok(verp_check(&k, id, "USER@EXAMPLE.COM", mac) == 1, "recipient compared without case");
  ok(verp_check(&k, id, "other@example.com", mac) == 0, "another recipient does not match");
  ok(verp_check(&k2, id, "user@example.com", mac) == 0, "another secret does not match");
  ok(verp_check(&k, "0005F1A2B3C4D00001234ABCE", "user@example.com", mac) == 0,
     "another message id does not match");

  /* case folded by an MTA */
  snprintf(up, sizeof up, "%s", a.s);
  upcase(up);
  ok(verp_parse(up, id, mac, &dom) == 0 && !strcmp(id, msgid)
     && verp_check(&k, id, "user@example.com", mac) == 1, "upper-cased address still verifies");

  /* tampered */
  snprintf(up, sizeof up, "%s", a.s);
  up[30] = up[30] == 'a' ? 'b' : 'a';            /* a letter of the MAC */
  ok(verp_parse(up, id, mac, &dom) == 0 && verp_check(&k, id, "user@example.com", mac) == 0,
     "one changed MAC letter is refused");
  snprintf(up, sizeof up, "%s", a.s);
  up[5] = up[5] == '1' ? '2' : '1';              /* a digit of the id */
  ok(verp_parse(up, id, mac, &dom) == 0 && verp_check(&k, id, "user@example.com", mac) == 0,
     "one changed id digit is refused");
  bad = 0;
  {
    static const char *const no[] = {
      "user@example.com", "b-@x.test", "b-0005f1a2b3c4d00001234abcd@x.test",
      "b-0005f1a2b3c4d00001234abcd-abc@x.test", "b-0005f1a2b3c4d00001234abcd-abcdefghijk1@x.test",
      "b-0005f1a2b3c4d00001234abcd-abcdefghijklm@x.test", "b-zz05f1a2b3c4d00001234abcd-abcdefghijkl@x.test",
      "b-0005f1a2b3c4d00001234abcd-abcdefghijkl@", "b-0005f1a2b3c4d00001234abcd-abcdefghijkl",
      "c-0005f1a2b3c4d00001234abcd-abcdefghijkl@x.test", "", 0 };
    for (i = 0; no[i]; i++) if (verp_parse(no[i], id, mac, &dom) == 0) bad++;
  }
  ok(bad == 0, "malformed addresses are not VERP addresses");
  ok(verp_make(&b, &k, "not-an-id", "u@x.test", "d.test") == -1, "a bad id is refused");

  /* dqprep: step 0 */
  {
    struct dqprep_env env;
    struct dqprep_conf *c;
    struct dqprep_out o = DQPREP_OUT_ZERO;
    const char *rc[2] = { "r1@x.test", "r2@x.test" };
    struct dq_msg *m = dq_msg_new(msgid, "acme", "default", "s@shop.test", "", "", 0, 0, 0, rc, 2);
    struct dq_msg *n = dq_msg_new(msgid, "acme", "default", "", "", "", 0, 0, 0, rc, 2);
    const char body[] = "Subject: x\r\n\r\nhi\r\n";
    char dd[64];
    memset(&env, 0, sizeof env);
    env.verp_key = &k;
    env.hostname = "MX.Example.NET";
    ok(dqprep_default_bounce_domain(dd, sizeof dd, "acme", "MX.Example.NET") == 0
       && !strcmp(dd, "return.acme.mx.example.net"), "default bounce domain: return.TENANT.HOSTNAME, lower case");
    c = calloc(1, sizeof *c);
    c->refs = 1;
    c->verp = 1;
    snprintf(c->bounce_domain, sizeof c->bounce_domain, "%s", dd);
    ok(m && dqprep_message(&env, c, m, 1, body, sizeof body - 1, &o) == 0, "prepared");
    ok(verp_parse(o.sender.s, id, mac, &dom) == 0 && !strcmp(dom, "return.acme.mx.example.net")
       && verp_check(&k, id, "r2@x.test", mac) == 1, "sender: VERP of this recipient");
    ok(o.p == body && o.n == sizeof body - 1, "message: the spool copy itself, not copied");
    ok(n && dqprep_message(&env, c, n, 0, body, sizeof body - 1, &o) == 0 && o.sender.len == 0
       && o.sender.s && !*o.sender.s, "the null sender stays null");
    c->verp = 0;
    ok(dqprep_message(&env, c, m, 0, body, sizeof body - 1, &o) == 0 && !strcmp(o.sender.s, "s@shop.test"),
       "verp off: the tenant's sender");
    ok(dqprep_message(&env, c, m, 2, body, sizeof body - 1, &o) == -1, "a recipient index out of range is refused");
    dqprep_out_free(&o);
    dqprep_conf_put(dqprep_conf_ref(c));
    dqprep_conf_put(c);
    dq_msg_free(m);
    dq_msg_free(n);
  }
  buf_free(&a);
  buf_free(&b);
  unlink(path);
  unlink(path2);
  rmdir(dir);
  return done();
}
