/*
 * The init of `./x bench --linux`: Spindle's thread benchmarks, measured the same way on
 * Linux. Built by the host runner with `gcc -static -O2 -pthread`, packed alone into an
 * initramfs and booted as /init under the QEMU flags of Spindle's benchmark kernels.
 *
 * It mirrors benches/kernels (lib.rs, threads.rs, smp_latency.rs) on purpose, so that a
 * figure means the same on both sides:
 * - the clock: `lfence; rdtsc` before, `rdtscp; lfence` after; the median cost of an
 *   empty measurement (the overhead) is subtracted from every sample. Under
 *   `-icount shift=0` the TSC advances one tick per guest instruction, kernel and user
 *   alike, so figures are instruction counts;
 * - a recorder with one shared start stamp: a sample starts in one thread and may end in
 *   the other (a switch); the first WARMUP samples are thrown away;
 * - the output: `bench-result name=.. unit=cycles samples=.. min=.. median=.. p99=..
 *   max=.. overhead=..` lines under the Spindle figure names, then `bench-done`.
 *
 * With one CPU it measures thread_yield, block_wake, spawn_join and pipe_ping_pong; with
 * two, the SMP pair smp_thread_wake_same_cpu and smp_thread_wake_cross_cpu. It first
 * prints `linux-release <uname -r>`, and ends by writing to QEMU's isa-debug-exit port
 * (the status Spindle's kernels exit with), or powers off if that port is unreachable.
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <termios.h>
#include <unistd.h>

/* Spindle's counts (benches/kernels/src/lib.rs and smp_latency.rs). */
#define WARMUP 10000
#define SAMPLES 100000
#define SMP_WARMUP 1000
#define SMP_SAMPLES 10000
/* pthread create + join costs ~30x a switch: fewer samples keep the icount boot short. */
#define SPAWN_WARMUP 1000
#define SPAWN_SAMPLES 10000

/* QEMU's isa-debug-exit port and the values Spindle's kernels write to it. */
#define DEBUG_EXIT_PORT 0xf4
#define EXIT_SUCCESS_VALUE 0x10
#define EXIT_FAILURE_VALUE 0x11

static inline uint64_t start(void) {
    uint32_t lo, hi;
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
    return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t end(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtscp; lfence" : "=a"(lo), "=d"(hi)::"rcx", "memory");
    return ((uint64_t)hi << 32) | lo;
}

/* The serial driver sends a write's bytes after write() returns: wait until the UART took
 * the last line, or leaving QEMU now would cut the transcript short. */
static void finish(int ok) {
    fflush(stdout);
    tcdrain(STDOUT_FILENO);
    if (ioperm(DEBUG_EXIT_PORT, 4, 1) == 0)
        outl(ok ? EXIT_SUCCESS_VALUE : EXIT_FAILURE_VALUE, DEBUG_EXIT_PORT);
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}

static void die(const char *what) {
    printf("bench-error %s\n", what);
    finish(0);
}

static int compare(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t overhead(void) {
    static uint64_t samples[10000];
    for (int i = 0; i < 10000; i++) {
        uint64_t begin = start();
        samples[i] = end() - begin;
    }
    qsort(samples, 10000, sizeof samples[0], compare);
    return samples[5000];
}

/* Subtracts the overhead, sorts, prints one line (lib.rs: report, print_figure). */
static void report(const char *name, uint64_t *values, size_t count, uint64_t overhead) {
    for (size_t i = 0; i < count; i++)
        values[i] = values[i] > overhead ? values[i] - overhead : 0;
    qsort(values, count, sizeof values[0], compare);
#define AT(fraction) values[(size_t)((double)(count - 1) * (fraction))]
    printf("bench-result name=%s unit=cycles samples=%zu min=%lu median=%lu p99=%lu max=%lu "
           "overhead=%lu\n",
           name, count, values[0], AT(0.5), AT(0.99), values[count - 1], overhead);
#undef AT
    fflush(stdout);
}

/* lib.rs's Recorder: a preallocated buffer and a shared start stamp. A slot is claimed
 * with one atomic add where Spindle takes a spin lock: both are a few instructions. */
struct recorder {
    uint64_t *samples;
    size_t capacity, warmup;
    atomic_size_t length;
    _Atomic uint64_t started;
};

static void recorder_init(struct recorder *r, size_t warmup, size_t samples) {
    r->capacity = warmup + samples;
    r->warmup = warmup;
    r->samples = calloc(r->capacity, sizeof r->samples[0]);
    if (!r->samples)
        die("out of memory");
    atomic_init(&r->length, 0);
    atomic_init(&r->started, 0);
}

static inline void mark_start(struct recorder *r) {
    atomic_store_explicit(&r->started, start(), memory_order_relaxed);
}

static inline void mark_end(struct recorder *r) {
    uint64_t now = end();
    size_t slot = atomic_fetch_add_explicit(&r->length, 1, memory_order_relaxed);
    if (slot < r->capacity)
        r->samples[slot] = now - atomic_load_explicit(&r->started, memory_order_relaxed);
}

static inline int is_full(struct recorder *r) {
    return atomic_load_explicit(&r->length, memory_order_relaxed) >= r->capacity;
}

static void recorder_report(struct recorder *r, const char *name, uint64_t overhead) {
    report(name, r->samples + r->warmup, r->capacity - r->warmup, overhead);
    free(r->samples);
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
        die("cannot pin a thread");
}

static pthread_t spawn(void *(*body)(void *), void *argument) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, body, argument) != 0)
        die("pthread_create failed");
    return thread;
}

/* ---- thread_yield: two threads pinned to CPU 0 yield to each other; one sample is one
 * switch, from one thread's stamp before sched_yield to the other's return from it. */

static struct recorder yield_recorder;

static void *yield_player(void *unused) {
    (void)unused;
    pin(0);
    while (!is_full(&yield_recorder)) {
        mark_start(&yield_recorder);
        sched_yield();
        mark_end(&yield_recorder);
    }
    return NULL;
}

static void thread_yield(uint64_t overhead) {
    recorder_init(&yield_recorder, WARMUP, SAMPLES);
    pthread_t a = spawn(yield_player, NULL), b = spawn(yield_player, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    recorder_report(&yield_recorder, "thread_yield", overhead);
}

/* ---- park/unpark on a futex word, as Spindle's (and Rust std's) parker: unpark makes a
 * system call only when the thread sleeps; park returns at once if already unparked. */

enum { PARKED = -1, EMPTY = 0, NOTIFIED = 1 };

struct parker {
    atomic_int state;
};

static long futex(atomic_int *word, int op, int value) {
    return syscall(SYS_futex, word, op | FUTEX_PRIVATE_FLAG, value, NULL, NULL, 0);
}

static void park(struct parker *p) {
    if (atomic_fetch_sub(&p->state, 1) == NOTIFIED)
        return;
    for (;;) {
        futex(&p->state, FUTEX_WAIT, PARKED);
        int expected = NOTIFIED;
        if (atomic_compare_exchange_strong(&p->state, &expected, EMPTY))
            return;
    }
}

static void unpark(struct parker *p) {
    if (atomic_exchange(&p->state, NOTIFIED) == PARKED)
        futex(&p->state, FUTEX_WAKE, 1);
}

/* ---- block_wake: threads.rs's block_wake with futexes. One sample is one unpark + park
 * + switch, from the waker's stamp before unpark to the woken thread running. */

struct block_wake {
    struct recorder recorder;
    struct parker first, second;
    atomic_int stop;
    int cpu;
};

static void *block_wake_first(void *argument) {
    struct block_wake *b = argument;
    pin(b->cpu);
    while (!is_full(&b->recorder)) {
        mark_start(&b->recorder);
        unpark(&b->second);
        park(&b->first);
        mark_end(&b->recorder);
    }
    atomic_store(&b->stop, 1);
    unpark(&b->second);
    return NULL;
}

static void *block_wake_second(void *argument) {
    struct block_wake *b = argument;
    pin(b->cpu);
    for (;;) {
        park(&b->second);
        if (atomic_load(&b->stop))
            return NULL;
        mark_end(&b->recorder);
        mark_start(&b->recorder);
        unpark(&b->first);
    }
}

static void block_wake(uint64_t overhead) {
    static struct block_wake b;
    recorder_init(&b.recorder, WARMUP, SAMPLES);
    pthread_t second = spawn(block_wake_second, &b), first = spawn(block_wake_first, &b);
    pthread_join(first, NULL);
    pthread_join(second, NULL);
    recorder_report(&b.recorder, "block_wake", overhead);
}

/* ---- spawn_join: create a thread that returns at once, and join it. */

static void *nothing(void *unused) { return unused; }

static void spawn_join(uint64_t overhead) {
    size_t total = SPAWN_WARMUP + SPAWN_SAMPLES;
    uint64_t *samples = calloc(total, sizeof samples[0]);
    if (!samples)
        die("out of memory");
    for (size_t round = 0; round < total; round++) {
        uint64_t begin = start();
        pthread_join(spawn(nothing, NULL), NULL);
        samples[round] = end() - begin;
    }
    report("spawn_join", samples + SPAWN_WARMUP, SPAWN_SAMPLES, overhead);
    free(samples);
}

/* ---- pipe_ping_pong: block_wake with a byte through a pipe each way instead of a
 * futex: one sample is a write, the reader waking, and the writer blocking in read. */

struct pipes {
    struct recorder recorder;
    int there[2], back[2];
};

static void *pipe_first(void *argument) {
    struct pipes *p = argument;
    char byte = 0;
    pin(0);
    while (!is_full(&p->recorder)) {
        mark_start(&p->recorder);
        if (write(p->there[1], &byte, 1) != 1 || read(p->back[0], &byte, 1) != 1)
            die("pipe failed");
        mark_end(&p->recorder);
    }
    byte = 1;
    if (write(p->there[1], &byte, 1) != 1)
        die("pipe failed");
    return NULL;
}

static void *pipe_second(void *argument) {
    struct pipes *p = argument;
    char byte;
    pin(0);
    for (;;) {
        if (read(p->there[0], &byte, 1) != 1)
            die("pipe failed");
        if (byte)
            return NULL;
        mark_end(&p->recorder);
        mark_start(&p->recorder);
        if (write(p->back[1], &byte, 1) != 1)
            die("pipe failed");
    }
}

static void pipe_ping_pong(uint64_t overhead) {
    static struct pipes p;
    if (pipe(p.there) != 0 || pipe(p.back) != 0)
        die("pipe() failed");
    recorder_init(&p.recorder, WARMUP, SAMPLES);
    pthread_t second = spawn(pipe_second, &p), first = spawn(pipe_first, &p);
    pthread_join(first, NULL);
    pthread_join(second, NULL);
    recorder_report(&p.recorder, "pipe_ping_pong", overhead);
}

/* ---- smp_latency.rs's thread_wake: a turn handed back and forth with unpark/park, both
 * players on CPU 0, then one on CPU 0 and one on CPU 1. One sample is one hand-off, from
 * the waker's stamp before unpark to the woken player's stamp after its park returned. */

struct hand_offs {
    struct recorder recorder;
    struct parker players[2];
    atomic_ulong turn;
};

struct player {
    struct hand_offs *h;
    int me, cpu;
};

static void *hand_off_player(void *argument) {
    struct player *player = argument;
    struct hand_offs *h = player->h;
    int me = player->me, woken = me == 1; /* player 0 starts without being handed it */
    pin(player->cpu);
    for (;;) {
        while (atomic_load(&h->turn) % 2 != (unsigned long)me)
            park(&h->players[me]);
        if (woken)
            mark_end(&h->recorder);
        woken = 1;
        int full = is_full(&h->recorder);
        if (!full)
            mark_start(&h->recorder);
        atomic_fetch_add(&h->turn, 1);
        unpark(&h->players[1 - me]);
        if (full)
            return NULL;
    }
}

static void thread_wake(const char *name, int second_cpu, uint64_t overhead) {
    static struct hand_offs h;
    memset(&h, 0, sizeof h);
    recorder_init(&h.recorder, SMP_WARMUP, SMP_SAMPLES);
    struct player first = {&h, 0, 0}, second = {&h, 1, second_cpu};
    pthread_t a = spawn(hand_off_player, &first), b = spawn(hand_off_player, &second);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    recorder_report(&h.recorder, name, overhead);
}

/* CPUs this process may run on: /sys is not mounted, so no sysconf(_SC_NPROCESSORS_ONLN). */
static int cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        die("sched_getaffinity failed");
    return CPU_COUNT(&set);
}

int main(void) {
    struct utsname name;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (uname(&name) == 0)
        printf("linux-release %s\n", name.release);
    int smp = cpus() >= 2;
    pin(0);
    uint64_t cost = overhead();
    if (smp) {
        thread_wake("smp_thread_wake_same_cpu", 0, cost);
        thread_wake("smp_thread_wake_cross_cpu", 1, cost);
    } else {
        thread_yield(cost);
        block_wake(cost);
        spawn_join(cost);
        pipe_ping_pong(cost);
    }
    printf("bench-done\n");
    finish(1);
}
