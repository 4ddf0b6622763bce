/* fp16 and bf16 conversions, checked on every one of the 65536 bit patterns
 * of each type against references computed independently in double. */
#include <float.h>
#include <math.h>
#include <stdint.h>

#include "../test.h"
#include "common/half.h"

static uint32_t bits_of(float f) {
  uint32_t b;
  memcpy(&b, &f, 4);
  return b;
}
static float float_of(uint32_t b) {
  float f;
  memcpy(&f, &b, 4);
  return f;
}

/* The value of an fp16 pattern, from its definition. */
static double f16_value(uint16_t h) {
  int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
  return sign ? -v : v;
}

static double bf16_value(uint16_t h) { return (double)float_of((uint32_t)h << 16); }

/* The correctly rounded (nearest, ties to even) pattern of x among the
 * finite patterns of a type, with overflow to Inf: `next` walks a type's
 * positive patterns in order; max_finite is the largest; overflow_at is the
 * first magnitude that rounds to Inf. */
static uint16_t round_reference(double x, double (*value)(uint16_t), uint16_t max_finite,
                                double overflow_at) {
  uint16_t sign = signbit(x) ? 0x8000 : 0;
  double a = fabs(x);
  if (a >= overflow_at) return sign | (uint16_t)(max_finite + 1); /* Inf */
  /* binary search for the largest pattern with value <= a */
  uint16_t lo = 0, hi = max_finite;
  while (lo < hi) {
    uint16_t mid = (uint16_t)((lo + hi + 1) / 2);
    if (value(mid) <= a) lo = mid;
    else hi = (uint16_t)(mid - 1);
  }
  if (lo == max_finite) return sign | lo;
  double below = value(lo), above = value((uint16_t)(lo + 1));
  uint16_t pick;
  if (a - below < above - a) pick = lo;
  else if (a - below > above - a) pick = (uint16_t)(lo + 1);
  else pick = (lo & 1) ? (uint16_t)(lo + 1) : lo;
  return sign | pick;
}

static void check_f16_patterns(void) {
  int bad_decode = 0, bad_roundtrip = 0, bad_midpoint = 0, bad_nan = 0;
  for (uint32_t h = 0; h < 65536; h++) {
    float f = tpf_f16_to_f32((uint16_t)h);
    double expect = f16_value((uint16_t)h);
    int is_nan = ((h >> 10) & 31) == 31 && (h & 1023);
    if (is_nan) {
      if (!isnan(f) || !signbit(f) != !(h >> 15)) bad_nan++;
      uint16_t back = tpf_f32_to_f16(f);
      if (((back >> 10) & 31) != 31 || !(back & 1023) || (back & 0x8000) != (h & 0x8000)) bad_nan++;
      if (!(back & 0x200)) bad_nan++; /* quiet */
      continue;
    }
    if ((double)f != expect || !signbit(f) != !signbit(expect)) bad_decode++;
    if (tpf_f32_to_f16(f) != h) bad_roundtrip++;
    /* The midpoint to the next pattern (exact in fp32) rounds to the even one;
     * just above and below it, to the nearer one. */
    uint32_t mag = h & 0x7fff;
    if (mag < 0x7bff) {
      double next = f16_value((uint16_t)(h + 1));
      float mid = (float)((expect + next) / 2);
      uint16_t even = (mag & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
      if (tpf_f32_to_f16(mid) != even) bad_midpoint++;
      float up = nextafterf(mid, (float)next * 2), down = nextafterf(mid, 0.0f);
      if (fabs((double)mid) > 0) {
        if (tpf_f32_to_f16(up) != (uint16_t)(fabs((double)up) > fabs((double)mid) ? h + 1 : h)) bad_midpoint++;
        if (tpf_f32_to_f16(down) != (uint16_t)(fabs((double)down) < fabs((double)mid) ? h : h + 1)) bad_midpoint++;
      }
    }
  }
  CHECK(bad_decode == 0, "%d fp16 patterns decode wrongly", bad_decode);
  CHECK(bad_roundtrip == 0, "%d fp16 patterns do not survive fp16->fp32->fp16", bad_roundtrip);
  CHECK(bad_midpoint == 0, "%d fp16 midpoints round wrongly", bad_midpoint);
  CHECK(bad_nan == 0, "%d fp16 NaN patterns mishandled", bad_nan);
}

static void check_bf16_patterns(void) {
  int bad_decode = 0, bad_roundtrip = 0, bad_midpoint = 0, bad_nan = 0;
  for (uint32_t h = 0; h < 65536; h++) {
    float f = tpf_bf16_to_f32((uint16_t)h);
    if (bits_of(f) != h << 16) bad_decode++;
    int is_nan = ((h >> 7) & 255) == 255 && (h & 127);
    uint16_t back = tpf_f32_to_bf16(f);
    if (is_nan) {
      if (!isnan(tpf_bf16_to_f32(back)) || (back & 0x8000) != (h & 0x8000) || !(back & 0x40)) bad_nan++;
      continue;
    }
    if (back != h) bad_roundtrip++;
    uint32_t mag = h & 0x7fff;
    if (mag < 0x7f7f) { /* below the largest finite */
      uint32_t mid_bits = (h << 16) | 0x8000u; /* exactly halfway to h + 1 */
      uint16_t even = (mag & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
      if (tpf_f32_to_bf16(float_of(mid_bits)) != even) bad_midpoint++;
      if (tpf_f32_to_bf16(float_of(mid_bits + 1)) != (uint16_t)(h + 1)) bad_midpoint++;
      if (tpf_f32_to_bf16(float_of(mid_bits - 1)) != (uint16_t)h) bad_midpoint++;
    }
  }
  CHECK(bad_decode == 0, "%d bf16 patterns decode wrongly", bad_decode);
  CHECK(bad_roundtrip == 0, "%d bf16 patterns do not survive bf16->fp32->bf16", bad_roundtrip);
  CHECK(bad_midpoint == 0, "%d bf16 midpoints round wrongly", bad_midpoint);
  CHECK(bad_nan == 0, "%d bf16 NaN patterns mishandled", bad_nan);
}

/* Random fp32 values of every magnitude against the double reference. */
static void check_random_floats(void) {
  uint64_t state = 12345;
  int bad16 = 0, bad_bf = 0;
  for (int i = 0; i < 2000000; i++) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    float f = float_of((uint32_t)(state >> 32));
    if (isnan(f)) continue;
    uint16_t want16 = round_reference(f, f16_value, 0x7bff, 65520.0);
    if (tpf_f32_to_f16(f) != want16) bad16++;
    /* halfway between the largest finite bf16 and 2^128 */
    uint16_t want_bf = round_reference(f, bf16_value, 0x7f7f, ldexp(1, 128) - ldexp(1, 119));
    if (isinf(f)) want_bf = (uint16_t)(bits_of(f) >> 16);
    if (tpf_f32_to_bf16(f) != want_bf) bad_bf++;
  }
  CHECK(bad16 == 0, "%d random floats round to the wrong fp16", bad16);
  CHECK(bad_bf == 0, "%d random floats round to the wrong bf16", bad_bf);
#ifdef __FLT16_MAX__
  /* and against the compiler's own conversion, where it has one */
  int bad_compiler = 0;
  for (int i = 0; i < 1000000; i++) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    float f = float_of((uint32_t)(state >> 32));
    _Float16 h = (_Float16)f;
    uint16_t hb;
    memcpy(&hb, &h, 2);
    if (!isnan(f) && tpf_f32_to_f16(f) != hb) bad_compiler++;
  }
  CHECK(bad_compiler == 0, "%d floats differ from the compiler's _Float16 conversion", bad_compiler);
#endif
}

static void check_edges(void) {
  CHECK(tpf_f32_to_f16(65504.0f) == 0x7bff, "largest fp16");
  CHECK(tpf_f32_to_f16(65519.99f) == 0x7bff, "just below the overflow threshold");
  CHECK(tpf_f32_to_f16(65520.0f) == 0x7c00, "65520 rounds to Inf");
  CHECK(tpf_f32_to_f16(-INFINITY) == 0xfc00, "-Inf");
  CHECK(tpf_f32_to_f16(0x1p-25f) == 0x0000, "2^-25 ties to zero");
  CHECK(tpf_f32_to_f16(0x1.000002p-25f) == 0x0001, "just above 2^-25 rounds up");
  CHECK(tpf_f32_to_f16(-0.0f) == 0x8000, "-0 keeps its sign");
  CHECK(tpf_f32_to_bf16(FLT_MAX) == 0x7f80, "FLT_MAX rounds to bf16 Inf");
  CHECK(tpf_f32_to_bf16(0x1p-149f) == 0x0000, "the smallest fp32 subnormal rounds to bf16 zero");
  CHECK(tpf_f32_to_bf16(float_of(0x00018000u)) == 0x0002, "subnormal tie goes to even");
  uint16_t h[3];
  float f[3] = {1.5f, -2.0f, 1e9f};
  CHECK_STATUS(tpf_convert(f, TPF_FLOAT32, h, TPF_FLOAT16, 3), TPF_OK);
  CHECK(h[0] == 0x3e00 && h[1] == 0xc000 && h[2] == 0x7c00, "tpf_convert fp32 -> fp16");
  CHECK_STATUS(tpf_convert(f, (tpf_dtype_t)7, h, TPF_FLOAT16, 3), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "dtype") != NULL, "message names the dtype: %s", tpf_last_error());
  CHECK_STATUS(tpf_convert(NULL, TPF_FLOAT32, h, TPF_FLOAT16, 3), TPF_ERR_INVALID);
  CHECK_STATUS(tpf_convert(NULL, TPF_FLOAT32, NULL, TPF_FLOAT16, 0), TPF_OK);
}

int main(void) {
  check_f16_patterns();
  check_bf16_patterns();
  check_random_floats();
  check_edges();
  return test_summary();
}
