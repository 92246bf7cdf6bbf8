/* Linux calls that Swift's Glibc module does not import: glibc declares them only under
 * _GNU_SOURCE, and defining that here would give this module its own, conflicting copies of
 * the system types. So the prototype is spelled out (as in <bits/fcntl-linux.h>); the call is
 * in libc, nothing to link. */
#include <stddef.h>
#include <sys/types.h>

extern ssize_t splice(int fd_in, __off64_t *off_in, int fd_out, __off64_t *off_out, size_t len, unsigned int flags);

enum { DWCP_SPLICE_F_MOVE = 1, DWCP_SPLICE_F_MORE = 4 };

/* splice(2) between two descriptors at their current offsets (one of them a pipe). */
static inline ssize_t dwcp_splice(int in, int out, size_t length, int more) {
    return splice(in, NULL, out, NULL, length, DWCP_SPLICE_F_MOVE | (more ? DWCP_SPLICE_F_MORE : 0));
}

#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* A message of one buffer with room for one descriptor (SCM_RIGHTS), for the two calls below:
 * the CMSG macros are not callable from Swift. */
struct dwcp_descriptor_message {
    struct iovec iov;
    union { char space[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    struct msghdr header;
};

static inline void dwcp_descriptor_message_init(struct dwcp_descriptor_message *m, void *bytes, size_t length) {
    memset(m, 0, sizeof *m);
    m->iov.iov_base = bytes;
    m->iov.iov_len = length;
    m->header.msg_iov = &m->iov;
    m->header.msg_iovlen = 1;
    m->header.msg_control = m->control.space;
    m->header.msg_controllen = sizeof m->control.space;
}

/* sendmsg(2) of `length` bytes with descriptor `fd` attached: how QEMU's QMP `getfd` receives
 * a descriptor. */
static inline ssize_t dwcp_send_with_descriptor(int socket, const void *bytes, size_t length, int fd) {
    struct dwcp_descriptor_message m;
    dwcp_descriptor_message_init(&m, (void *)bytes, length);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m.header);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(socket, &m.header, MSG_NOSIGNAL);
}

/* recvmsg(2) of up to `capacity` bytes; a descriptor that came with them is stored in *fd
 * (else -1), close-on-exec. */
static inline ssize_t dwcp_receive_with_descriptor(int socket, void *bytes, size_t capacity, int *fd) {
    struct dwcp_descriptor_message m;
    dwcp_descriptor_message_init(&m, bytes, capacity);
    *fd = -1;
    ssize_t n = recvmsg(socket, &m.header, MSG_CMSG_CLOEXEC);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m.header); n >= 0 && c != NULL; c = CMSG_NXTHDR(&m.header, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            memcpy(fd, CMSG_DATA(c), sizeof(int));
        }
    }
    return n;
}

#include <sys/vfs.h>

/* lseek(2) whences for sparse files (glibc defines them only under _GNU_SOURCE). */
enum { DWCP_SEEK_DATA = 3, DWCP_SEEK_HOLE = 4 };

/* The magic number of the file system holding `fd` (fstatfs(2) `f_type`), or 0 when unknown:
 * a wrapper because `struct statfs` shares its name with the function, which Swift cannot
 * tell apart. */
static inline unsigned long dwcp_filesystem_type(int fd) {
    struct statfs s;
    return fstatfs(fd, &s) == 0 ? (unsigned long)s.f_type : 0;
}
