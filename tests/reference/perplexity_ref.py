"""Independent perplexity reference (NumPy float64) for `tandem perplexity`.

Usage:
  /usr/bin/python3 tests/reference/perplexity_ref.py MODEL.gguf --tokens 5,9,13,... \
      --window W [--bos ID]

Implements the protocol documented in src/cli/cmd_perplexity.cc: the token
stream is cut into consecutive, non-overlapping spans of W-1 tokens (W when
there is no BOS); each span is evaluated after a BOS token and every token of
the span is scored given the tokens before it. Prints the perplexity
exp(mean negative log-likelihood) with full precision.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_ref import LlamaRef  # noqa: E402


def perplexity(model, tokens, window, bos):
    span = window - 1 if bos >= 0 else window
    nll, scored = 0.0, 0
    for begin in range(0, len(tokens), span):
        chunk = ([bos] if bos >= 0 else []) + tokens[begin:begin + span]
        if len(chunk) < 2:
            break
        logits = model.forward(chunk)  # (n, vocab) float64
        for i in range(len(chunk) - 1):
            row = logits[i]
            mx = row.max()
            logz = mx + np.log(np.exp(row - mx).sum())
            nll -= row[chunk[i + 1]] - logz
            scored += 1
    return float(np.exp(nll / scored))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("--window", type=int, required=True)
    ap.add_argument("--bos", type=int, default=-1)
    a = ap.parse_args()
    tokens = [int(t) for t in a.tokens.split(",") if t]
    print(repr(perplexity(LlamaRef.from_gguf(a.model), tokens, a.window, a.bos)))


if __name__ == "__main__":
    main()
