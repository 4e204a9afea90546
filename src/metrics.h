/* metrics.h - the Prometheus text endpoint (`[stats] metrics_listen`), on the control thread.
 * It serves the text of a render callback (metrics_text.h writes it). */
#ifndef JD_METRICS_H
#define JD_METRICS_H

#include <uv.h>
#include "addr.h"
#include "util.h"

struct metrics;

/* Writes the exposition text into b. */
typedef void (*metrics_render_fn)(struct strbuf *b, void *data);

/* Listen on addr. NULL with the reason in err (address in use...). */
struct metrics *metrics_start(uv_loop_t *loop, const struct addr *listen, metrics_render_fn render,
			      void *data, char *err, size_t errlen);
/* Stop listening; open connections finish or time out. */
void metrics_stop(struct metrics *m);

#endif
