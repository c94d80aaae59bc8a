#ifndef SMIMECERT_H
#define SMIMECERT_H
/* smimecert.h: an S/MIME signing credential -- private key, certificate
   and the chain of CA certificates above it -- read from PEM or PKCS#12
   (OpenSSL), checked before it is registered, and kept as one PEM file
   (key, certificate, chain) that the signer reads (doc/smime.md).

   Checks (smimecert_check), each refusal with its reason:
   - the private key belongs to the certificate;
   - the certificate is valid now (not expired, not before its start);
   - it has the extended key usage e-mail protection (1.3.6.1.5.5.7.3.4),
     and a key usage, if it has one, that allows digitalSignature or
     nonRepudiation; OpenSSL's S/MIME signing purpose check agrees;
   - the key is RSA of 2048 bits or more, or ECDSA on P-256/384/521;
   - an address target is named by the certificate (rfc822Name, or the
     subject's emailAddress); a domain target: some address it names is
     in that domain;
   - a chain, when given, leads from the certificate through its CA
     certificates, each valid now.
   Functions return 0 ok, 1 for unusable input (the reason appended to
   why), -1 with errno (ENOMEM). */
#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "buf.h"

#define SMIMECERT_FILE_MAX (256 * 1024)   /* bytes of PEM, PKCS#12 or credential file */
#define SMIMECERT_CHAIN_MAX 16            /* CA certificates kept */
#define SMIMECERT_RSA_MIN 2048
#define SMIMECERT_PASS_MAX 1024           /* bytes of a PKCS#12 password */

struct smimecert {
  EVP_PKEY *key;
  X509 *cert;
  STACK_OF(X509) *chain;                  /* may be empty, never 0 once read */
};

struct smimecert_info {
  char fp[65];                            /* SHA-256 of the DER certificate, hex */
  char subject[256], issuer[256];         /* one-line RFC 2253 form, cut */
  char serial[100];                       /* hex */
  char email[321];                        /* first address the certificate names */
  char keyalg[8];                         /* "rsa", "ec" */
  unsigned bits;
  long long not_before, not_after;        /* unix seconds */
  unsigned nchain;
};

/* Certificate text cert (PEM: the first certificate is the signer's; any
   others join the chain), private key text key (PEM, unencrypted; may be
   the same text as cert), chain text (PEM certificates, may be 0). */
int smimecert_from_pem(struct smimecert *c, const char *cert, size_t cn,
                       const char *key, size_t kn, const char *chain, size_t chn,
                       struct buf *why);
/* PKCS#12 p12[0..n) with password pass. */
int smimecert_from_p12(struct smimecert *c, const char *p12, size_t n, const char *pass,
                       struct buf *why);
/* The credential file path: regular, mode 0600 (no group or other bits),
   at most SMIMECERT_FILE_MAX bytes, a key then certificates. */
int smimecert_load(struct smimecert *c, const char *path, struct buf *why);
void smimecert_free(struct smimecert *c);

/* The checks above, for target (a normalised address or domain, see
   smimereg.h; 0: no target check) at time now. */
int smimecert_check(const struct smimecert *c, const char *target, long long now,
                    struct buf *why);
/* Is the certificate valid at now?  0 yes, 1 no (why). */
int smimecert_valid(const struct smimecert *c, long long now, struct buf *why);
/* What the tables record of it.  0 or -1 ENOMEM. */
int smimecert_info(const struct smimecert *c, struct smimecert_info *i);
/* The credential file's text: key (PKCS#8), certificate, chain.  0 or -1. */
int smimecert_pem(const struct smimecert *c, struct buf *out);
#endif
