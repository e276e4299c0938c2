/*
 * The init of `./x bench --net`: the HTTP server of examples/http-server, on Linux, for the
 * load generator to measure beside Spindle's under the same QEMU. Built by the host runner
 * with `gcc -static -O2 -pthread`, packed into an initramfs with the virtio modules it
 * loads, and booted as /init.
 *
 * What it serves is examples/http-server's: `GET /` -> 200 `hello from spindle\n`;
 * `GET /bytes/N` -> 200 with N bytes, byte i being i % 251; any other path -> 404; a
 * request that is not HTTP (or is larger than a request buffer) -> 400 and the connection
 * closed. HTTP/1.1 keeps the connection unless the request says `Connection: close`;
 * HTTP/1.0 closes it unless the request says `Connection: keep-alive` (what `ab` sends
 * without -k: it then reads until the server closes).
 *
 * How: one worker thread per online CPU, pinned to it, each with its own listening socket
 * on port 80 (SO_REUSEPORT: the kernel spreads new connections over them) and its own
 * epoll instance, level-triggered, non-blocking sockets, TCP_NODELAY (Spindle's stack
 * turns Nagle off too). A worker never blocks except in epoll_wait, and no state is
 * shared between workers: the usual shape of a fast Linux server (nginx with reuseport).
 *
 * Before serving it loads the modules the cloud kernel has virtio-net in (virtio_pci and
 * virtio_net are modules there, not built in), in dependency order, then gives eth0
 * QEMU's user-network address 10.0.2.15/24 and brings it up. It prints `linux-release
 * <uname -r>`, then `net-ready` once every worker listens, or `bench-error <what>` and
 * powers off if anything fails. It serves until QEMU is stopped.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <termios.h>
#include <unistd.h>

/* The modules in the initramfs root, each after those it depends on. */
static const char *const MODULES[] = {
    "virtio_ring.ko",           "virtio.ko",    "virtio_pci_modern_dev.ko",
    "virtio_pci_legacy_dev.ko", "virtio_pci.ko", "failover.ko",
    "net_failover.ko",          "virtio_net.ko",
};

#define INTERFACE "eth0"
#define ADDRESS "10.0.2.15"
#define NETMASK "255.255.255.0"
#define PORT 80
/* How long the interface may take to appear after virtio_net loads: 100 x 10 ms. */
#define INTERFACE_TRIES 100

/* A request (line and headers) must fit in one buffer; a larger one gets 400. */
#define REQUEST_MAX 4096
/* The largest /bytes/N served (larger: 400). */
#define BYTES_MAX (1ul << 30)
/* The body of /bytes/N is cut from this: 64 periods of the 251-byte pattern. */
#define PATTERN_PERIOD 251
#define PATTERN_SIZE (PATTERN_PERIOD * 64)
#define EVENTS 64

static char pattern[PATTERN_SIZE];

static void die(const char *what) {
    printf("bench-error %s (errno %d: %s)\n", what, errno, strerror(errno));
    fflush(stdout);
    tcdrain(STDOUT_FILENO);
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}

static void load_modules(void) {
    for (size_t i = 0; i < sizeof MODULES / sizeof MODULES[0]; i++) {
        int fd = open(MODULES[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            die(MODULES[i]);
        if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST)
            die(MODULES[i]);
        close(fd);
    }
}

static void set_address(int fd, unsigned long request, const char *address) {
    struct ifreq ifr = {0};
    strncpy(ifr.ifr_name, INTERFACE, IFNAMSIZ - 1);
    struct sockaddr_in *in = (struct sockaddr_in *)&ifr.ifr_addr;
    in->sin_family = AF_INET;
    inet_pton(AF_INET, address, &in->sin_addr);
    if (ioctl(fd, request, &ifr) != 0)
        die("cannot set the address of " INTERFACE);
}

/* 10.0.2.15/24 on eth0, up. QEMU's gateway 10.0.2.2, where forwarded connections come
 * from, is on that subnet: no route to add. */
static void configure_interface(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    struct ifreq ifr = {0};
    strncpy(ifr.ifr_name, INTERFACE, IFNAMSIZ - 1);
    int tries = 0;
    while (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
        if (++tries == INTERFACE_TRIES)
            die("no " INTERFACE " after loading virtio_net");
        usleep(10000);
    }
    set_address(fd, SIOCSIFADDR, ADDRESS);
    set_address(fd, SIOCSIFNETMASK, NETMASK);
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
        die("cannot bring " INTERFACE " up");
    close(fd);
}

static int listener(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        die("listening socket");
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, 1024) != 0)
        die("cannot listen on port 80");
    return fd;
}

/* One connection: the request bytes not handled yet, and the response being sent (a
 * header, then `body_left` bytes of the pattern from `body_sent`). */
struct connection {
    int fd;
    size_t have;
    char request[REQUEST_MAX];
    char header[160];
    size_t header_len, header_sent;
    size_t body_sent, body_left;
    const char *body; /* a fixed body, or NULL for the pattern */
    int close_after;
    int waiting; /* what epoll watches for: 1 to read, 2 to write */
};

static const char HELLO[] = "hello from spindle\n";
static const char NOT_FOUND[] = "not found\n";
static const char BAD_REQUEST[] = "bad request\n";

static void respond(struct connection *c, int status, const char *body, size_t length,
                    int close_after) {
    const char *reason = status == 200 ? "OK" : status == 404 ? "Not Found" : "Bad Request";
    c->header_len = (size_t)snprintf(
        c->header, sizeof c->header,
        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n", status, reason,
        body ? "text/plain" : "application/octet-stream", length,
        close_after ? "Connection: close\r\n" : "");
    c->header_sent = 0;
    c->body = body;
    c->body_sent = 0;
    c->body_left = length;
    c->close_after = close_after;
}

/* Whether the headers (between the request line and the blank line) say `Connection:
 * <value>`. */
static int connection_is(const char *headers, const char *value) {
    for (const char *line = headers; line && *line; line = strstr(line, "\r\n")) {
        line += line[0] == '\r' ? 2 : 0;
        if (strncasecmp(line, "connection:", 11) == 0) {
            const char *at = line + 11;
            while (*at == ' ' || *at == '\t')
                at++;
            return strncasecmp(at, value, strlen(value)) == 0;
        }
    }
    return 0;
}

/* Answers the request that ends at `end` (its blank line included), which it cuts into
 * strings; returns 0 for a request that is not HTTP. */
static int handle(struct connection *c, char *end) {
    end[-2] = '\0'; /* the request as one string, ending with the last header's CRLF */
    char *path_start = c->request + 4;
    char *path_end = strchr(path_start, ' ');
    if (strncmp(c->request, "GET /", 5) != 0 || !path_end)
        return 0;
    if (strncmp(path_end, " HTTP/1.", 8) != 0 || (path_end[8] != '0' && path_end[8] != '1') ||
        path_end[9] != '\r')
        return 0;
    int close_after = path_end[8] == '1' ? connection_is(path_end + 11, "close")
                                 : !connection_is(path_end + 11, "keep-alive");
    *path_end = '\0';
    if (strcmp(path_start, "/") == 0) {
        respond(c, 200, HELLO, sizeof HELLO - 1, close_after);
    } else if (strncmp(path_start, "/bytes/", 7) == 0) {
        char *digits = path_start + 7, *stop;
        errno = 0;
        unsigned long n = strtoul(digits, &stop, 10);
        if (*digits < '0' || *digits > '9' || *stop || errno || n > BYTES_MAX)
            return 0;
        respond(c, 200, NULL, n, close_after);
    } else {
        respond(c, 404, NOT_FOUND, sizeof NOT_FOUND - 1, close_after);
    }
    return 1;
}

/* Sends what it can of the response; returns 1 when it is all sent, 0 when the socket is
 * full, -1 when the peer is gone. */
static int send_response(struct connection *c) {
    while (c->header_sent < c->header_len || c->body_left > 0) {
        const char *data;
        size_t length;
        if (c->header_sent < c->header_len) {
            data = c->header + c->header_sent;
            length = c->header_len - c->header_sent;
        } else if (c->body) {
            data = c->body + c->body_sent;
            length = c->body_left;
        } else {
            size_t offset = c->body_sent % PATTERN_PERIOD;
            data = pattern + offset;
            length = PATTERN_SIZE - offset;
            length = length < c->body_left ? length : c->body_left;
        }
        ssize_t sent = send(c->fd, data, length, MSG_NOSIGNAL);
        if (sent < 0)
            return errno == EAGAIN ? 0 : -1;
        if (c->header_sent < c->header_len) {
            c->header_sent += (size_t)sent;
        } else {
            c->body_sent += (size_t)sent;
            c->body_left -= (size_t)sent;
        }
    }
    return 1;
}

/* Serves the requests already received, one response at a time; returns 0 when the
 * connection is to be closed, 1 when it waits to read, 2 when it waits to write. */
static int serve(struct connection *c) {
    for (;;) {
        if (c->header_len > 0) {
            int sent = send_response(c);
            if (sent < 0)
                return 0;
            if (sent == 0)
                return 2;
            c->header_len = 0;
            if (c->close_after)
                return 0;
        }
        char *end = memmem(c->request, c->have, "\r\n\r\n", 4);
        if (!end) {
            if (c->have < REQUEST_MAX)
                return 1;
            respond(c, 400, BAD_REQUEST, sizeof BAD_REQUEST - 1, 1);
            c->have = 0;
            continue;
        }
        end += 4;
        size_t used = (size_t)(end - c->request);
        if (!handle(c, end))
            respond(c, 400, BAD_REQUEST, sizeof BAD_REQUEST - 1, 1);
        memmove(c->request, c->request + used, c->have - used);
        c->have -= used;
    }
}

static void update(int epoll, struct connection *c, int state) {
    if (state == 0) {
        close(c->fd); /* also takes it out of the epoll set */
        free(c);
        return;
    }
    if (state == c->waiting)
        return;
    c->waiting = state;
    struct epoll_event event = {.events = state == 2 ? EPOLLOUT : EPOLLIN, .data.ptr = c};
    epoll_ctl(epoll, EPOLL_CTL_MOD, c->fd, &event);
}

static void on_readable(int epoll, struct connection *c) {
    ssize_t got = recv(c->fd, c->request + c->have, REQUEST_MAX - c->have, 0);
    if (got < 0 && errno == EAGAIN)
        return;
    if (got <= 0) {
        update(epoll, c, 0);
        return;
    }
    c->have += (size_t)got;
    update(epoll, c, serve(c));
}

static void accept_all(int epoll, int listening) {
    for (;;) {
        int fd = accept4(listening, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN: none left; anything else: the client gave up */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct connection *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->waiting = 1;
        struct epoll_event event = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) != 0) {
            close(fd);
            free(c);
        }
    }
}

struct worker {
    pthread_t thread;
    int cpu, listening;
};

static void *work(void *argument) {
    struct worker *worker = argument;
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll < 0 || epoll_ctl(epoll, EPOLL_CTL_ADD, worker->listening, &event) != 0)
        die("epoll");
    struct epoll_event events[EVENTS];
    for (;;) {
        int count = epoll_wait(epoll, events, EVENTS, -1);
        for (int i = 0; i < count; i++) {
            struct connection *c = events[i].data.ptr;
            if (!c)
                accept_all(epoll, worker->listening);
            else if (events[i].events & EPOLLIN)
                on_readable(epoll, c);
            else if (events[i].events & EPOLLOUT)
                update(epoll, c, serve(c));
            else
                update(epoll, c, 0);
        }
    }
    return NULL;
}

int main(void) {
    struct utsname name;
    uname(&name);
    printf("linux-release %s\n", name.release);
    fflush(stdout);
    for (size_t i = 0; i < PATTERN_SIZE; i++)
        pattern[i] = (char)(i % PATTERN_PERIOD);
    load_modules();
    configure_interface();
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct worker *workers = calloc((size_t)cpus, sizeof *workers);
    if (!workers)
        die("out of memory");
    /* Every listening socket exists before any worker runs: a connection arriving
     * meanwhile waits in the first one's backlog rather than being refused. */
    for (long i = 0; i < cpus; i++)
        workers[i].listening = listener();
    for (long i = 0; i < cpus; i++) {
        workers[i].cpu = (int)i;
        pthread_attr_t attributes;
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(i, &set);
        pthread_attr_init(&attributes);
        pthread_attr_setaffinity_np(&attributes, sizeof set, &set);
        if (pthread_create(&workers[i].thread, &attributes, work, &workers[i]) != 0)
            die("pthread_create");
    }
    printf("net-ready cpus=%ld\n", cpus);
    fflush(stdout);
    pthread_join(workers[0].thread, NULL);
    return 0;
}
