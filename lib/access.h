#ifndef ACCESS_H
#define ACCESS_H
/* access.h: the access snapshot $CMC_HOME/etc/access, as smtp-recv reads
   it: who may relay (tenants' IP ranges, SMTP AUTH users), each
   composition's Received mode and bounce domain.  smtp-recv does not open
   the database: after every change of this data the writer regenerates
   the file atomically (tenant_export_access, tenant.h), and smtp-recv
   loads it once per connection, or again when it changed (-l).
   Format, one record per line, TAB-separated:
     net      TENANT  COMPOSITION  ADDRESS[/PREFIX]   (IPv4 or IPv6)
     user     NAME    TENANT       COMPOSITION  HASH  (crypt(3) hash)
     received TENANT  COMPOSITION  MODE
     bounce   TENANT  COMPOSITION  DOMAIN
   Lines starting with '#' and empty lines are ignored, so are records of
   other types (for later readers). */
#include <sys/stat.h>

#define ACCESS_FILE_MAX (64u << 20)

struct access;
/* Load the snapshot at path into *a (a missing file: an empty snapshot).
   0, or -1 with errno (EINVAL: a malformed or cut file). */
int access_load(struct access **a, const char *path);
void access_free(struct access *a);
/* 1 if stat results was and now are of the same file, unchanged (device,
   inode, size, mtime, ctime): a loaded snapshot is still good; else 0. */
int access_unchanged(const struct stat *was, const struct stat *now);
/* 1 and *tenant, *comp set if ip (text form) is in a tenant's ranges (the
   longest prefix wins); 0 if not. */
int access_by_ip(const struct access *a, const char *ip, const char **tenant, const char **comp);
/* 1 if user exists and password matches its hash; 0 otherwise (constant
   work whether or not the user exists). */
int access_by_user(const struct access *a, const char *user, const char *password,
                   const char **tenant, const char **comp);
/* The Received header mode of tenant/comp (setting "received":
   "abbreviated", "normal", "none", "delete-all"), or 0 when not set. */
const char *access_received(const struct access *a, const char *tenant, const char *comp);
/* The number of compositions whose bounce domain (setting "bounce_domain")
   is domain (case ignored), the first one's names in *tenant, *comp (may
   be 0). */
int access_bounce(const struct access *a, const char *domain, const char **tenant,
                  const char **comp);
#endif
