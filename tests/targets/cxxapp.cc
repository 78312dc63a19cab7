/*
 * cxxapp.cc - a C++ program for the frame-naming tests (issue 12).
 *
 * Each thread parks several calls deep in code whose names must be
 * demangled, then blocks reading a pipe nobody writes to:
 *
 *   "worker"    app::Worker::run() -> app::Worker::depth(int), three deep
 *   "template"  app::Queue<long>::wait_pop() -> a function template,
 *               int app::relay<std::vector<int>, 3>(std::vector<int>&)
 *   "inlined"   app::Server::serve(int), into which app::Cache::lookup(int)
 *               and, inside it, app::Cache::probe(int) are inlined
 *   "anon"      (anonymous namespace)::hidden(int), started by std::thread
 *   "rust"      a function named as rustc's legacy mangling names one,
 *               _ZN7threads4main17h0123456789abcdefE (threads::main)
 *
 * and each ends in app::park(char const*). Prints "ready <pid>" once
 * every thread is parked.
 *
 * With --title it first sets its process title as nginx and PostgreSQL
 * do: TITLE over argv[0], the rest of the argument area cleared, so that
 * /proc/PID/cmdline is the title and a run of NULs. SIGTERM ends it
 * through exit, so that valgrind sees it end.
 */
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#define TITLE "cxxapp-parked"

#define NOINLINE __attribute__((noinline, noclone))
/* Keeps calls from becoming jumps, so every function keeps its frame. */
#define KEEP_FRAME() __asm__ volatile("" ::: "memory")

static std::atomic<int> parked;
static int pipe_fds[2];
static volatile int sink;
static volatile sig_atomic_t stop;

namespace app
{

static NOINLINE void park(const char *why)
{
    char c;

    sink = why[0];
    parked++;
    for (;;) {
        if (read(pipe_fds[0], &c, 1) < 0 && errno != EINTR)
            abort();
        KEEP_FRAME();
    }
}

class Worker
{
  public:
    explicit Worker(int id) : id_(id)
    {
    }
    NOINLINE int depth(int n);
    NOINLINE void run();

  private:
    int id_;
};

int Worker::depth(int n)
{
    if (n > 0)
        sink = depth(n - 1) + id_;
    else
        park("worker");
    KEEP_FRAME();
    return sink;
}

void Worker::run()
{
    depth(2);
    KEEP_FRAME();
}

template <typename T, int N> NOINLINE int relay(T &items)
{
    sink = (int)items.size() + N;
    park("template");
    KEEP_FRAME();
    return sink;
}

template <typename T> class Queue
{
  public:
    NOINLINE T wait_pop()
    {
        std::vector<int> items(4);
        relay<std::vector<int>, 3>(items);
        KEEP_FRAME();
        return (T)sink;
    }
};

struct Cache {
    int base;

    __attribute__((always_inline)) inline int probe(int key)
    {
        sink = key + base;
        park("inlined");
        KEEP_FRAME();
        return sink;
    }
    __attribute__((always_inline)) inline int lookup(int key)
    {
        int r = probe(key * 2);
        KEEP_FRAME();
        return r + 1;
    }
};

class Server
{
  public:
    NOINLINE int serve(int key)
    {
        Cache cache = {key};
        int r = cache.lookup(key);
        KEEP_FRAME();
        return r;
    }
};

} // namespace app

namespace
{

NOINLINE void hidden(int n)
{
    sink = n;
    app::park("anon");
    KEEP_FRAME();
}

} // namespace

/* What rustc's legacy mangling calls threads::main (its hash dropped). */
extern "C++" void rust_main() __asm__("_ZN7threads4main17h0123456789abcdefE");
NOINLINE void rust_main()
{
    app::park("rust");
    KEEP_FRAME();
}

static void *worker_thread(void *)
{
    pthread_setname_np(pthread_self(), "worker");
    app::Worker(7).run();
    return nullptr;
}

static void *template_thread(void *)
{
    pthread_setname_np(pthread_self(), "template");
    app::Queue<long>().wait_pop();
    return nullptr;
}

static void *inlined_thread(void *)
{
    pthread_setname_np(pthread_self(), "inlined");
    app::Server().serve(5);
    return nullptr;
}

static void *rust_thread(void *)
{
    pthread_setname_np(pthread_self(), "rust");
    rust_main();
    return nullptr;
}

static void start(void *(*fn)(void *))
{
    pthread_t t;

    if (pthread_create(&t, nullptr, fn, nullptr) != 0) {
        perror("pthread_create");
        exit(1);
    }
    pthread_detach(t);
}

static void on_term(int)
{
    stop = 1;
}

static void set_title(int argc, char **argv)
{
    char *start = argv[0], *end = argv[argc - 1] + strlen(argv[argc - 1]);
    size_t n = strlen(TITLE) < (size_t)(end - start) ? strlen(TITLE) : (size_t)(end - start);

    memcpy(start, TITLE, n);
    memset(start + n, 0, (size_t)(end - start) - n);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--title"))
        set_title(argc, argv);
    signal(SIGTERM, on_term);
    if (pipe(pipe_fds) != 0) {
        perror("pipe");
        return 1;
    }
    start(worker_thread);
    start(template_thread);
    start(inlined_thread);
    start(rust_thread);
    std::thread anon([] {
        pthread_setname_np(pthread_self(), "anon");
        hidden(3);
    });
    anon.detach();
    while (parked.load() < 5)
        usleep(1000);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    while (!stop)
        pause();
    return 0;
}
