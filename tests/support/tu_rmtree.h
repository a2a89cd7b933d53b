/*
 * tu_rmtree - removes a test's temporary directory and everything in it.
 * Header-only, like tu_clock.h: the unit tests use it without linking any
 * support file.
 */
#ifndef EOC_TEST_TU_RMTREE_H
#define EOC_TEST_TU_RMTREE_H

#include <ftw.h>
#include <stdio.h>

static inline int tu_rmtree_entry(const char *path, const struct stat *sb, int type,
                                  struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

/** 0 when `dir` and all below it are gone (deepest first, links not followed). */
static inline int tu_rmtree(const char *dir)
{
    return nftw(dir, tu_rmtree_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
