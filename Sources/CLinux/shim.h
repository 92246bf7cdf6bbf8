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

/* sendmsg(2) of `length` bytes with descriptor `fd` attached (SCM_RIGHTS): how QEMU's QMP
 * `getfd` receives a descriptor. The CMSG macros are not callable from Swift. */
static inline ssize_t dwcp_send_with_descriptor(int socket, const void *bytes, size_t length, int fd) {
    struct iovec iov = { (void *)bytes, length };
    union { char space[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    memset(&control, 0, sizeof control);
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.space;
    message.msg_controllen = sizeof control.space;
    struct cmsghdr *c = CMSG_FIRSTHDR(&message);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(socket, &message, MSG_NOSIGNAL);
}

/* recvmsg(2) of up to `capacity` bytes; a descriptor that came with them (SCM_RIGHTS) is
 * stored in *fd (else -1), close-on-exec. */
static inline ssize_t dwcp_receive_with_descriptor(int socket, void *bytes, size_t capacity, int *fd) {
    struct iovec iov = { bytes, capacity };
    union { char space[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    memset(&control, 0, sizeof control);
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.space;
    message.msg_controllen = sizeof control.space;
    *fd = -1;
    ssize_t n = recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); n >= 0 && c != NULL; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            memcpy(fd, CMSG_DATA(c), sizeof(int));
        }
    }
    return n;
}
