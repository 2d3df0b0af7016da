// The exponential half of a softmax over one row of scores, vectorised: what attention spends its
// non-matmul time on. Inputs must be finite (masked scores are written as -1e30, not -inf).
#pragma once

#include <span>

namespace folio::engine::kernels {

// x[i] = exp(x[i] - max(x)); returns {max, sum of the new x}. n > 0.
struct ExpSum {
  float max;
  float sum;
};
ExpSum exp_minus_max(float* x, int n);

// log(softmax(x)[index]) = x[index] - max - log(sum of exp(x - max)), over n finite values.
float log_softmax_at(const float* x, int n, int index);
// Greedy decoding's choice in each of `rows` rows of logits (`vocab` apart): the first largest logit among
// the tokens not `excluded` (sorted ids: the end tokens of a fixed-length replay) and its log-probability
// over the whole row, vectorised and the rows spread over the team. A decode step asks it of every
// question's row: libm's exp over 49k logits took 0.32 ms a row, a third of ten questions' step.
void greedy_tokens(const float* logits, int rows, int vocab, int* token, float* logprob,
                   std::span<const int> excluded = {});
// The same for one row.
void greedy_token(const float* logits, int vocab, std::span<const int> excluded, int* token, float* logprob);

}  // namespace folio::engine::kernels
