/* smimecert.c: S/MIME credentials: reading PEM, PKCS#12 and our own
   credential file with OpenSSL, the checks made before registration, and
   what the tables record (see smimecert.h, doc/smime.md).  Private key
   text is wiped from our buffers after use and never printed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>
#include "io.h"
#include "smimecert.h"

static void why_ssl(struct buf *why, const char *what)
{
  unsigned long e = ERR_peek_last_error();
  char t[256];
  if (e) {
    ERR_error_string_n(e, t, sizeof t);
    buf_printf(why, "%s (%s)", what, t);
  } else {
    buf_adds(why, what);
  }
  ERR_clear_error();
}

void smimecert_free(struct smimecert *c)
{
  EVP_PKEY_free(c->key);
  X509_free(c->cert);
  if (c->chain) sk_X509_pop_free(c->chain, X509_free);
  memset(c, 0, sizeof *c);
}

/* Append every certificate of PEM text p[0..n) to the chain, the first
   one to *first instead when first is not 0 and *first is unset.  The
   count read, or -1 ENOMEM, or -2 too many. */
static int read_certs(struct smimecert *c, const char *p, size_t n, X509 **first)
{
  BIO *bio;
  X509 *x;
  int got = 0;
  if (n > SMIMECERT_FILE_MAX) return -2;
  if (!(bio = BIO_new_mem_buf(p, (int)n))) return errno = ENOMEM, -1;
  while ((x = PEM_read_bio_X509(bio, 0, 0, 0))) {
    got++;
    if (first && !*first) {
      *first = x;
      continue;
    }
    if (sk_X509_num(c->chain) >= SMIMECERT_CHAIN_MAX) {
      X509_free(x);
      BIO_free(bio);
      return -2;
    }
    if (!sk_X509_push(c->chain, x)) {
      X509_free(x);
      BIO_free(bio);
      return errno = ENOMEM, -1;
    }
  }
  ERR_clear_error();             /* the end of the text is an "error" too */
  BIO_free(bio);
  return got;
}

static int no_password(char *b, int size, int rw, void *u)
{
  (void)b, (void)size, (void)rw, (void)u;
  return 0;
}

/* 1 if s occurs in p[0..n). */
static int has(const char *p, size_t n, const char *s)
{
  size_t l = strlen(s), i;
  for (i = 0; i + l <= n; i++)
    if (p[i] == s[0] && !memcmp(p + i, s, l)) return 1;
  return 0;
}

static int read_key(EVP_PKEY **k, const char *p, size_t n, struct buf *why)
{
  BIO *bio;
  if (n > SMIMECERT_FILE_MAX) {
    buf_printf(why, "the key text is over %d bytes", SMIMECERT_FILE_MAX);
    return 1;
  }
  if (!(bio = BIO_new_mem_buf(p, (int)n))) return errno = ENOMEM, -1;
  *k = PEM_read_bio_PrivateKey(bio, 0, no_password, 0);
  BIO_free(bio);
  if (*k) return 0;
  if (has(p, n, "ENCRYPTED"))
    buf_adds(why, "the private key is encrypted: give it unencrypted, or as PKCS#12 with its password");
  else
    why_ssl(why, "no private key in PEM form found");
  return 1;
}

int smimecert_from_pem(struct smimecert *c, const char *cert, size_t cn,
                       const char *key, size_t kn, const char *chain, size_t chn,
                       struct buf *why)
{
  int r;
  memset(c, 0, sizeof *c);
  if (!(c->chain = sk_X509_new_null())) return errno = ENOMEM, -1;
  r = read_certs(c, cert, cn, &c->cert);
  if (r < 0 || !c->cert) {
    if (r == -1) goto fail;
    if (r == -2) buf_printf(why, "too many certificates (at most %d in the chain)", SMIMECERT_CHAIN_MAX);
    else buf_adds(why, "no certificate in PEM form found");
    goto refused;
  }
  if (chain && (r = read_certs(c, chain, chn, 0)) < 1) {
    if (r == -1) goto fail;
    if (r == -2) buf_printf(why, "too many certificates (at most %d in the chain)", SMIMECERT_CHAIN_MAX);
    else buf_adds(why, "no certificate in PEM form found in the chain");
    goto refused;
  }
  r = read_key(&c->key, key, kn, why);
  if (r == -1) goto fail;
  if (r == 1) goto refused;
  return 0;
refused:
  smimecert_free(c);
  return 1;
fail:
  smimecert_free(c);
  return errno = ENOMEM, -1;
}

int smimecert_from_p12(struct smimecert *c, const char *p12, size_t n, const char *pass,
                       struct buf *why)
{
  BIO *bio;
  PKCS12 *p;
  STACK_OF(X509) *ca = 0;
  memset(c, 0, sizeof *c);
  if (n > SMIMECERT_FILE_MAX) {
    buf_printf(why, "the PKCS#12 file is over %d bytes", SMIMECERT_FILE_MAX);
    return 1;
  }
  if (!(bio = BIO_new_mem_buf(p12, (int)n))) return errno = ENOMEM, -1;
  p = d2i_PKCS12_bio(bio, 0);
  BIO_free(bio);
  if (!p) {
    why_ssl(why, "not a PKCS#12 file");
    return 1;
  }
  if (PKCS12_mac_present(p) && !PKCS12_verify_mac(p, pass, -1)
      && !(!*pass && PKCS12_verify_mac(p, 0, 0))) {
    PKCS12_free(p);
    ERR_clear_error();
    buf_adds(why, "wrong password, or the PKCS#12 file is damaged");
    return 1;
  }
  if (!PKCS12_parse(p, pass, &c->key, &c->cert, &ca)) {
    PKCS12_free(p);
    why_ssl(why, "unable to decrypt the PKCS#12 file (legacy encryption such as RC2 needs "
                 "OpenSSL's legacy provider)");
    return 1;
  }
  PKCS12_free(p);
  c->chain = ca ? ca : sk_X509_new_null();
  if (!c->chain) {
    smimecert_free(c);
    return errno = ENOMEM, -1;
  }
  if (!c->key || !c->cert) {
    buf_adds(why, c->key ? "no certificate in the PKCS#12 file" : "no private key in the PKCS#12 file");
    smimecert_free(c);
    return 1;
  }
  if (sk_X509_num(c->chain) > SMIMECERT_CHAIN_MAX) {
    buf_printf(why, "too many certificates (at most %d in the chain)", SMIMECERT_CHAIN_MAX);
    smimecert_free(c);
    return 1;
  }
  return 0;
}

int smimecert_load(struct smimecert *c, const char *path, struct buf *why)
{
  struct buf t = BUF_ZERO;
  struct stat st;
  int fd, r = 1;
  memset(c, 0, sizeof *c);
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd == -1) {
    buf_printf(why, "unable to open %s: %s", path, strerror(errno));
    return 1;
  }
  if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || (st.st_mode & 077)
      || st.st_size <= 0 || st.st_size > SMIMECERT_FILE_MAX) {
    /* A key others could read may have been copied: not ours to use. */
    buf_printf(why, "%s is not a private regular file of 1..%d bytes (mode 0600)", path,
               SMIMECERT_FILE_MAX);
    close(fd);
    return 1;
  }
  if (read_all(fd, &t, SMIMECERT_FILE_MAX) == -1) {
    if (errno == ENOMEM) r = -1;
    else buf_printf(why, "unable to read %s: %s", path, strerror(errno));
    close(fd);
    goto out;
  }
  close(fd);
  r = smimecert_from_pem(c, t.s, t.len, t.s, t.len, 0, 0, why);
  if (r == 1) buf_printf(why, " in %s", path);
out:
  if (t.s) OPENSSL_cleanse(t.s, t.cap);
  buf_free(&t);
  return r;
}

/* --- checks --- */

static long long asn1_time(const ASN1_TIME *a)
{
  struct tm tm;
  if (!a || ASN1_TIME_to_tm(a, &tm) != 1) return 0;
  return (long long)timegm(&tm);
}

static void fmt_time(char *out, size_t n, long long t)
{
  time_t tt = (time_t)t;
  struct tm tm;
  if (!gmtime_r(&tt, &tm) || !strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
    snprintf(out, n, "%lld", t);
}

int smimecert_valid(const struct smimecert *c, long long now, struct buf *why)
{
  long long nb = asn1_time(X509_get0_notBefore(c->cert));
  long long na = asn1_time(X509_get0_notAfter(c->cert));
  char t[32];
  if (!nb || !na) {
    buf_adds(why, "the certificate's validity dates do not parse");
    return 1;
  }
  if (now < nb) {
    fmt_time(t, sizeof t, nb);
    buf_printf(why, "the certificate is not valid yet: not before %s", t);
    return 1;
  }
  if (now > na) {
    fmt_time(t, sizeof t, na);
    buf_printf(why, "the certificate has expired: not after %s", t);
    return 1;
  }
  return 0;
}

static int lc(int ch) { return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch; }

/* 1 if a[0..an) and b (0-ended) are equal ignoring ASCII case. */
static int ieq(const char *a, size_t an, const char *b)
{
  size_t i;
  for (i = 0; i < an; i++)
    if (!b[i] || lc((unsigned char)a[i]) != lc((unsigned char)b[i])) return 0;
  return b[an] == 0;
}

/* Does the certificate name target (an address, or a domain of one of
   its addresses)?  1 yes, 0 no; the addresses it names appended to names. */
static int names_target(X509 *x, const char *target, struct buf *names)
{
  STACK_OF(OPENSSL_STRING) *em = X509_get1_email(x);
  int i, found = 0, is_addr = strchr(target, '@') != 0;
  for (i = 0; em && i < sk_OPENSSL_STRING_num(em); i++) {
    const char *e = sk_OPENSSL_STRING_value(em, i), *at = strrchr(e, '@');
    if (i < 4) buf_printf(names, "%s%s", i ? ", " : "", e);
    if (is_addr ? ieq(e, strlen(e), target) : at && ieq(at + 1, strlen(at + 1), target))
      found = 1;
  }
  if (!em || sk_OPENSSL_STRING_num(em) == 0) buf_adds(names, "no address");
  X509_email_free(em);
  return found;
}

static int check_key(const struct smimecert *c, struct buf *why)
{
  int id = EVP_PKEY_get_base_id(c->key), bits = EVP_PKEY_get_bits(c->key);
  char group[64];
  size_t gl = 0;
  if (id == EVP_PKEY_RSA) {
    if (bits < SMIMECERT_RSA_MIN) {
      buf_printf(why, "the RSA key has %d bits: at least %d are needed", bits, SMIMECERT_RSA_MIN);
      return 1;
    }
    return 0;
  }
  if (id == EVP_PKEY_EC) {
    if (EVP_PKEY_get_group_name(c->key, group, sizeof group, &gl) != 1) gl = 0;
    group[gl < sizeof group ? gl : 0] = 0;
    if (strcmp(group, "prime256v1") && strcmp(group, "secp384r1") && strcmp(group, "secp521r1")) {
      buf_printf(why, "the EC key's curve %s is not one of P-256, P-384, P-521", gl ? group : "?");
      ERR_clear_error();
      return 1;
    }
    return 0;
  }
  buf_printf(why, "the key type %s cannot sign S/MIME here (RSA or ECDSA)",
             OBJ_nid2sn(id) ? OBJ_nid2sn(id) : "unknown");
  return 1;
}

static int check_chain(const struct smimecert *c, long long now, struct buf *why)
{
  X509_STORE *st;
  X509_STORE_CTX *ctx;
  X509_VERIFY_PARAM *vp;
  int i, roots = 0, r = -1, n = sk_X509_num(c->chain);
  if (n == 0) return 0;          /* issued by a root the receivers know, or self-signed */
  if (!(st = X509_STORE_new())) return errno = ENOMEM, -1;
  /* Trust the roots given; without one, the top of what is given. */
  for (i = 0; i < n; i++) {
    X509 *x = sk_X509_value(c->chain, i);
    if (X509_check_issued(x, x) == X509_V_OK) {
      if (!X509_STORE_add_cert(st, x)) goto out;
      roots++;
    }
  }
  for (i = 0; !roots && i < n; i++)
    if (!X509_STORE_add_cert(st, sk_X509_value(c->chain, i))) goto out;
  if (!(ctx = X509_STORE_CTX_new())) goto out;
  if (X509_STORE_CTX_init(ctx, st, c->cert, c->chain) != 1) {
    X509_STORE_CTX_free(ctx);
    goto out;
  }
  vp = X509_STORE_CTX_get0_param(ctx);
  if (!roots) X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN);
  X509_VERIFY_PARAM_set_time(vp, (time_t)now);
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SMIME_SIGN);
  if (X509_verify_cert(ctx) == 1) {
    r = 0;
  } else {
    int err = X509_STORE_CTX_get_error(ctx), depth = X509_STORE_CTX_get_error_depth(ctx);
    buf_printf(why, "the chain does not verify: %s (depth %d)",
               X509_verify_cert_error_string(err), depth);
    r = 1;
  }
  X509_STORE_CTX_free(ctx);
out:
  X509_STORE_free(st);
  ERR_clear_error();
  if (r == -1) errno = ENOMEM;
  return r;
}

int smimecert_check(const struct smimecert *c, const char *target, long long now,
                    struct buf *why)
{
  uint32_t flags;
  struct buf names = BUF_ZERO;
  int r;
  if (X509_check_private_key(c->cert, c->key) != 1) {
    ERR_clear_error();
    buf_adds(why, "the private key does not belong to the certificate");
    return 1;
  }
  if ((r = smimecert_valid(c, now, why)) != 0) return r;
  flags = X509_get_extension_flags(c->cert);
  if (flags & EXFLAG_INVALID) {
    buf_adds(why, "the certificate's extensions do not parse");
    return 1;
  }
  if (!(flags & EXFLAG_XKUSAGE)) {
    buf_adds(why, "the certificate has no extended key usage: S/MIME needs "
                  "e-mail protection (emailProtection, 1.3.6.1.5.5.7.3.4)");
    return 1;
  }
  if (!(X509_get_extended_key_usage(c->cert) & XKU_SMIME)) {
    buf_adds(why, "the certificate's extended key usage lacks e-mail protection "
                  "(emailProtection, 1.3.6.1.5.5.7.3.4)");
    return 1;
  }
  if ((flags & EXFLAG_KUSAGE)
      && !(X509_get_key_usage(c->cert) & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION))) {
    buf_adds(why, "the certificate's key usage allows neither digitalSignature nor "
                  "nonRepudiation: it cannot sign mail");
    return 1;
  }
  if (X509_check_purpose(c->cert, X509_PURPOSE_SMIME_SIGN, 0) != 1) {
    ERR_clear_error();
    buf_adds(why, "the certificate is not fit for S/MIME signing (OpenSSL's purpose check)");
    return 1;
  }
  if ((r = check_key(c, why)) != 0) return r;
  if (target && !names_target(c->cert, target, &names)) {
    buf_printf(why, "the certificate is not for %s%s: it names %s", strchr(target, '@') ? "" : "an address in ",
               target, names.s ? names.s : "no address");
    buf_free(&names);
    return 1;
  }
  buf_free(&names);
  return check_chain(c, now, why);
}

/* --- what is recorded --- */

/* One-line text of name into out: control bytes and TABs made '?'. */
static void name_line(char *out, size_t n, const X509_NAME *name)
{
  BIO *bio = BIO_new(BIO_s_mem());
  char *p;
  long len;
  size_t i, o = 0;
  out[0] = 0;
  if (!bio) return;
  if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0
      && (len = BIO_get_mem_data(bio, &p)) > 0)
    for (i = 0; i < (size_t)len && o + 1 < n; i++)
      out[o++] = (unsigned char)p[i] < 32 || p[i] == 127 ? '?' : p[i];
  out[o] = 0;
  BIO_free(bio);
}

int smimecert_info(const struct smimecert *c, struct smimecert_info *in)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdn = 0, i;
  STACK_OF(OPENSSL_STRING) *em;
  BIGNUM *bn;
  char *hex;
  memset(in, 0, sizeof *in);
  if (X509_digest(c->cert, EVP_sha256(), md, &mdn) != 1 || mdn != 32) return errno = ENOMEM, -1;
  for (i = 0; i < mdn; i++) snprintf(in->fp + 2 * i, 3, "%02x", md[i]);
  name_line(in->subject, sizeof in->subject, X509_get_subject_name(c->cert));
  name_line(in->issuer, sizeof in->issuer, X509_get_issuer_name(c->cert));
  bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c->cert), 0);
  hex = bn ? BN_bn2hex(bn) : 0;
  snprintf(in->serial, sizeof in->serial, "%s", hex ? hex : "?");
  OPENSSL_free(hex);
  BN_free(bn);
  em = X509_get1_email(c->cert);
  if (em && sk_OPENSSL_STRING_num(em) > 0) {
    const char *e = sk_OPENSSL_STRING_value(em, 0);
    for (i = 0; e[i] && i + 1 < sizeof in->email; i++)
      in->email[i] = (unsigned char)e[i] < 32 || e[i] == 127 ? '?' : e[i];
    in->email[i] = 0;
  }
  X509_email_free(em);
  snprintf(in->keyalg, sizeof in->keyalg, "%s",
           EVP_PKEY_get_base_id(c->key) == EVP_PKEY_RSA ? "rsa"
           : EVP_PKEY_get_base_id(c->key) == EVP_PKEY_EC ? "ec" : "other");
  in->bits = (unsigned)EVP_PKEY_get_bits(c->key);
  in->not_before = asn1_time(X509_get0_notBefore(c->cert));
  in->not_after = asn1_time(X509_get0_notAfter(c->cert));
  in->nchain = (unsigned)sk_X509_num(c->chain);
  ERR_clear_error();
  return 0;
}

int smimecert_pem(const struct smimecert *c, struct buf *out)
{
  BIO *bio = BIO_new(BIO_s_mem());
  char *p;
  long n;
  int i, r = -1;
  if (!bio) return errno = ENOMEM, -1;
  if (PEM_write_bio_PKCS8PrivateKey(bio, c->key, 0, 0, 0, 0, 0) != 1
      || PEM_write_bio_X509(bio, c->cert) != 1)
    goto out;
  for (i = 0; i < sk_X509_num(c->chain); i++)
    if (PEM_write_bio_X509(bio, sk_X509_value(c->chain, i)) != 1) goto out;
  n = BIO_get_mem_data(bio, &p);
  if (n > 0 && buf_add(out, p, (size_t)n) == 0) r = 0;
  if (n > 0) OPENSSL_cleanse(p, (size_t)n);
out:
  BIO_free(bio);
  ERR_clear_error();
  if (r == -1) errno = ENOMEM;
  return r;
}
