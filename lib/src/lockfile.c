/* lockfile.c - see lockfile.h. */
#include "lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* flock with `how`; EINTR retried. */
static int lock_fd(int fd, int how)
{
    int rc;
    while ((rc = flock(fd, how)) != 0 && errno == EINTR)
        ;
    return rc;
}

int eoc__lock_take(eoc__lock_t *l, const char *dir, int exclusive, char *errstr,
                   size_t errstr_size)
{
    char path[PATH_MAX];
    int how = exclusive ? LOCK_EX | LOCK_NB : LOCK_SH;

    l->dir_fd = l->file_fd = -1;
    if ((l->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(errstr, errstr_size, "%s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "%s/worker.lock", dir);
    if ((l->file_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        eoc__lock_release(l);
        return -1;
    }
    /* The directory first: every process of this version meets there. */
    if (lock_fd(l->dir_fd, how) != 0 || lock_fd(l->file_fd, how) != 0) {
        snprintf(errstr, errstr_size,
                 errno == EWOULDBLOCK ? "%s: a worker has this store open; stop it first"
                                      : "%s: cannot lock: %s",
                 dir, strerror(errno));
        eoc__lock_release(l);
        return -1;
    }
    return 0;
}

void eoc__lock_release(eoc__lock_t *l)
{
    if (l->file_fd >= 0)
        close(l->file_fd);
    if (l->dir_fd >= 0)
        close(l->dir_fd);
    l->dir_fd = l->file_fd = -1;
}
