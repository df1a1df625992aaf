/* SPDX-License-Identifier: MIT */
/* getaddrinfo of a name only a slow name server knows, proving the thread runs on while
 * glibc's resolver waits for it.  The server is a thread of this test answering on
 * 127.0.0.1:53 after 0.3 s; glibc is pointed at it without touching the system: a child
 * process gets mount and network namespaces of its own (as root directly, otherwise
 * inside a user namespace), brings its loopback up and bind-mounts a resolv.conf of ours
 * over /etc/resolv.conf there — nothing outside the child sees either.  Where namespaces
 * are refused (a container without CAP_SYS_ADMIN and no user namespaces) the test skips
 * and says so. */
#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "patch_util.h"

#define NAME "slow.green.test"
#define DELAY 0.3
#define NO_NAMESPACES 77

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Namespaces of the child's own, its loopback up.  Returns 0, or -1 (say why). */
static int isolate(void)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWNS | CLONE_NEWNET) != 0) {
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET) != 0) {
            fprintf(stderr, "no mount and network namespaces: %s\n", strerror(errno));
            return -1;
        }
        char map[64];
        snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
        if (write_file("/proc/self/setgroups", "deny") != 0 ||
            write_file("/proc/self/uid_map", map) != 0)
            return -1;
        snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
        if (write_file("/proc/self/gid_map", map) != 0)
            return -1;
    }
    /* Private first: our bind mount must not propagate to the system's namespace. */
    if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0) {
        fprintf(stderr, "cannot make / private: %s\n", strerror(errno));
        return -1;
    }
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
        return -1;
    ifr.ifr_flags |= IFF_UP;
    int rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    close(s);
    return rc;
}

static int point_resolver(const char *dir)
{
    char conf[300];
    snprintf(conf, sizeof conf, "%s/resolv.conf", dir);
    if (write_file(conf, "nameserver 127.0.0.1\noptions timeout:5 attempts:1\n") != 0)
        return -1;
    if (mount(conf, "/etc/resolv.conf", "none", MS_BIND, NULL) != 0) {
        fprintf(stderr, "cannot bind-mount resolv.conf: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- the slow name server ------------------------------------------------------------------ */

static int dns_fd;

/* One answer: an A record 10.1.2.3 for NAME, none for anything else (NOERROR). */
static size_t answer(unsigned char *m, size_t n)
{
    if (n < 12)
        return 0;
    size_t q = 12;
    while (q < n && m[q])
        q += (size_t)m[q] + 1;
    if (q + 5 > n)
        return 0;
    unsigned qtype = (unsigned)m[q + 1] << 8 | m[q + 2];
    char name[256] = {0};
    for (size_t i = 12, o = 0; i < q && o < sizeof name - 2; i += (size_t)m[i] + 1) {
        if (o)
            name[o++] = '.';
        for (unsigned j = 1; j <= m[i] && o < sizeof name - 1; j++)
            name[o++] = (char)m[i + j];
    }
    size_t end = q + 5;
    bool ours = strcasecmp(name, NAME) == 0 && qtype == 1;
    m[2] = 0x81; /* response, recursion desired */
    m[3] = 0x80; /* recursion available, NOERROR */
    m[4] = 0, m[5] = 1;
    m[6] = 0, m[7] = ours;
    memset(m + 8, 0, 4);
    if (!ours)
        return end;
    const unsigned char rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3};
    memcpy(m + end, rr, sizeof rr);
    return end + sizeof rr;
}

static void *serve_dns(void *arg)
{
    (void)arg;
    for (;;) {
        unsigned char m[512 + 16];
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(dns_fd, m, 512, 0, (struct sockaddr *)&from, &len);
        if (n < 0)
            return NULL;
        struct timespec d = {0, (long)(DELAY * 1e9)};
        nanosleep(&d, NULL); /* a thread without a hub: this blocks only this thread */
        size_t out = answer(m, (size_t)n);
        if (out)
            sendto(dns_fd, m, out, 0, (struct sockaddr *)&from, len);
    }
}

/* ---- the child --------------------------------------------------------------------------------
 */

static int in_child(const char *dir)
{
    if (isolate() != 0 || point_resolver(dir) != 0)
        return NO_NAMESPACES;
    dns_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(53)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (dns_fd < 0 || bind(dns_fd, (struct sockaddr *)&a, sizeof a) != 0) {
        fprintf(stderr, "cannot bind 127.0.0.1:53: %s\n", strerror(errno));
        return NO_NAMESPACES;
    }
    pthread_t th;
    if (pthread_create(&th, NULL, serve_dns, NULL) != 0)
        return 2;
    struct ticker t;
    ticker_start(&t);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    double t0 = monotonic_seconds();
    int rc = getaddrinfo(NAME, "80", &hints, &res);
    double took = monotonic_seconds() - t0;
    long ticks = ticker_stop(&t);
    green_hub_shutdown();
    if (rc != 0) {
        fprintf(stderr, "getaddrinfo: %s\n", gai_strerror(rc));
        return 3;
    }
    char ip[INET_ADDRSTRLEN] = "";
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, sizeof ip);
    freeaddrinfo(res);
    printf("resolved %s to %s in %.3f s; the ticker ran %ld times meanwhile\n", NAME, ip, took,
           ticks);
    fflush(stdout);
    if (strcmp(ip, "10.1.2.3") != 0 || took < DELAY * 0.9)
        return 4;
    /* 2 ms ticks for 0.3 s: ~150 when the thread runs on, 0 or 1 when it blocks */
    return ticks >= 20 ? 0 : 5;
}

static void test_slow_resolver(void **state)
{
    (void)state;
    char dir[] = "/tmp/green-dns-XXXXXX";
    assert_non_null(mkdtemp(dir));
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(in_child(dir));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    char conf[300];
    snprintf(conf, sizeof conf, "%s/resolv.conf", dir);
    unlink(conf);
    rmdir(dir);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == NO_NAMESPACES) {
        print_message("no mount and network namespaces here (the child said why): skipped\n");
        skip();
    }
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_resolver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
