#include "half.h"

#include <stdint.h>
#include <stdio.h>

#include "status.h"

float tpf_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent == 0) {
    /* zero or subnormal: mantissa * 2^-24, exact in fp32 */
    float magnitude = (float)mantissa * 0x1p-24f;
    memcpy(&bits, &magnitude, sizeof bits);
    bits |= sign;
  } else {
    bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  }
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* Shifts q right by `shift` bits, rounding to nearest, ties to even. */
static uint32_t shift_round_even(uint32_t q, unsigned shift) {
  uint32_t kept = q >> shift;
  uint32_t rest = q & ((1u << shift) - 1u);
  uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (kept & 1u))) kept++;
  return kept;
}

uint16_t tpf_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
  uint32_t magnitude = x & 0x7fffffffu;
  if (magnitude > 0x7f800000u) /* NaN: quiet, keep the top payload bits */
    return (uint16_t)(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
  if (magnitude >= 0x477ff000u) /* >= 65520 (or Inf) rounds to Inf */
    return (uint16_t)(sign | 0x7c00u);
  if (magnitude >= 0x38800000u) /* normal in fp16: rebias 127 -> 15, round */
    return (uint16_t)(sign | shift_round_even(magnitude - (112u << 23), 13));
  /* Below 2^-14: an fp16 subnormal, mantissa * 2^(e - 150) / 2^-24 units. */
  uint32_t exponent = magnitude >> 23;
  if (exponent < 102) return sign; /* below 2^-25: rounds to zero */
  uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
  return (uint16_t)(sign | shift_round_even(mantissa, 126u - exponent));
}

const char *tpf_dtype_name(tpf_dtype_t t) {
  switch (t) {
  case TPF_FLOAT16: return "fp16";
  case TPF_BFLOAT16: return "bf16";
  case TPF_FLOAT32: return "fp32";
  }
  static _Thread_local char unknown[24];
  snprintf(unknown, sizeof unknown, "dtype(%d)", (int)t);
  return unknown;
}

void tpf_convert_to_f32(float *dst, const void *src, tpf_dtype_t t, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = tpf_load_f32(src, t, i);
}

static int known_dtype(tpf_dtype_t t) {
  return t == TPF_FLOAT16 || t == TPF_BFLOAT16 || t == TPF_FLOAT32;
}

tpf_status_t tpf_convert(const void *src, tpf_dtype_t src_dtype, void *dst, tpf_dtype_t dst_dtype,
                         size_t n) {
  if (!known_dtype(src_dtype) || !known_dtype(dst_dtype))
    return tpf_fail(TPF_ERR_INVALID, "tpf_convert: dtype %d -> %d: both must be tpf_dtype_t values",
                    (int)src_dtype, (int)dst_dtype);
  if (n == 0) return TPF_OK;
  if (!src || !dst) return tpf_fail(TPF_ERR_INVALID, "tpf_convert: %s is NULL", src ? "dst" : "src");
  if (n > SIZE_MAX / 4) return tpf_fail(TPF_ERR_INVALID, "tpf_convert: n=%zu is too large", n);
  for (size_t i = 0; i < n; i++) tpf_store_f32(dst, dst_dtype, i, tpf_load_f32(src, src_dtype, i));
  return TPF_OK;
}
