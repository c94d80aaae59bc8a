/* verp.c: VERP envelope senders authenticated by an HMAC (see verp.h).
   HMAC-SHA256 and the random secret come from OpenSSL; the base32 here is
   twelve letters of lower-case RFC 4648 alphabet, too small to need a
   library.  Returns 0/-1 with errno, never exits. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "addr.h"
#include "io.h"
#include "spool.h"
#include "verp.h"

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

static int hexval(int c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int verp_key_load(struct verp_key *key, const char *path)
{
  struct buf b = BUF_ZERO;
  size_t i, n;
  int r = -1;
  if (file_read(path, &b, 4096) == -1) goto out;
  n = b.len;
  while (n > 0 && (b.s[n - 1] == '\n' || b.s[n - 1] == '\r' || b.s[n - 1] == ' ')) n--;
  if (n < 32 || n > 2 * VERP_KEY_MAX || n % 2) { errno = EINVAL; goto out; }
  for (i = 0; i < n; i += 2) {
    int hi = hexval((unsigned char)b.s[i]), lo = hexval((unsigned char)b.s[i + 1]);
    if (hi < 0 || lo < 0) { errno = EINVAL; goto out; }
    key->k[i / 2] = (unsigned char)(hi * 16 + lo);
  }
  key->n = n / 2;
  r = 0;
out:
  if (b.s) OPENSSL_cleanse(b.s, b.cap);
  buf_free(&b);
  return r;
}

int verp_key_create(const char *path)
{
  unsigned char k[VERP_KEY_LEN];
  char hex[2 * VERP_KEY_LEN + 1];
  size_t i;
  int r;
  if (access(path, F_OK) == 0) return 1;
  if (errno != ENOENT) return -1;
  if (RAND_bytes(k, sizeof k) != 1) return errno = EIO, -1;
  for (i = 0; i < sizeof k; i++) {
    hex[2 * i] = "0123456789abcdef"[k[i] >> 4];
    hex[2 * i + 1] = "0123456789abcdef"[k[i] & 15];
  }
  hex[2 * sizeof k] = '\n';
  r = file_write_atomic(path, hex, sizeof hex, 0600);
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(hex, sizeof hex);
  return r == -1 ? -1 : 0;
}

int verp_mac(const struct verp_key *key, const char *id, const char *rcpt, char *mac)
{
  struct buf in = BUF_ZERO;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  unsigned long long bits = 0;
  size_t i;
  int r = -1;
  if (!key->n) return errno = EINVAL, -1;
  if (buf_addz(&in, "cmc-verp1") == -1 || buf_addz(&in, id) == -1 || addr_key(&in, rcpt) == -1)
    goto out;
  if (!HMAC(EVP_sha256(), key->k, (int)key->n, (const unsigned char *)in.s, in.len, md, &mdlen)
      || mdlen < 8) {
    errno = EIO;
    goto out;
  }
  for (i = 0; i < 8; i++) bits = (bits << 8) | md[i];
  /* The top 60 bits, five at a time. */
  for (i = 0; i < VERP_MAC_LEN; i++) mac[i] = b32[(bits >> (59 - 5 * i)) & 31];
  mac[VERP_MAC_LEN] = 0;
  r = 0;
out:
  buf_free(&in);
  return r;
}

int verp_make(struct buf *out, const struct verp_key *key, const char *id,
              const char *rcpt, const char *domain)
{
  char mac[VERP_MAC_LEN + 1];
  size_t i, n = strlen(id);
  if (!spool_id_ok(id) || !*domain) return errno = EINVAL, -1;
  if (verp_mac(key, id, rcpt, mac) == -1) return -1;
  if (buf_adds(out, "b-") == -1) return -1;
  for (i = 0; i < n; i++)
    if (buf_addc(out, (char)(id[i] >= 'A' && id[i] <= 'F' ? id[i] - 'A' + 'a' : id[i])) == -1)
      return -1;
  return buf_printf(out, "-%s@%s", mac, domain);
}

int verp_parse(const char *addr, char *id, char *mac, const char **domain)
{
  const char *p = addr, *at = strrchr(addr, '@'), *dash;
  size_t n, i;
  if (!at || at[1] == 0) return errno = EINVAL, -1;
  if ((p[0] != 'b' && p[0] != 'B') || p[1] != '-') return errno = EINVAL, -1;
  p += 2;
  dash = memchr(p, '-', (size_t)(at - p));
  if (!dash) return errno = EINVAL, -1;
  n = (size_t)(dash - p);
  if (n == 0 || n > VERP_ID_MAX) return errno = EINVAL, -1;
  for (i = 0; i < n; i++) {
    char c = p[i];
    if (c >= 'a' && c <= 'f') c = (char)(c - 'a' + 'A');
    id[i] = c;
  }
  id[n] = 0;
  if (!spool_id_ok(id)) return errno = EINVAL, -1;
  p = dash + 1;
  if ((size_t)(at - p) != VERP_MAC_LEN) return errno = EINVAL, -1;
  for (i = 0; i < VERP_MAC_LEN; i++) {
    char c = p[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (!memchr(b32, c, 32) || c == 0) return errno = EINVAL, -1;
    mac[i] = c;
  }
  mac[VERP_MAC_LEN] = 0;
  *domain = at + 1;
  return 0;
}

int verp_check(const struct verp_key *key, const char *id, const char *rcpt, const char *mac)
{
  char want[VERP_MAC_LEN + 1];
  if (strlen(mac) != VERP_MAC_LEN || verp_mac(key, id, rcpt, want) == -1) return 0;
  return CRYPTO_memcmp(want, mac, VERP_MAC_LEN) == 0;
}
