/* unit-smime: lib/smime, smimecert, smimeenc, smimereg, lib/dmarc(org),
   lib/spfchk's records, and dkim.c's prepared mode, without DNS.  A CA and
   certificates are made here with OpenSSL's API (t/510-smime.t makes them
   with the openssl command and verifies with `openssl cms -verify`);
   signatures are checked in this process with CMS_verify.  Covers the
   7-bit re-encoding (quoted-printable and base64 decode back to the
   input), the validity window at a given time (not yet valid, expired:
   refused at registration, deferred at signing), the cached signature per
   message, the recipient domains without S/MIME, and the signer outcomes
   deliver acts on. */
#define _XOPEN_SOURCE 700          /* nftw */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "bounce_mime.h"
#include "buf.h"
#include "dkim.h"
#include "dkimkey.h"
#include "dmarc.h"
#include "dmarcorg.h"
#include "dq.h"
#include "dqprep.h"
#include "smime.h"
#include "smimecert.h"
#include "smimeenc.h"
#include "smimereg.h"
#include "spfchk.h"
#include "tap.h"
#include "tbl.h"

static char root[] = "/tmp/unit-smime.XXXXXX";

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
  (void)st, (void)flag, (void)f;
  return remove(p);
}

/* A certificate for key k signed by issuer (self-signed when 0) valid
   from now+from to now+to, with the given extensions ("name=value" ...). */
static X509 *mkcert(EVP_PKEY *k, const char *cn, X509 *issuer, EVP_PKEY *ik, long from, long to,
                    const char *const *ext)
{
  X509 *x = X509_new();
  X509V3_CTX ctx;
  size_t i;
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_set_version(x, 2);
  X509_gmtime_adj(X509_getm_notBefore(x), from);
  X509_gmtime_adj(X509_getm_notAfter(x), to);
  X509_set_pubkey(x, k);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)cn,
                             -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, 0, 0, 0);
  for (i = 0; ext[i]; i += 2) {
    X509_EXTENSION *e = X509V3_EXT_conf(0, &ctx, ext[i], ext[i + 1]);
    if (!e) return 0;
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
  }
  X509_sign(x, ik ? ik : k, EVP_sha256());
  return x;
}

static int pem(struct buf *b, EVP_PKEY *k, X509 *x)
{
  BIO *bio = BIO_new(BIO_s_mem());
  char *p;
  long n;
  if (k) PEM_write_bio_PrivateKey(bio, k, 0, 0, 0, 0, 0);
  if (x) PEM_write_bio_X509(bio, x);
  n = BIO_get_mem_data(bio, &p);
  buf_trunc(b, 0);
  buf_add(b, p, (size_t)n);
  BIO_free(bio);
  return 0;
}

/* 1 if the multipart/signed message m verifies against ca. */
static int cms_ok(const char *m, size_t n, X509 *ca)
{
  BIO *in = BIO_new_mem_buf(m, (int)n), *content = 0;
  X509_STORE *st = X509_STORE_new();
  CMS_ContentInfo *cms;
  int r = 0;
  X509_STORE_add_cert(st, ca);
  cms = SMIME_read_CMS(in, &content);
  if (cms) r = CMS_verify(cms, 0, st, content, 0, 0) == 1;
  CMS_ContentInfo_free(cms);
  BIO_free(content);
  BIO_free(in);
  X509_STORE_free(st);
  ERR_clear_error();
  return r;
}

static void encodings(void)
{
  struct buf out = BUF_ZERO, back = BUF_ZERO;
  unsigned changed;
  char bin[3000];
  size_t i, col, maxcol = 0;
  const char *text = "Gr\xc3\xbc\xc3\x9f" "e  \r\nFrom here\r\n.\r\ntrailing \t\r\n"
                     "a=b and a long line xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx end";
  ok(smimeenc_qp(text, strlen(text), &out) == 0, "qp encodes");
  for (i = col = 0; i < out.len; i++) {
    if (out.s[i] == '\r') { col = 0; i++; continue; }
    if (++col > maxcol) maxcol = col;
  }
  ok(maxcol <= 76 && smimeenc_is7bit(out.s, out.len), "qp lines at most 76 bytes, 7-bit");
  ok(strstr(out.s, "=46rom here") && strstr(out.s, "\r\n=2E\r\n") && strstr(out.s, "trailing =09"),
     "qp: From at line start, a lone dot, white space at line end are encoded");
  {
    /* bounce_mime.h decodes LF-only text: compare in that form. */
    struct buf lf = BUF_ZERO, want = BUF_ZERO;
    for (i = 0; i < out.len; i++) if (out.s[i] != '\r') buf_addc(&lf, out.s[i]);
    for (i = 0; text[i]; i++) if (text[i] != '\r') buf_addc(&want, text[i]);
    ok(mime_unqp(&back, lf.s, lf.len) == 0 && back.len == want.len && !memcmp(back.s, want.s, back.len),
       "qp decodes to the input");
    buf_free(&lf);
    buf_free(&want);
  }
  for (i = 0; i < sizeof bin; i++) bin[i] = (char)(i * 31 + 7);
  buf_trunc(&out, 0);
  buf_trunc(&back, 0);
  ok(smimeenc_b64(bin, sizeof bin, &out) == 0 && smimeenc_is7bit(out.s, out.len), "base64, 7-bit");
  ok(mime_unbase64(&back, out.s, out.len) == 0 && back.len == sizeof bin && !memcmp(back.s, bin, sizeof bin),
     "base64 decodes to the input");

  {
    const char *e7 = "Content-Type: text/plain\r\n\r\nplain\r\n";
    buf_trunc(&out, 0);
    ok(smimeenc_entity(e7, strlen(e7), &out, &changed) == 0 && changed == 0 && out.len == strlen(e7)
       && !memcmp(out.s, e7, out.len), "a 7-bit entity is left as it is");
  }
  {
    const char *e8 = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
                     "\r\nK\xc3\xb6ln\r\n";
    buf_trunc(&out, 0);
    ok(smimeenc_entity(e8, strlen(e8), &out, &changed) == 0 && changed == 1
       && strstr(out.s, "Content-Transfer-Encoding: quoted-printable\r\n\r\nK=C3=B6ln\r\n")
       && !strstr(out.s, "8bit"), "an 8-bit text part becomes quoted-printable, its CTE replaced");
  }
  {
    static const char mp[] = "Content-Type: multipart/mixed; boundary=\"b1\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                     "pre\r\n--b1\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n"
                     "--b2\r\nContent-Type: text/plain\r\n\r\n\xc3\xa9t\xc3\xa9\r\n--b2--\r\n"
                     "--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: \xc3\xa9\r\n\r\nx\r\n"
                     "--b1\r\nContent-Type: image/png\r\n\r\n\x89PNG\x00\x01\r\n--b1--\r\nepi\r\n";
    buf_trunc(&out, 0);
    ok(smimeenc_entity(mp, sizeof mp - 1, &out, &changed) == 0 && changed == 2, "nested multipart: two leaves re-encoded");
    ok(strstr(out.s, "\r\n=C3=A9t=C3=A9\r\n--b2--") != 0, "the nested text part is quoted-printable");
    ok(strstr(out.s, "Content-Transfer-Encoding: base64\r\n\r\niVBORwAB\r\n\r\n--b1--") != 0,
       "the binary part is base64");
    ok(strstr(out.s, "Subject: \xc3\xa9") != 0, "message/rfc822 is left as it is");
    ok(strstr(out.s, "Content-Transfer-Encoding: 8bit") != 0, "so the outer 8bit stays true");
  }
  {
    const char *nb = "Content-Type: multipart/mixed\r\n\r\n\xc3\xa9\r\n";
    buf_trunc(&out, 0);
    ok(smimeenc_entity(nb, strlen(nb), &out, &changed) == 0 && changed == 0 && out.len == strlen(nb),
       "a multipart without boundary is left as it is");
  }
  buf_free(&out);
  buf_free(&back);
}

static void names(void)
{
  struct buf b = BUF_ZERO;
  char ips[2][SPFCHK_IP_TEXT] = { "127.0.0.2", "2001:DB8::1" };
  ok(smimereg_target("News@Example.COM", &b) == 0 && !strcmp(b.s, "news@example.com"), "target: address lowercased");
  ok(smimereg_target("b\xc3\xbc" "cher.example", &b) == 0 && !strcmp(b.s, "xn--bcher-kva.example"),
     "target: IDN domain as A-label");
  ok(smimereg_target("a b@x.test", &b) == -1 && errno == EINVAL, "target: malformed address refused");
  ok(smimereg_target("-x.test", &b) == -1, "target: malformed domain refused");
  ok(spfchk_tenant_record("spf.relay.test", &b) == 0 && !strcmp(b.s, "v=spf1 include:spf.relay.test ~all"),
     "SPF: the tenant's record");
  ok(spfchk_ips_record(ips, 2, &b) == 0 && !strcmp(b.s, "v=spf1 ip4:127.0.0.2 ip6:2001:db8::1 ~all"),
     "SPF: the installation's record, canonical addresses");
  {
    char v[600];
    memset(v, 'a', sizeof v - 1);
    v[sizeof v - 1] = 0;
    buf_trunc(&b, 0);
    ok(spfchk_zone_line("x.test", v, &b) == 0 && strstr(b.s, "x.test. IN TXT \"") == b.s
       && strlen(b.s) == strlen("x.test. IN TXT") + 3 * 3 + 599 + 1, "zone line: 255-byte strings");
  }
  buf_free(&b);
}

static void dmarc(void)
{
  struct dmarc_rec r;
  struct buf why = BUF_ZERO, rec = BUF_ZERO;
  const char *good = " v=DMARC1 ;p=Quarantine; sp=reject; adkim=s; pct=50; "
                     "rua=mailto:a@b.test!10m, mailto:dmarc@return.relay.test; x-unknown=1;";
  ok(dmarc_parse(good, strlen(good), &r, &why) == DMARC_OK && r.p == DMARC_QUARANTINE && r.sp == DMARC_REJECT
     && r.adkim == 's' && r.aspf == 'r' && r.pct == 50 && r.nrua == 2, "DMARC: a full record");
  ok(dmarc_has_rua(&r, "DMARC@return.relay.test") && dmarc_has_rua(&r, "a@b.test") && !dmarc_has_rua(&r, "x@b.test"),
     "DMARC: rua compared without case, !size ignored");
  ok(dmarc_parse("v=spf1 -all", 11, &r, &why) == DMARC_NOT_DMARC, "DMARC: an SPF record is no DMARC record");
  ok(dmarc_parse("p=none; v=DMARC1", 16, &r, &why) == DMARC_NOT_DMARC, "DMARC: v= must come first");
  ok(dmarc_parse("v=dmarc1; p=none", 16, &r, &why) == DMARC_NOT_DMARC, "DMARC: v= is exact");
  buf_trunc(&why, 0);
  ok(dmarc_parse("v=DMARC1; rua=mailto:a@b.test", 29, &r, &why) == DMARC_INVALID && strstr(why.s, "no p="),
     "DMARC: p= is required");
  buf_trunc(&why, 0);
  ok(dmarc_parse("v=DMARC1; p=drop", 16, &r, &why) == DMARC_INVALID && strstr(why.s, "p= is not"),
     "DMARC: unknown policy");
  buf_trunc(&why, 0);
  ok(dmarc_parse("v=DMARC1; p=none; rua=http://x", 30, &r, &why) == DMARC_INVALID, "DMARC: rua must be mailto:");
  ok(dmarc_parse("v=DMARC1; p=none; pct=101", 25, &r, &why) == DMARC_INVALID, "DMARC: pct over 100");
  ok(dmarc_parse("v=DMARC1; p=none; p=reject", 26, &r, &why) == DMARC_INVALID, "DMARC: a repeated tag");
  ok(dmarc_record(DMARC_REJECT, "dmarc@return.relay.test", &rec) == 0
     && !strcmp(rec.s, "v=DMARC1; p=reject; rua=mailto:dmarc@return.relay.test; adkim=r; aspf=r"),
     "DMARC: the record we publish");
  ok(dmarc_parse(rec.s, rec.len, &r, &why) == DMARC_OK && r.p == DMARC_REJECT, "and it parses back");
  ok(dmarc_record(DMARC_NONE, "a,b@x", &rec) == -1, "DMARC: no rua with a comma");
  /* the Organizational Domain (Public Suffix List, libpsl) */
#define ORG(d, want) (buf_trunc(&rec, 0), dmarcorg_domain(d, &rec) == 0 && !strcmp(rec.s, want))
  ok(ORG("news.example.com", "example.com") && ORG("example.com", "example.com"),
     "DMARC org: example.com, from a subdomain and itself");
  ok(ORG("a.b.example.co.uk", "example.co.uk"), "DMARC org: under a two-label suffix");
  ok(ORG("Sub.Example.COM.", "example.com"), "DMARC org: lowercase, final dot dropped");
  ok(ORG("x.y.example.test", "example.test"), "DMARC org: a suffix the list lacks is one label");
  ok(dmarcorg_domain("co.uk", &rec) == 1 && dmarcorg_domain("com", &rec) == 1,
     "DMARC org: a public suffix has none");
  ok(dmarcorg_domain("a..b.com", &rec) == -1 && errno == EINVAL && dmarcorg_domain("", &rec) == -1
     && dmarcorg_domain("a b.com", &rec) == -1, "DMARC org: not a domain: EINVAL");
  buf_free(&why);
  buf_free(&rec);
}

int main(void)
{
  char db[256], keydir[256], dkdir[256];
  const char *smime_ext[] = { "keyUsage", "critical,digitalSignature", "extendedKeyUsage", "emailProtection",
                              "subjectAltName", "email:news@smime.test", 0 };
  const char *ca_ext[] = { "basicConstraints", "critical,CA:TRUE", "keyUsage", "critical,keyCertSign", 0 };
  struct buf why = BUF_ZERO, cp = BUF_ZERO, kp = BUF_ZERO, out = BUF_ZERO;
  struct smimecert c;
  struct smimereg_ent e;
  struct smime_signer *s;
  struct tbl *t;
  EVP_PKEY *cak, *k;
  X509 *ca, *x, *later;
  long long now = (long long)time(0);
  const char *o, *o2;
  size_t on, on2, ohn;
  int r;

  plan(89);
  encodings();
  names();
  dmarc();

  if (!mkdtemp(root)) return 1;
  snprintf(db, sizeof db, "%s/db", root);
  snprintf(keydir, sizeof keydir, "%s/keys/smime", root);
  snprintf(dkdir, sizeof dkdir, "%s/keys/dkim", root);
  mkdir(db, 0700);
  if (tbl_open(&t, db, TBL_RECOVER) == -1) return 1;

  cak = EVP_PKEY_Q_keygen(0, 0, "EC", "P-256");
  k = EVP_PKEY_Q_keygen(0, 0, "EC", "P-256");
  ca = mkcert(cak, "CA", 0, 0, -3600, 86400, ca_ext);
  x = mkcert(k, "news", ca, cak, -3600, 86400, smime_ext);
  later = mkcert(k, "news", ca, cak, 3600, 86400, smime_ext);

  /* --- the validity window at a given time --- */
  pem(&cp, 0, later);
  pem(&kp, k, 0);
  ok(smimecert_from_pem(&c, cp.s, cp.len, kp.s, kp.len, 0, 0, &why) == 0, "PEM read");
  buf_trunc(&why, 0);
  ok(smimecert_check(&c, "news@smime.test", now, &why) == 1 && strstr(why.s, "not valid yet"),
     "a certificate valid from later is refused: not valid yet");
  smimecert_free(&c);
  pem(&cp, 0, x);
  ok(smimecert_from_pem(&c, cp.s, cp.len, kp.s, kp.len, 0, 0, &why) == 0, "PEM read");
  buf_trunc(&why, 0);
  ok(smimecert_check(&c, "news@smime.test", now, &why) == 0, "a good certificate passes");
  buf_trunc(&why, 0);
  ok(smimecert_check(&c, "news@smime.test", now + 2 * 86400, &why) == 1 && strstr(why.s, "has expired"),
     "two days later it is refused: expired");
  buf_trunc(&why, 0);
  ok(smimecert_check(&c, "smime.test", now, &why) == 0, "a domain it has an address in");
  ok(smimereg_add(t, keydir, "t1", "news@smime.test", &c, 0, &e) == 0 && e.i.nchain == 0
     && !strcmp(e.i.email, "news@smime.test") && !strcmp(e.i.keyalg, "ec"), "registered");
  ok(smimereg_add(t, keydir, "t1", "news@smime.test", &c, 0, &e) == 1, "a second time: exists");
  ok(smimereg_match(t, "t1", "news@smime.test", &e) == 0 && !strcmp(e.target, "news@smime.test"), "match: the address");
  ok(smimereg_match(t, "t1", "other@smime.test", &e) == 1, "match: nothing for another address");
  ok(smimereg_add(t, keydir, "t1", "smime.test", &c, 0, &e) == 0, "the domain too, same certificate");
  ok(smimereg_match(t, "t1", "other@smime.test", &e) == 0 && !strcmp(e.target, "smime.test"),
     "match: another address falls back to the domain");
  ok(smimereg_match(t, "t2", "news@smime.test", &e) == 1, "match: another tenant has nothing");

  /* --- the signer --- */
  {
    const char *head = "From: News <news@smime.test>\nTo: a@x.test\nSubject: hi\nMIME-Version: 1.0\n"
                       "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n";
    const char *head2 = "From: News <news@smime.test>\r\nTo: b@y.test\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
                        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
    const char *body = "K\xc3\xb6ln\n", *body2 = "K\xc3\xb6ln\r\n";
    struct buf first = BUF_ZERO;
    ok(smime_signer_open(&s, keydir) == 0, "signer open");
    ok(smime_signer_sign(s, "t1", "news@smime.test", 0, head, strlen(head), body, strlen(body), &o, &on, &ohn)
       == SMIME_RC_TEMP && strstr(smime_signer_detail(s), "not prepared"), "not prepared: TEMP");
    ok(smime_signer_prepare(s, t, "t1", "News@Smime.Test", now + 2 * 86400) == SMIME_RC_TEMP
       && strstr(smime_signer_detail(s), "has expired"), "prepared when the certificate has expired: TEMP");
    ok(smime_signer_sign(s, "t1", "news@smime.test", 0, head, strlen(head), body, strlen(body), &o, &on, &ohn)
       == SMIME_RC_TEMP, "and signing then says TEMP: never unsigned");
    ok(smime_signer_prepare(s, t, "t1", "nobody@else.test", now) == SMIME_RC_UNSIGNED, "no certificate: UNSIGNED");
    ok(smime_signer_prepare(s, t, "t1", "news@smime.test", now) == SMIME_RC_SIGNED, "prepared now: ready");
    r = smime_signer_sign(s, "t1", "news@smime.test", 0, head, strlen(head), body, strlen(body), &o, &on, &ohn);
    ok(r == SMIME_RC_SIGNED, "signed (LF input)");
    ok(cms_ok(o, on, ca), "CMS_verify accepts it");
    ok(on > 200 && !strncmp(o, "From: News <news@smime.test>\r\nTo: a@x.test\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
                   "Content-Type: multipart/signed;", 107)
       && o[ohn - 1] == '\n' && o[ohn - 3] == '\n', "outer fields kept, CRLF, header length right");
    buf_set(&first, o + ohn, on - ohn);
    r = smime_signer_sign(s, "t1", "news@smime.test", 0, head2, strlen(head2), body2, strlen(body2), &o2, &on2, &ohn);
    ok(r == SMIME_RC_SIGNED && on2 - ohn == first.len && !memcmp(o2 + ohn, first.s, first.len),
       "another recipient's copy (CRLF) reuses the signed part");
    ok(strstr(o2, "To: b@y.test\r\n") && cms_ok(o2, on2, ca), "with its own outer fields, and verifies");
    ok(smimereg_skip_set(t, "t1", "nosmime.test", 1) == 0, "skip list: add");
    ok(smime_signer_prepare_rcpt(s, t, "t1", "nosmime.test") == 1 && smime_signer_prepare_rcpt(s, t, "t1", "y.test") == 0,
       "skip list: prepared per recipient domain");
    ok(smime_signer_sign(s, "t1", "news@smime.test", "nosmime.test", head2, strlen(head2), body2, strlen(body2),
                         &o, &on, &ohn) == SMIME_RC_UNSIGNED, "a recipient domain without S/MIME: UNSIGNED");
    ok(smime_signer_sign(s, "t1", "news@smime.test", "y.test", head2, strlen(head2), body2, strlen(body2),
                         &o, &on, &ohn) == SMIME_RC_SIGNED, "other domains are signed");
    ok(smimereg_del(t, keydir, "t1", "news@smime.test") == 0 && smimereg_match(t, "t1", "news@smime.test", &e) == 0
       && !strcmp(e.target, "smime.test"), "del: the domain registration remains");
    ok(smimereg_del(t, keydir, "t1", "smime.test") == 0, "del the domain");
    {
      char path[512];
      struct stat st;
      smimereg_path(path, sizeof path, keydir, "t1", e.i.fp);
      ok(stat(path, &st) == -1 && errno == ENOENT, "the last del removes the file");
    }
    ok(smime_signer_prepare(s, t, "t1", "news@smime.test", now) == SMIME_RC_UNSIGNED, "then nothing signs");
    smime_signer_close(s);
    buf_free(&first);
  }

  /* --- dkim.c, prepared mode (what deliver's workers use) --- */
  {
    struct dkim_signer *d, *p;
    struct dkimkey dk;
    struct buf sig = BUF_ZERO;
    const char *h = "From: a@dk.test\r\nTo: b@x.test\r\nSubject: s\r\n\r\n", *b = "body\r\n";
    const char *h2 = "From: a@other.test\r\nSubject: s\r\n\r\n", *h3 = "Subject: no from\r\n\r\n";
    ok(dkimkey_gen(t, dkdir, "t1", "dk.test", "s1", DKIMKEY_ED25519, 0, &dk) == 0, "a DKIM key");
    int op1 = dkim_signer_open(&p, t, dkdir), op2 = dkim_signer_open(&d, 0, dkdir);
    ok(op1 == 0 && op2 == 0, "signers open");
    ok(dkim_signer_prepare(d, t, "t1", "dk.test") == DKIM_RC_SIGNED, "prepare: key ready");
    ok(dkim_signer_prepare(d, t, "t1", "other.test") == DKIM_RC_UNSIGNED, "prepare: no key, policy allow");
    ok(dkim_signer_prepare(d, t, "t1", "") == DKIM_RC_UNSIGNED, "prepare: no From domain, policy allow");
    ok(dkim_signer_sign2(d, "t1", h, strlen(h), b, strlen(b), &sig) == DKIM_RC_SIGNED && strstr(sig.s, "d=dk.test"),
       "prepared mode signs without tables");
    ok(dkim_signer_sign2(d, "t1", h2, strlen(h2), b, strlen(b), &sig) == DKIM_RC_UNSIGNED, "as prepared: unsigned");
    ok(dkim_signer_sign2(d, "t1", h3, strlen(h3), b, strlen(b), &sig) == DKIM_RC_UNSIGNED,
       "no From: what was prepared for no domain");
    ok(dkim_signer_sign2(d, "t2", h, strlen(h), b, strlen(b), &sig) == DKIM_RC_TEMP
       && strstr(dkim_signer_detail(d), "was not prepared"), "not prepared: TEMP");
    ok(dkim_signer_sign2(p, "t1", h, strlen(h), b, strlen(b), &sig) == DKIM_RC_SIGNED, "table mode unchanged");
    /* dqprep (deliver): what a recipient of a prepared message gets, and
       the reason and kind of each failure */
    {
      struct dqprep_env env;
      struct dqprep_sign ps;
      struct dqprep_out po = DQPREP_OUT_ZERO;
      const char *rc[1] = { "r@x.test" };
      struct dq_msg *m = dq_msg_new("0005f1a2b3c4d00001234abcd", "t1", "default", "a@dk.test", "", "", 0, 0, 0, rc, 1);
      const char *good = "From: a@dk.test\r\nSubject: s\r\n\r\nbody\r\n";
      const char *bad = "From: a@dk.test\r\nno colon here\r\n\r\nbody\r\n";
      const char *other = "From: a@else.test\r\nSubject: s\r\n\r\nbody\r\n";
      char kpath[512];
      memset(&env, 0, sizeof env);
      env.dkim = d;
      dq_msg_sethdr(m, "a@dk.test", "s", "<m@t>", 0);
      dkim_signer_unprepare(d);
      ok(dqprep_sign_prepare(&env, t, m, (long long)time(0), &ps) == 0 && ps.dkim == DKIM_RC_SIGNED
         && dqprep_sign_decide(&ps, 0) == DQ_PENDING, "dqprep: prepared, handed out");
      ok(dqprep_message(&env, 0, m, 0, good, strlen(good), &po) == 0 && !strncmp(po.p, "DKIM-Signature: ", 16),
         "dqprep: the copy is signed");
      ok(dqprep_message(&env, 0, m, 0, bad, strlen(bad), &po) == -1 && po.perm
         && !strncmp(po.why, "DKIM: malformed header field", 28), "dqprep: a malformed header field: permanent, why");
      ok(dqprep_message(&env, 0, m, 0, other, strlen(other), &po) == -1 && !po.perm
         && strstr(po.why, "DKIM: DKIM for else.test of tenant t1 was not prepared"),
         "dqprep: a From the parent did not prepare: temporary, why");
      ok(dqprep_message(&env, 0, m, 0, good, strlen(good), &po) == 0 && !po.why[0], "dqprep: good again, no reason left");
      dkimkey_policy_set(t, "t1", 0);
      dq_msg_sethdr(m, "a@other.test", "s", "<m@t>", 0);
      ok(dqprep_sign_prepare(&env, t, m, (long long)time(0), &ps) == 0 && ps.dkim == DKIM_RC_TEMP
         && dqprep_sign_decide(&ps, 0) == DQ_DEFERRED
         && !strcmp(ps.why, "DKIM: no DKIM key for other.test of tenant t1, and the tenant requires signing"),
         "dqprep: no key, tenant requires signing: deferred, why");
      dkimkey_policy_set(t, "t1", 1);
      dkimkey_path(kpath, sizeof kpath, dkdir, "t1", "dk.test", "s1");
      unlink(kpath);
      dkim_signer_close(d);
      dkim_signer_open(&d, 0, dkdir);
      env.dkim = d;
      dq_msg_sethdr(m, "a@dk.test", "s", "<m@t>", 0);
      ok(dqprep_sign_prepare(&env, t, m, (long long)time(0), &ps) == 0 && ps.dkim == DKIM_RC_TEMP
         && dqprep_sign_decide(&ps, 0) == DQ_DEFERRED
         && !strncmp(ps.why, "DKIM: key for dk.test selector s1 unreadable: unable to open ", 61)
         && strstr(ps.why, "s1.key: No such file or directory"),
         "dqprep: a missing key file: deferred in the parent, why");
      dqprep_out_free(&po);
      dq_msg_free(m);
    }
    dkim_signer_close(d);
    dkim_signer_close(p);
    buf_free(&sig);
  }

  EVP_PKEY_free(cak);
  EVP_PKEY_free(k);
  X509_free(ca);
  X509_free(x);
  X509_free(later);
  smimecert_free(&c);
  buf_free(&why);
  buf_free(&cp);
  buf_free(&kp);
  buf_free(&out);
  tbl_close(t);
  nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return done();
}
