/* SPDX-License-Identifier: MIT */
/* Child programs as cooperative calls (gevent's examples/processes.py, and communicate).
 *
 * Three `sh -c 'sleep 0.5; echo ...'` run at once, each waited for in a greenlet of its
 * own: the hub runs all three waits together, so the program takes half a second, not
 * one and a half.  Then sort(1) gets the words of the command line (or a default list)
 * on its stdin and its answer is read back with green_process_communicate().
 *
 * Usage: subprocess [WORD...]
 * Prints "job N: hello from N" for N = 0, 1, 2 (in that order: they are joined in order),
 * then "sorted: " and the words in sort(1)'s order.  Exit status 0, or 1 on a failure.
 */
#include <green.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char lines[3][64];

static void *job(void *arg)
{
    int n = (int)(intptr_t)arg;
    char script[64];
    snprintf(script, sizeof script, "sleep 0.5; echo hello from %d", n);
    green_process_opts_t o = GREEN_PROCESS_OPTS_INIT;
    o.out.mode = GREEN_PROCESS_PIPE;
    green_process_t *p = green_process_spawn("sh", (char *[]){"sh", "-c", script, NULL}, NULL, &o);
    char *out = NULL;
    int st = -1;
    if (!p || green_process_communicate(p, NULL, 0, &out, NULL, NULL, NULL, &st, 10) < 0) {
        fprintf(stderr, "subprocess: %s\n", green_last_error());
        free(out);
        green_process_free(p);
        return (void *)1;
    }
    snprintf(lines[n], sizeof lines[n], "%s", out);
    free(out);
    green_process_free(p);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? NULL : (void *)1;
}

static int sort_words(char **words, int n)
{
    static char *defaults[] = {"pear", "apple", "fig", "banana"};
    if (n == 0) {
        words = defaults;
        n = 4;
    }
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += strlen(words[i]) + 1;
    char *in = malloc(len + 1), *at = in;
    for (int i = 0; i < n; i++)
        at += sprintf(at, "%s\n", words[i]);
    green_process_opts_t o = GREEN_PROCESS_OPTS_INIT;
    o.in.mode = o.out.mode = GREEN_PROCESS_PIPE;
    char *env[] = {"LC_ALL=C", NULL}; /* byte order, whatever the caller's locale */
    green_process_t *p = green_process_spawn("sort", (char *[]){"sort", NULL}, env, &o);
    char *out = NULL;
    int st = -1;
    int rc = p ? green_process_communicate(p, in, len, &out, NULL, NULL, NULL, &st, 10) : -1;
    if (rc < 0)
        fprintf(stderr, "subprocess: %s\n", green_last_error());
    else {
        for (char *c = out; *c; c++)
            if (*c == '\n')
                *c = c[1] ? ' ' : '\0';
        printf("sorted: %s\n", out);
    }
    free(out);
    free(in);
    green_process_free(p);
    return rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    green_t *g[3];
    for (int i = 0; i < 3; i++)
        g[i] = green_spawn(job, (void *)(intptr_t)i, NULL);
    int rc = 0;
    for (int i = 0; i < 3; i++) {
        void *failed = (void *)1;
        if (!g[i] || green_join(g[i], GREEN_FOREVER, &failed) != 0 || failed)
            rc = 1;
        else
            printf("job %d: %s", i, lines[i]);
        green_release(g[i]);
    }
    rc |= sort_words(argv + 1, argc - 1);
    green_hub_shutdown();
    return rc;
}
