#include <rdma/rsocket.h>
#include <infiniband/verbs.h>
