/* RoPE on the CPU: the reference semantics, computed in double and rounded once. */
#include "../core/rope.h"
#include "cpu_elem.h"

/* For every token (b, s), every head of q then k: rotate the first R dims, copy the rest.
 * Both halves of a pair are read before either is written, so in place is safe. */
mc_status mc_cpu_rope(const mc_rope_args *a) {
    const int64_t h = a->rot / 2;
    for (int64_t b = 0; b < a->batch; ++b)
        for (int64_t s = 0; s < a->seq; ++s) {
            const int64_t co = b * a->cs[0] + s * a->cs[1], so = b * a->ss[0] + s * a->ss[1];
            for (int ti = 0; ti < 2; ++ti) {
                const mc_rope_tensor *t = &a->t[ti];
                for (int64_t hd = 0; hd < t->heads; ++hd) {
                    const int64_t xo = b * t->xs[0] + hd * t->xs[1] + s * t->xs[2];
                    const int64_t yo = b * t->ys[0] + hd * t->ys[1] + s * t->ys[2];
                    for (int64_t j = 0; j < h; ++j) {
                        double c1 = mc_cpu_ld(a->cos, a->cdtype, co + j), c2 = mc_cpu_ld(a->cos, a->cdtype, co + j + h);
                        double s1 = mc_cpu_ld(a->sin, a->cdtype, so + j), s2 = mc_cpu_ld(a->sin, a->cdtype, so + j + h);
                        double x1 = mc_cpu_ld(t->x, a->dtype, xo + j), x2 = mc_cpu_ld(t->x, a->dtype, xo + j + h);
                        /* inverse: the transpose, y1 = x1 c1 + x2 s2, y2 = x2 c2 - x1 s1 */
                        double sa = a->inverse ? -s2 : s1, sb = a->inverse ? -s1 : s2;
                        double y1 = x1 * c1 - x2 * sa, y2 = x2 * c2 + x1 * sb;
                        mc_cpu_st(t->y, a->dtype, yo + j, y1);
                        mc_cpu_st(t->y, a->dtype, yo + j + h, y2);
                    }
                    if (t->y != t->x || xo != yo)
                        for (int64_t j = a->rot; j < a->dim; ++j)
                            mc_cpu_st(t->y, a->dtype, yo + j, mc_cpu_ld(t->x, a->dtype, xo + j));
                }
            }
        }
    return MC_STATUS_SUCCESS;
}
