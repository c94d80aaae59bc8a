/* dmarcorg.c: the Organizational Domain by the Public Suffix List
   (see dmarcorg.h).  libpsl does the list; this file checks the name,
   picks the list and lowercases the answer.  No output, no environment. */
#include <errno.h>
#include <string.h>
#include <libpsl.h>
#include "dmarcorg.h"

int dmarcorg_domain(const char *domain, struct buf *out)
{
  char name[DMARCORG_DOMAIN_MAX + 1];
  size_t n = strlen(domain), i;
  psl_ctx_t *latest;
  const psl_ctx_t *psl;
  const char *reg;
  int r;
  if (n && domain[n - 1] == '.') n--;
  if (n == 0 || n > DMARCORG_DOMAIN_MAX) return errno = EINVAL, -1;
  for (i = 0; i < n; i++) {
    char c = domain[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')
        || (c == '.' && (i == 0 || name[i - 1] == '.')))
      return errno = EINVAL, -1;
    name[i] = c;
  }
  name[n] = 0;
  /* The newer of the built-in list and the distribution's file; the
     built-in one alone if the file cannot be read. */
  latest = psl_latest(0);
  psl = latest ? latest : psl_builtin();
  if (!psl) return errno = ENOMEM, -1;
  reg = psl_registrable_domain(psl, name);
  if (!reg) r = 1;
  else r = buf_set(out, reg, strlen(reg));
  psl_free(latest);
  return r;
}
