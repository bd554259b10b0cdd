/* Fused fp32 CPU kernels for the trainer's memory-bound layers (train/kernels/cpu_kernels.py builds and
 * loads this file; train/model/transformer.py calls it in eager mode on a CPU).
 *
 * Why: in eager PyTorch each of these layers is several passes over memory (RMSNorm's backward
 * alone is about ten ops), and on a CPU those passes, not the matmuls, are what an eager step
 * can still save. Each function here is one pass per row, parallel over rows with the OpenMP
 * runtime PyTorch already loaded. All arrays are contiguous and row-major; `threads` is
 * torch.get_num_threads(). Results depend only on the inputs and the thread count.
 */
#include <math.h>
#include <stdint.h>
#include <omp.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#ifdef XIULIAN_VECTOR_EXPF
/* glibc's vector expf (libmvec), so the exp loops vectorise without -ffast-math. */
float expf(float) __attribute__((simd("notinbranch")));
#endif

/* bfloat16 <-> float: the top half of a float's bits; rounded to nearest even, as torch does. */
static inline float bf16_to_float(uint16_t h) {
    const uint32_t u = (uint32_t)h << 16;
    float f;
    __builtin_memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t float_to_bf16(float f) {
    uint32_t u;
    __builtin_memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

/* g[j] = exp(row[j] - l) * w, row and g fp32 or (bf16 != 0) bfloat16. With AVX-512 the aligned
 * middle goes out as streaming stores: the (tokens, vocab) gradient is far bigger than any
 * cache, and a plain store would first read every line it writes (3 ms of a 10 ms fp32 loss on
 * the benchmark model). */
static inline void scaled_softmax_row(const void *row, int bf16, float l, float w, int64_t v, void *g) {
    const float *xf = row;
    const uint16_t *xh = row;
    float *gf = g;
    uint16_t *gh = g;
    int64_t j = 0;
#define VALUE(k) (expf((bf16 ? bf16_to_float(xh[k]) : xf[k]) - l) * w)
#define STORE(k, y) do { if (bf16) gh[k] = float_to_bf16(y); else gf[k] = (y); } while (0)
#ifdef __AVX512F__
    for (; j < v && ((uintptr_t)(bf16 ? (void *)(gh + j) : (void *)(gf + j)) & 63); j++) STORE(j, VALUE(j));
    float block[16] __attribute__((aligned(64)));
    uint16_t half[32] __attribute__((aligned(64)));
    for (const int64_t line = bf16 ? 32 : 16; j + line <= v; j += line) {  /* 64 bytes a store */
        if (bf16) {
            #pragma omp simd
            for (int k = 0; k < 32; k++) half[k] = float_to_bf16(VALUE(j + k));
            _mm512_stream_si512((void *)(gh + j), _mm512_load_si512(half));
        } else {
            #pragma omp simd
            for (int k = 0; k < 16; k++) block[k] = VALUE(j + k);
            _mm512_stream_ps(gf + j, _mm512_load_ps(block));
        }
    }
    _mm_sfence();  /* the streamed stores land before the caller's read-modify-write */
#endif
    for (; j < v; j++) STORE(j, VALUE(j));
#undef VALUE
#undef STORE
}

/* Cross-entropy over rows of (n, v) logits, fp32 or (bf16 != 0) bfloat16: each row's
 * log-sum-exp and, unless grad is NULL, its gradient (softmax(row) - one_hot(target)) * w[row]
 * (w = 0 skips a row) in the logits' dtype, written while the row is still in cache rather
 * than in a second pass over all the logits in backward. */
void cross_entropy(const void *logits, int bf16, const int64_t *target, const float *w, int64_t n,
                   int64_t v, float *lse, void *grad, int threads) {
    const int64_t size = bf16 ? 2 : 4;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float *xf = (const float *)((const char *)logits + i * v * size);
        const uint16_t *xh = (const uint16_t *)xf;
        float m = -INFINITY, s = 0.f;
        if (bf16) {
            #pragma omp simd reduction(max:m)
            for (int64_t j = 0; j < v; j++) m = bf16_to_float(xh[j]) > m ? bf16_to_float(xh[j]) : m;
            #pragma omp simd reduction(+:s)
            for (int64_t j = 0; j < v; j++) s += expf(bf16_to_float(xh[j]) - m);
        } else {
            #pragma omp simd reduction(max:m)
            for (int64_t j = 0; j < v; j++) m = xf[j] > m ? xf[j] : m;
            #pragma omp simd reduction(+:s)
            for (int64_t j = 0; j < v; j++) s += expf(xf[j] - m);
        }
        const float l = lse[i] = m + logf(s);
        if (grad) {
            void *g = (char *)grad + i * v * size;
            scaled_softmax_row(xf, (int)bf16, l, w[i], v, g);
            const int64_t t = target[i];
            const float p = expf((bf16 ? bf16_to_float(xh[t]) : xf[t]) - l);
            if (bf16) ((uint16_t *)g)[t] = float_to_bf16((p - 1.f) * w[i]);
            else ((float *)g)[t] = (p - 1.f) * w[i];
        }
    }
}

/* RMSNorm, forward: y = x * rstd * weight, rstd = 1 / sqrt(mean(x^2) + eps), kept per row. */
void rms_norm(const float *x, const float *weight, int64_t n, int64_t d, float eps,
              float *y, float *rstd, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * d;
        float *yi = y + i * d, ss = 0.f;
        #pragma omp simd reduction(+:ss)
        for (int64_t j = 0; j < d; j++) ss += xi[j] * xi[j];
        const float r = 1.f / sqrtf(ss / (float)d + eps);
        rstd[i] = r;
        #pragma omp simd
        for (int64_t j = 0; j < d; j++) yi[j] = xi[j] * r * weight[j];
    }
}

/* RMSNorm, backward: gx = rstd * (gy*w - xhat * mean(gy*w*xhat)); each thread sums its rows'
 * gy * xhat into its own row of gw_partial (threads, d), which the caller adds up. */
void rms_norm_grad(const float *gy, const float *x, const float *weight, const float *rstd,
                   int64_t n, int64_t d, float *gx, float *gw_partial, int threads) {
    #pragma omp parallel num_threads(threads)
    {
        float *gw = gw_partial + (int64_t)omp_get_thread_num() * d;
        for (int64_t j = 0; j < d; j++) gw[j] = 0.f;
        #pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            const float *gyi = gy + i * d, *xi = x + i * d;
            float *gxi = gx + i * d, dot = 0.f;
            const float r = rstd[i];
            #pragma omp simd reduction(+:dot)
            for (int64_t j = 0; j < d; j++) {
                dot += gyi[j] * weight[j] * xi[j];
                gw[j] += gyi[j] * xi[j] * r;
            }
            const float c = dot * r * r / (float)d;
            #pragma omp simd
            for (int64_t j = 0; j < d; j++) gxi[j] = r * (gyi[j] * weight[j] - xi[j] * c);
        }
    }
}

/* SwiGLU, forward: y = silu(gate) * up over n elements. */
void swiglu(const float *gate, const float *up, int64_t n, float *y, int threads) {
    #pragma omp parallel for simd num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) y[i] = gate[i] / (1.f + expf(-gate[i])) * up[i];
}

/* SwiGLU, backward: d up = gy * silu(gate), d gate = gy * up * s * (1 + gate * (1 - s)). */
void swiglu_grad(const float *gy, const float *gate, const float *up, int64_t n,
                 float *ggate, float *gup, int threads) {
    #pragma omp parallel for simd num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float s = 1.f / (1.f + expf(-gate[i]));
        gup[i] = gy[i] * gate[i] * s;
        ggate[i] = gy[i] * up[i] * s * (1.f + gate[i] * (1.f - s));
    }
}

/* Rotary embedding on one head: y[i] = x[i] * cos[i] + x[i + half mod hd] * signed_sin[i]
 * (HF's rotate-half layout; train/model/transformer.py's sin table has its first half negated). With
 * `inverse` it applies the transpose, which is the backward: y[i] = x[i] * cos[i]
 * + x[j] * signed_sin[j], j = i + half mod hd. */
static inline void rotate(const float *x, const float *cos, const float *ssin, int64_t hd,
                          int inverse, float *y) {
    const int64_t half = hd / 2;
    for (int64_t i = 0; i < hd; i++) {
        const int64_t j = i < half ? i + half : i - half;
        y[i] = x[i] * cos[i] + x[j] * (inverse ? ssin[j] : ssin[i]);
    }
}

/* Queries, keys and values from the fused projection's output (rows, h + 2 kv, hd), rows =
 * batch * t: q (rows, h, hd) and k (rows, kv, hd) rotated for position row % t, v copied. */
void rotary_split(const float *qkv, int64_t rows, int64_t t, int64_t h, int64_t kv, int64_t hd,
                  const float *cos, const float *ssin, float *q, float *k, float *v, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *x = qkv + r * (h + 2 * kv) * hd;
        const float *c = cos + (r % t) * hd, *s = ssin + (r % t) * hd;
        for (int64_t head = 0; head < h; head++) rotate(x + head * hd, c, s, hd, 0, q + (r * h + head) * hd);
        for (int64_t head = 0; head < kv; head++) rotate(x + (h + head) * hd, c, s, hd, 0, k + (r * kv + head) * hd);
        for (int64_t j = 0; j < kv * hd; j++) v[r * kv * hd + j] = x[(h + kv) * hd + j];
    }
}

/* Backward of rotary_split: one gradient (rows, h + 2 kv, hd) from those of q, k and v. */
void rotary_split_grad(const float *gq, const float *gk, const float *gv, int64_t rows, int64_t t,
                       int64_t h, int64_t kv, int64_t hd, const float *cos, const float *ssin,
                       float *gqkv, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        float *g = gqkv + r * (h + 2 * kv) * hd;
        const float *c = cos + (r % t) * hd, *s = ssin + (r % t) * hd;
        for (int64_t head = 0; head < h; head++) rotate(gq + (r * h + head) * hd, c, s, hd, 1, g + head * hd);
        for (int64_t head = 0; head < kv; head++) rotate(gk + (r * kv + head) * hd, c, s, hd, 1, g + (h + head) * hd);
        for (int64_t j = 0; j < kv * hd; j++) g[(h + kv) * hd + j] = gv[r * kv * hd + j];
    }
}
