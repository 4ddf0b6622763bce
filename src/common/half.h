/* fp16 (IEEE binary16) and bf16 <-> fp32, rounding to nearest even.
 * Inf stays Inf, NaN stays NaN (made quiet, sign and top payload bits kept),
 * subnormals are exact both ways, overflow rounds to Inf. */
#ifndef TPF_COMMON_HALF_H
#define TPF_COMMON_HALF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tpfuse.h"

float tpf_f16_to_f32(uint16_t h);
uint16_t tpf_f32_to_f16(float f);

static inline float tpf_bf16_to_f32(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

static inline uint16_t tpf_f32_to_bf16(float f) {
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x0040u);
  bits += 0x7fffu + ((bits >> 16) & 1u); /* ties go to the even neighbour */
  return (uint16_t)(bits >> 16);
}

/* Bytes of one element. */
static inline size_t tpf_dtype_size(tpf_dtype_t t) { return t == TPF_FLOAT32 ? 4 : 2; }

/* "fp16", "bf16", "fp32" (or "dtype(N)" for a value that is not a dtype). */
const char *tpf_dtype_name(tpf_dtype_t t);

/* Element i of a typed array as fp32. */
static inline float tpf_load_f32(const void *p, tpf_dtype_t t, size_t i) {
  switch (t) {
  case TPF_FLOAT16: return tpf_f16_to_f32(((const uint16_t *)p)[i]);
  case TPF_BFLOAT16: return tpf_bf16_to_f32(((const uint16_t *)p)[i]);
  default: return ((const float *)p)[i];
  }
}

/* Rounds v once to t and stores it as element i. */
static inline void tpf_store_f32(void *p, tpf_dtype_t t, size_t i, float v) {
  switch (t) {
  case TPF_FLOAT16: ((uint16_t *)p)[i] = tpf_f32_to_f16(v); break;
  case TPF_BFLOAT16: ((uint16_t *)p)[i] = tpf_f32_to_bf16(v); break;
  default: ((float *)p)[i] = v; break;
  }
}

/* n elements of src (dtype t) into fp32 dst. */
void tpf_convert_to_f32(float *dst, const void *src, tpf_dtype_t t, size_t n);

#endif
