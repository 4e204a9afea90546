/* io_udp.h - the UDP client transport: datagrams in with recvmmsg, answers out in sendmmsg
 * batches flushed once per loop iteration, from the address the query came to. It knows
 * nothing of policy or caches: queries go to the pipeline. */
#ifndef JD_IO_UDP_H
#define JD_IO_UDP_H

#include "wstate.h"

/* Start reading w's UDP listener fds (w->udp_fds; closed by the worker at its end). Returns 0
 * or a libuv error. */
int io_udp_open(struct worker *w);
/* Stop reading (a drain): answers still go out. */
void io_udp_drain(struct worker *w);
/* Close the listeners' poll handles (the worker's end). */
void io_udp_close(struct worker *w);
/* Send the answers queued in this loop iteration (sendmmsg batches). */
void io_udp_flush(struct worker *w);

#endif
