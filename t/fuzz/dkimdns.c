/* fuzz/dkimdns: libFuzzer target for dkimdns_compare (lib/dkimdns.c).  The
   input is the text of a TXT record at SELECTOR._domainkey.DOMAIN, as a
   DNS server hands it over.  Traps when a promise of dkimdns.h breaks: the
   outcome is MATCH, MISMATCH with a reason, or ABSENT, and a record built
   from the key itself (white space in p= included) matches. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "buf.h"
#include "dkimdns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
  struct dkimkey k;
  struct buf why = BUF_ZERO;
  char rec[256];
  int rc, i;
  for (i = 0; i < 2; i++) {
    memset(&k, 0, sizeof k);
    k.alg = i ? DKIMKEY_ED25519 : DKIMKEY_RSA;
    snprintf(k.selector, sizeof k.selector, "%s", "s1");
    snprintf(k.domain, sizeof k.domain, "%s", "example.test");
    snprintf(k.pub, sizeof k.pub, "%s", "QUJDRA==");
    buf_trunc(&why, 0);
    rc = dkimdns_compare((const char *)data, n, &k, &why);
    if (rc != DKIMDNS_MATCH && rc != DKIMDNS_MISMATCH && rc != DKIMDNS_ABSENT) __builtin_trap();
    if (rc == DKIMDNS_MISMATCH && !why.len) __builtin_trap();
    /* The record we would publish matches, with or without spaces. */
    snprintf(rec, sizeof rec, "v=DKIM1; k=%s; p=QUJD RA==", i ? "ed25519" : "rsa");
    buf_trunc(&why, 0);
    if (dkimdns_compare(rec, strlen(rec), &k, &why) != DKIMDNS_MATCH) __builtin_trap();
  }
  buf_free(&why);
  return 0;
}
