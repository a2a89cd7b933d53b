/*
 * lockfile - the "a worker has this store open" guard, held by the OS.
 *
 * A worker holds its store's lock shared for its whole life; an
 * administrative tool (eoc replay, a rewind) takes it exclusive and does
 * not wait. The lock is flock(2) on the store DIRECTORY itself, which
 * nobody can delete from under a running worker, and, for processes of
 * earlier versions that lock only the file, on <dir>/worker.lock too. The
 * kernel releases both when the process dies, however it dies. Deleting
 * worker.lock (which earlier let a tool open a running worker's store, as
 * a fresh file got a fresh lock) no longer gets past the guard.
 */
#ifndef EOC_LOCKFILE_H
#define EOC_LOCKFILE_H

#include <stddef.h>

typedef struct eoc__lock {
    int dir_fd;  /* the directory, flock'd; -1 when not held */
    int file_fd; /* <dir>/worker.lock, flock'd; -1 when not held */
} eoc__lock_t;

/**
 * Takes the lock of the store in `dir`: shared (waits while a tool holds it
 * exclusive) or exclusive (fails at once when anyone holds it). Returns 0,
 * or -1 with errstr set ("<dir>: a worker has this store open; stop it
 * first" when held).
 */
int eoc__lock_take(eoc__lock_t *l, const char *dir, int exclusive, char *errstr,
                   size_t errstr_size);

/** Releases what eoc__lock_take took (a no-op on a released lock). */
void eoc__lock_release(eoc__lock_t *l);

#endif
