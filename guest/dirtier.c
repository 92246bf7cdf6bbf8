/*
 * dirtier: the workload inside the DWCP test guest.
 *
 * Keeps a region of guest RAM changing at a steady rate and checks its own memory, so a
 * migration test can tell a correct migration from one that resumed the guest on wrong memory.
 * Every page's content is a pure function of (page index, generation); the generation of every
 * page is kept in memory too. Each tick the workload rewrites a few pages (verifying each one
 * before it overwrites it) and sweeps a slice of the region, re-deriving and comparing every
 * page. A heartbeat line goes to the console ten times a second:
 *
 *   HB <boot-id> <counter> <mismatches> <sweeps> <dirtied-MiB>
 *
 * The counter must continue without a gap or reset on the destination; mismatches must stay 0.
 *
 * Usage: dirtier REGION_MIB DIRTY_MIB_PER_S [page|line] [SWEEP_SECONDS]
 *
 * SWEEP_SECONDS (default 2.5) is how long one check of the whole region takes: shorter sweeps
 * cost the guest more CPU and let a test see the whole region checked after a switchover sooner.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#define PAGE 4096
#define WORDS (PAGE / 8)

static uint64_t mix(uint64_t x) {
    x ^= x >> 31; x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

/* Write mode: 0 = "page", every write replaces the whole page with fresh content (the worst
 * case for deltas); 1 = "line", a write changes one 64-byte line of an otherwise stable page
 * (counters and headers updated in place, as most programs dirty memory). */
static int line_mode;

/* Half random words, half a repeating pattern: compresses about 2x, like real guest memory.
 * In line mode the page's base content depends on the index only, and the line numbered
 * gen % 64 carries the generation: still a pure function of (index, gen). */
static void fill(uint64_t *page, uint64_t index, uint32_t gen) {
    uint32_t base_gen = line_mode ? 0 : gen;
    uint64_t seed = mix(index * 0x9e3779b97f4a7c15ULL ^ ((uint64_t)base_gen << 40));
    for (int w = 0; w < WORDS / 2; w++) page[w] = mix(seed + (uint64_t)w);
    for (int w = WORDS / 2; w < WORDS; w++) page[w] = index ^ ((uint64_t)base_gen << 32) ^ (uint64_t)(w & 7);
    if (line_mode && gen > 0) {
        uint64_t *line = page + (gen % 64) * 8;
        for (int w = 0; w < 8; w++) line[w] = mix(seed ^ ((uint64_t)gen << 20) ^ (uint64_t)w);
    }
}

static int check(const uint64_t *page, uint64_t index, uint32_t gen) {
    uint64_t expect[WORDS];
    fill(expect, index, gen);
    return memcmp(page, expect, PAGE) != 0;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    uint64_t mib = argc > 1 ? strtoull(argv[1], 0, 10) : 64;
    double rate = argc > 2 ? atof(argv[2]) : 8;
    line_mode = argc > 3 && strcmp(argv[3], "line") == 0;
    double sweep_seconds = argc > 4 ? atof(argv[4]) : 2.5;
    if (!(sweep_seconds >= 0.2)) sweep_seconds = 2.5;
    uint64_t pages = mib * 256;
    uint64_t *mem = aligned_alloc(PAGE, pages * PAGE);
    uint32_t *gen = calloc(pages, sizeof *gen);
    if (!mem || !gen) { printf("dirtier: out of memory\n"); return 1; }
    char boot[64] = "unknown";
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY);
    if (fd >= 0) { ssize_t n = read(fd, boot, sizeof boot - 1); if (n > 8) boot[8] = 0; close(fd); }
    for (uint64_t i = 0; i < pages; i++) fill(mem + i * WORDS, i, 0);
    printf("READY %s %llu MiB, dirtying %.1f MiB/s, %s writes\n", boot, (unsigned long long)mib, rate, line_mode ? "line" : "page");
    fflush(stdout);

    const double tick = 0.1;
    uint64_t counter = 0, mismatches = 0, sweeps = 0, dirtied = 0, sweep_at = 0;
    uint64_t rng = mix((uint64_t)time(0));
    double carry = 0, next = now();
    uint64_t slice = (uint64_t)(pages * tick / sweep_seconds) + 1; /* a full sweep every sweep_seconds */
    for (;;) {
        carry += rate * 256 * tick;
        while (carry >= 1) {
            carry -= 1;
            rng = mix(rng + 1);
            uint64_t i = rng % pages;
            uint64_t *p = mem + i * WORDS;
            if (check(p, i, gen[i])) mismatches++;
            gen[i]++;
            fill(p, i, gen[i]);
            dirtied++;
        }
        for (uint64_t k = 0; k < slice; k++) {
            uint64_t i = sweep_at++;
            if (check(mem + i * WORDS, i, gen[i])) mismatches++;
            if (sweep_at == pages) { sweep_at = 0; sweeps++; break; }
        }
        counter++;
        printf("HB %s %llu %llu %llu %llu\n", boot, (unsigned long long)counter,
               (unsigned long long)mismatches, (unsigned long long)sweeps,
               (unsigned long long)(dirtied / 256));
        fflush(stdout);
        next += tick;
        double wait = next - now();
        if (wait > 0) usleep((useconds_t)(wait * 1e6));
        else next = now();
    }
}
