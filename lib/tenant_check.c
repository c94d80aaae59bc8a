/* tenant_check.c: the parts of tenant.h that need no database: names of
   tenants, compositions and SMTP AUTH users, and a password checked
   against its yescrypt hash (libxcrypt).  Linked by the readers of the
   access snapshot (access.c) without the table code of tenant.c. */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>
#include "tenant.h"

#define COMP_MAX TENANT_NAME_MAX
#define USER_MAX 128

/* Verified against when the user is unknown, so that an unknown user
   costs what a known one does.  A hash of no password anyone knows. */
static const char dummy_hash[] =
  "$y$j9T$xp9TWkaA1L1o4VlZ3taod/$6A3wU8hwlDh8BsQf9e972qwmMQ21NarVVcHRrb.7T97";

static int ident_ok(const char *s, size_t max)
{
  size_t i;
  if (!s || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'))) return 0;
  for (i = 0; s[i]; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
          || s[i] == '_' || s[i] == '-'))
      return 0;
  return i <= max;
}

int tenant_name_ok(const char *name)
{
  return ident_ok(name, TENANT_NAME_MAX);
}

int tenant_comp_ok(const char *comp)
{
  return ident_ok(comp, COMP_MAX);
}

int tenant_user_ok(const char *u)
{
  size_t i;
  if (!u || !*u) return 0;
  for (i = 0; u[i]; i++)
    if (!((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= 'A' && u[i] <= 'Z')
          || (u[i] >= '0' && u[i] <= '9') || strchr("._@+=-", u[i])))
      return 0;
  return i <= USER_MAX;
}

/* Constant-time comparison of two C strings of public length. */
static int same(const char *a, const char *b)
{
  size_t n = strlen(a), i;
  unsigned char d = 0;
  if (n != strlen(b)) return 0;
  for (i = 0; i < n; i++) d |= (unsigned char)(a[i] ^ b[i]);
  return d == 0;
}

int tenant_verify(const char *password, const char *hash)
{
  struct crypt_data *cd = calloc(1, sizeof *cd);
  const char *h;
  int r;
  if (!cd) return -1;
  h = crypt_r(password ? password : "", hash ? hash : dummy_hash, cd);
  r = h && h[0] != '*' && hash && same(h, hash);
  explicit_bzero(cd, sizeof *cd);
  free(cd);
  return r;
}
