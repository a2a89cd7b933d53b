/* Unit tests of the store lock (lockfile.c): held by the OS for a
 * process's life, not by a file's existence. */
#include "lockfile.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static int setup(void **state)
{
    static char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/eoc-lock-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    *state = dir;
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (char *)*state);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_workers_share_tools_exclude(void **state)
{
    const char *dir = *state;
    char err[256];
    eoc__lock_t w1, w2, tool;
    assert_int_equal(eoc__lock_take(&w1, dir, 0, err, sizeof(err)), 0);
    assert_int_equal(eoc__lock_take(&w2, dir, 0, err, sizeof(err)), 0);
    assert_int_equal(eoc__lock_take(&tool, dir, 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "a worker has this store open; stop it first"));
    eoc__lock_release(&w1);
    eoc__lock_release(&w2);
    eoc__lock_release(&w2); /* twice: a no-op */
    assert_int_equal(eoc__lock_take(&tool, dir, 1, err, sizeof(err)), 0);
    assert_int_equal(eoc__lock_take(&w1, dir, 1, err, sizeof(err)), -1);
    eoc__lock_release(&tool);
}

static void test_deleting_worker_lock_does_not_get_past_the_guard(void **state)
{
    const char *dir = *state;
    char err[256], path[128];
    eoc__lock_t w, tool;
    assert_int_equal(eoc__lock_take(&w, dir, 0, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/worker.lock", dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(eoc__lock_take(&tool, dir, 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "a worker has this store open"));
    eoc__lock_release(&w);
    assert_int_equal(eoc__lock_take(&tool, dir, 1, err, sizeof(err)), 0);
    eoc__lock_release(&tool);
}

static void test_a_dead_worker_holds_nothing(void **state)
{
    const char *dir = *state;
    char err[256];
    int ready[2];
    eoc__lock_t tool;
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        eoc__lock_t w;
        if (eoc__lock_take(&w, dir, 0, err, sizeof(err)) != 0)
            _exit(1);
        (void)!write(ready[1], "x", 1);
        for (;;)
            pause();
    }
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(eoc__lock_take(&tool, dir, 1, err, sizeof(err)), -1);
    kill(pid, SIGKILL); /* no cleanup code runs: the kernel lets go */
    waitpid(pid, NULL, 0);
    assert_int_equal(eoc__lock_take(&tool, dir, 1, err, sizeof(err)), 0);
    eoc__lock_release(&tool);
    close(ready[0]);
    close(ready[1]);
}

static void test_a_worker_of_an_earlier_version_still_counts(void **state)
{
    const char *dir = *state;
    char err[256], path[128];
    eoc__lock_t tool;
    /* earlier versions flock worker.lock only */
    snprintf(path, sizeof(path), "%s/worker.lock", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(flock(fileno(f), LOCK_SH), 0);
    assert_int_equal(eoc__lock_take(&tool, dir, 1, err, sizeof(err)), -1);
    fclose(f);
    assert_int_equal(eoc__lock_take(&tool, dir, 1, err, sizeof(err)), 0);
    eoc__lock_release(&tool);
}

static void test_a_missing_directory_is_an_error(void **state)
{
    (void)state;
    char err[256];
    eoc__lock_t l;
    assert_int_equal(eoc__lock_take(&l, "/nonexistent/eoc-store", 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/eoc-store"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_workers_share_tools_exclude, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleting_worker_lock_does_not_get_past_the_guard,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_dead_worker_holds_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_worker_of_an_earlier_version_still_counts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_missing_directory_is_an_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
