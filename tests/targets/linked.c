/*
 * linked.c - a program linked against libgmr.so on purpose (no LD_PRELOAD).
 *
 * Prints "ready <pid> secure=<AT_SECURE>" and waits; the integration tests
 * make a setuid copy of it to check that secure-execution mode ignores
 * every GMR_* variable.
 */
#include <stdio.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
    struct timespec tick = {0, 10 * 1000 * 1000};
    int i;

    printf("ready %d secure=%lu\n", (int)getpid(), getauxval(AT_SECURE));
    fflush(stdout);
    for (i = 0; i < 3000; i++)
        nanosleep(&tick, NULL);
    return 0;
}
