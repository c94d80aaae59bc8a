/* home.c: paths under the installation root (see home.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "home.h"

int home_path(char *out, size_t n, const char *root, const char *sub)
{
  int r = snprintf(out, n, "%s/%s", root, sub);
  if (r < 0 || (size_t)r >= n) return errno = ENAMETOOLONG, -1;
  return 0;
}

int home_bin(char *out, size_t n, const char *bindir, const char *name)
{
  char exe[4096];
  char *slash;
  ssize_t r;
  if (bindir && *bindir) return home_path(out, n, bindir, name);
  r = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (r == -1) return -1;
  exe[r] = 0;
  slash = strrchr(exe, '/');
  if (!slash) return errno = ENOENT, -1;
  *slash = 0;
  return home_path(out, n, exe, name);
}
