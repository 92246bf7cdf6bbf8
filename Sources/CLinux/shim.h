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
