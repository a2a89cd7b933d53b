/*
 * devkafka - spawn and drive eoc-kafka-dev from tests. See devkafka.h.
 */
#include "devkafka.h"
#include "tu_clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_MS 10000 /* for the bootstrap line */
#define STOP_TIMEOUT_MS  10000 /* after SIGTERM, before SIGKILL */
#define REPLY_TIMEOUT_S  60    /* for one command's reply */
#define CONTROL_NAME     "control.sock"

struct devkafka {
    pid_t pid;          /* the child; 0 once reaped */
    char *dir;          /* owned: the temp dir */
    char *control_path; /* owned: dir/control.sock */
    char *bootstraps;   /* owned: the bootstrap line */
    char *real;         /* owned: EOC_TEST_KAFKA=real, the launcher; else NULL */
};

/* A malloc'd printf result, or NULL. */
static char *vformat(const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    char *s;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || !(s = malloc((size_t)n + 1)))
        return NULL;
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static char *
format(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = vformat(fmt, ap);
    va_end(ap);
    return s;
}

/* Creates the temp dir and the paths in it. */
static int make_dir(devkafka_t *dk, char *errstr, size_t errstr_size)
{
    const char *tmp = getenv("TMPDIR");

    dk->dir = format("%s/eoc-devkafka-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!dk->dir || !mkdtemp(dk->dir)) {
        snprintf(errstr, errstr_size, "mkdtemp: %s", dk->dir ? strerror(errno) : "out of memory");
        free(dk->dir);
        dk->dir = NULL;
        return -1;
    }
    dk->control_path = format("%s/%s", dk->dir, CONTROL_NAME);
    if (!dk->control_path) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    return 0;
}

/* The child's argv (pointers into the arguments; free only the array). */
static char **build_argv(const devkafka_t *dk, const char *exe, const char *brokers,
                         const char *const *topics)
{
    size_t ntopics = 0, i = 0;
    char **argv;

    while (topics && topics[ntopics])
        ntopics++;
    argv = calloc(8 + 2 * ntopics, sizeof(*argv));
    if (!argv)
        return NULL;
    argv[i++] = (char *)exe;
    argv[i++] = "--brokers";
    argv[i++] = (char *)brokers;
    for (size_t t = 0; t < ntopics; t++) {
        argv[i++] = "--topic";
        argv[i++] = (char *)topics[t];
    }
    argv[i++] = "--control";
    argv[i++] = dk->control_path;
    argv[i++] = "--quiet";
    argv[i] = NULL;
    return argv;
}

/* Makes `from` the child's fd `to` (kept across exec). Async-signal-safe. */
static int move_fd(int from, int to)
{
    if (from == to)
        return fcntl(to, F_SETFD, 0);
    return dup2(from, to) < 0 ? -1 : 0;
}

/*
 * In the forked child: only async-signal-safe calls until execv(). Stops with
 * the parent thread, starts with no blocked signals, stdin /dev/null, stdout
 * the pipe.
 */
static void exec_child(char **argv, pid_t parent, int devnull, int out)
{
    sigset_t none;

    sigemptyset(&none);
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        _exit(127);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (move_fd(devnull, STDIN_FILENO) != 0 || move_fd(out, STDOUT_FILENO) != 0)
        _exit(127);
    execv(argv[0], argv);
    _exit(127);
}

/* Forks and execs; returns the read end of the child's stdout pipe or -1. */
static int spawn(devkafka_t *dk, char **argv, char *errstr, size_t errstr_size)
{
    pid_t parent = getpid();
    int pipefd[2];
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

    if (devnull < 0 || pipe2(pipefd, O_CLOEXEC) != 0) {
        snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
        if (devnull >= 0)
            close(devnull);
        return -1;
    }
    dk->pid = fork();
    if (dk->pid == 0)
        exec_child(argv, parent, devnull, pipefd[1]);
    close(devnull);
    close(pipefd[1]);
    if (dk->pid < 0) {
        snprintf(errstr, errstr_size, "fork: %s", strerror(errno));
        dk->pid = 0;
        close(pipefd[0]);
        return -1;
    }
    return pipefd[0];
}

/* Reads the child's first stdout line, within START_TIMEOUT_MS, into dk->bootstraps. */
static int read_bootstraps(devkafka_t *dk, int fd, char *errstr, size_t errstr_size)
{
    char line[4096];
    size_t len = 0;
    int64_t deadline = tu_now_ms() + START_TIMEOUT_MS;

    while (len + 1 < sizeof(line)) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - tu_now_ms();
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
            snprintf(errstr, errstr_size, "no bootstrap line within %d ms", START_TIMEOUT_MS);
            return -1;
        }
        n = read(fd, line + len, sizeof(line) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(errstr, errstr_size, "eoc-kafka-dev exited before printing its bootstraps");
            return -1;
        }
        len += (size_t)n;
        line[len] = '\0';
        if (strchr(line, '\n')) {
            *strchr(line, '\n') = '\0';
            dk->bootstraps = strdup(line);
            if (!dk->bootstraps)
                snprintf(errstr, errstr_size, "out of memory");
            return dk->bootstraps ? 0 : -1;
        }
    }
    snprintf(errstr, errstr_size, "bootstrap line too long");
    return -1;
}

/*
 * EOC_TEST_KAFKA=real: an Apache Kafka cluster of `brokers` nodes in dk->dir,
 * started by scripts/real-kafka.sh (under EOC_SOURCE_ROOT), with the topics
 * created; it goes down in devkafka_stop, or when this process exits (the
 * launcher's --owner watch). No control socket: devkafka_cmd fails.
 */
static int real_start(devkafka_t *dk, int brokers, const char *const *topics, char *errstr,
                      size_t errstr_size)
{
    char line[4096], last[4096] = "";
    char *cmd = format("'%s' up --brokers %d --dir '%s/kafka' --owner %d 2>>'%s/launcher.log'",
                       dk->real, brokers, dk->dir, (int)getpid(), dk->dir);
    FILE *f = cmd ? popen(cmd, "r") : NULL;
    int st;

    free(cmd);
    while (f && fgets(line, sizeof(line), f))
        memcpy(last, line, sizeof(last));
    st = f ? pclose(f) : -1;
    last[strcspn(last, "\n")] = '\0';
    if (st != 0 || !*last) {
        snprintf(errstr, errstr_size, "%s up failed (see %s/launcher.log)", dk->real, dk->dir);
        return -1;
    }
    if (!(dk->bootstraps = strdup(last))) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    if (!topics || !topics[0])
        return 0;
    cmd = format("'%s' topic --dir '%s/kafka'", dk->real, dk->dir);
    for (size_t i = 0; cmd && topics[i]; i++) {
        char *more = format("%s '%s'", cmd, topics[i]);
        free(cmd);
        cmd = more;
    }
    char *full = cmd ? format("%s >>'%s/launcher.log' 2>&1", cmd, dk->dir) : NULL;
    free(cmd);
    st = full ? system(full) : -1;
    free(full);
    if (st != 0) {
        snprintf(errstr, errstr_size, "creating the topics failed (see %s/launcher.log)", dk->dir);
        return -1;
    }
    return 0;
}

devkafka_t *devkafka_start(const char *exe, int brokers, const char *const *topics, char *errstr,
                           size_t errstr_size)
{
    devkafka_t *dk = calloc(1, sizeof(*dk));
    char nbrokers[16];
    char **argv = NULL;
    int out = -1;

    if (!dk) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    const char *mode = getenv("EOC_TEST_KAFKA"), *src = getenv("EOC_SOURCE_ROOT");
    if (mode && strcmp(mode, "real") == 0) {
        dk->real = format("%s/scripts/real-kafka.sh", src && *src ? src : ".");
        if (!dk->real || make_dir(dk, errstr, errstr_size) != 0 ||
            real_start(dk, brokers, topics, errstr, errstr_size) != 0) {
            devkafka_stop(dk);
            return NULL;
        }
        return dk;
    }
    if (!exe) {
        snprintf(errstr, errstr_size, "no eoc-kafka-dev path (is EOC_KAFKA_DEV set?)");
        goto fail;
    }
    snprintf(nbrokers, sizeof(nbrokers), "%d", brokers);
    if (make_dir(dk, errstr, errstr_size) != 0)
        goto fail;
    argv = build_argv(dk, exe, nbrokers, topics);
    if (!argv) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    out = spawn(dk, argv, errstr, errstr_size);
    if (out < 0 || read_bootstraps(dk, out, errstr, errstr_size) != 0)
        goto fail;
    /* Nothing else is read from the child's stdout; it ignores EPIPE. */
    close(out);
    free(argv);
    return dk;
fail:
    if (out >= 0)
        close(out);
    free(argv);
    devkafka_stop(dk);
    return NULL;
}

const char *devkafka_bootstraps(const devkafka_t *dk)
{
    return dk->bootstraps;
}

const char *devkafka_control_path(const devkafka_t *dk)
{
    return dk->control_path;
}

/* Connects to the control socket; -1 with errno set. */
static int connect_control(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = REPLY_TIMEOUT_S};
    int fd;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int e = errno;

        close(fd);
        errno = e;
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Reads one reply line; copies what fits into reply (NUL-terminated when
 * reply_size > 0). Returns 1 for an "ok" reply, 0 for another one, -1 when
 * the connection ended or failed before a newline.
 */
static int read_reply(int fd, char *reply, size_t reply_size)
{
    char head[3] = {0}; /* the first bytes, whatever fits in reply */
    size_t len = 0;
    char c;

    for (;;) {
        ssize_t n = read(fd, &c, 1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        if (c == '\n')
            break;
        if (len < sizeof(head))
            head[len] = c;
        if (len + 1 < reply_size)
            reply[len] = c;
        len++;
    }
    if (reply_size)
        reply[len < reply_size ? len : reply_size - 1] = '\0';
    return head[0] == 'o' && head[1] == 'k' && (head[2] == ' ' || head[2] == '\0');
}

int devkafka_cmd(devkafka_t *dk, char *reply, size_t reply_size, const char *fmt, ...)
{
    va_list ap;
    char *cmd;
    char *line;
    int fd, rc = -1;

    va_start(ap, fmt);
    cmd = vformat(fmt, ap);
    va_end(ap);
    line = cmd ? format("%s\n", cmd) : NULL;
    free(cmd);
    if (!line) {
        snprintf(reply, reply_size, "err out of memory");
        return -1;
    }
    fd = connect_control(dk->control_path);
    if (fd < 0) {
        snprintf(reply, reply_size, "err connect %s: %s", dk->control_path, strerror(errno));
    } else if (send_all(fd, line, strlen(line)) != 0) {
        snprintf(reply, reply_size, "err send: %s", strerror(errno));
    } else {
        int r = read_reply(fd, reply, reply_size);

        if (r < 0)
            snprintf(reply, reply_size, "err no reply");
        rc = r == 1 ? 0 : -1;
    }
    if (fd >= 0)
        close(fd);
    free(line);
    return rc;
}

/* Waits up to `timeout_ms` for the child to exit; true once reaped. */
static bool reap(pid_t pid, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;

    for (;;) {
        pid_t r = waitpid(pid, NULL, WNOHANG);

        if (r == pid || (r < 0 && errno != EINTR))
            return true;
        if (tu_now_ms() >= deadline)
            return false;
        tu_sleep_ms(10);
    }
}

void devkafka_stop(devkafka_t *dk)
{
    if (!dk)
        return;
    if (dk->pid > 0) {
        kill(dk->pid, SIGTERM);
        if (!reap(dk->pid, STOP_TIMEOUT_MS)) {
            kill(dk->pid, SIGKILL);
            while (waitpid(dk->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
    }
    if (dk->real && dk->dir) {
        char *cmd = format("'%s' down --dir '%s/kafka' >/dev/null 2>&1; rm -rf '%s'", dk->real,
                           dk->dir, dk->dir);
        if (cmd && system(cmd) != 0)
            fprintf(stderr, "devkafka: could not take down the cluster in %s\n", dk->dir);
        free(cmd);
    }
    /* The child removes its socket on a clean exit, not after SIGKILL. */
    if (dk->control_path)
        unlink(dk->control_path);
    if (dk->dir)
        rmdir(dk->dir);
    free(dk->control_path);
    free(dk->dir);
    free(dk->bootstraps);
    free(dk->real);
    free(dk);
}

const char *devkafka_exe_from_env(void)
{
    const char *exe = getenv("EOC_KAFKA_DEV");

    return exe && *exe ? exe : NULL;
}
