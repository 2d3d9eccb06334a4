# Adds "prompt_tokens" to a loadgen trace (for `tandem router sim --arrival trace:FILE`):
# each prompt tokenized by `tandem tokenize` line by line (a newline is one byte-fallback
# token of the demo tokenizer), plus BOS.
#   python3 bench/router_trace_tokens.py IN.jsonl OUT.jsonl [TANDEM_BINARY] [MODEL]
import json, subprocess, sys
src, dst = sys.argv[1], sys.argv[2]
binary = sys.argv[3] if len(sys.argv) > 3 else 'build/src/cli/tandem'
model = sys.argv[4] if len(sys.argv) > 4 else 'models/big-q8_0.gguf'
rows = [json.loads(l) for l in open(src) if l.strip()]
pieces = []
for r in rows:
    pieces.append(r['prompt'].split('\n'))
flat = [p for ps in pieces for p in ps]
out = subprocess.run([binary, 'tokenize', '-m', model], input='\n'.join(flat) + '\n', capture_output=True, text=True, check=True).stdout.split('\n')
k = 0
for r, ps in zip(rows, pieces):
    n = 1 + (len(ps) - 1)
    for p in ps:
        n += len(out[k].split()) if p else 0
        k += 1
    r['prompt_tokens'] = n
with open(dst, 'w') as f:
    for r in rows: f.write(json.dumps(r) + '\n')
print(src, 'mean prompt tokens', sum(r['prompt_tokens'] for r in rows) / len(rows))
