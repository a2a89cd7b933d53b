/*
 * The store's guard against a tool opening a running worker's store, end to
 * end: a worker's store is open, someone deletes worker.lock, and
 * eoc_store_admin_open must still refuse.
 *
 * EXPECTED TO FAIL until store.c takes its lock with lockfile.c (meson:
 * should_fail): today store.c flocks worker.lock alone, and a deleted file
 * lets a fresh one be locked. When the lead wires lockfile.c into store.c,
 * this passes and meson reports an unexpected pass: remove should_fail.
 */
#include "store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

static void test_deleting_worker_lock_does_not_open_a_running_workers_store(void **state)
{
    (void)state;
    char dir[64], path[128], err[256], cmd[128];
    snprintf(dir, sizeof(dir), "/tmp/eoc-store-lock-XXXXXX");
    assert_non_null(mkdtemp(dir));
    eoc__store_t *s = NULL;
    assert_int_equal(eoc__store_open(dir, 0, 0, NULL, &s, err, sizeof(err)), EOC_OK);
    snprintf(path, sizeof(path), "%s/worker.lock", dir);
    assert_int_equal(unlink(path), 0);
    eoc_store_admin_t *a = eoc_store_admin_open(dir, err, sizeof(err));
    int refused = a == NULL;
    eoc_store_admin_close(a);
    eoc__store_close(s);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    assert_true(refused);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deleting_worker_lock_does_not_open_a_running_workers_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
