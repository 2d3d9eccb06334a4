#!/usr/bin/python3
"""Builds tandem's demo corpus from installed Debian packages.

Each package is one task domain. Documents (a Bible chapter, a fortune, a
jargon entry, a Python doc page, a Perl pod page) are split into train and
held-out by a stable hash of the document's id (crc32 % 20 == 0 -> held out,
about 5 %), so the held-out split is whole documents never trained on.

Output (tools/corpus/out/, gitignored):
  <domain>.train.txt.gz   training documents joined by blank lines
  <domain>.heldout.txt    held-out documents joined by blank lines
  <domain>.eval.txt       first ~EVAL_CHARS of the held-out text (perplexity)
and bench/prompts/<domain>.jsonl: held-out prompts with true continuations.

Usage: tools/corpus/build.py [--no-install]
"""
import base64, gzip, json, os, re, subprocess, sys, zlib, glob

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tools", "corpus", "out")
PROMPTS = os.path.join(ROOT, "bench", "prompts")
CAP = 8_000_000          # characters per domain (train + held-out)
EVAL_CHARS = 50_000      # held-out characters scored by perplexity
N_PROMPTS = 60
PACKAGES = ["bible-kjv", "bible-kjv-text", "fortunes", "fortunes-min", "dict-jargon",
            "python3.11-doc", "perl-doc"]


def install():
    missing = [p for p in PACKAGES
               if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if missing:
        print("installing", " ".join(missing), flush=True)
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "install", "-y", "--no-install-recommends"] + missing,
                       check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def clean(s):
    s = s.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    s = re.sub(r"[ \u00a0]+\n", "\n", s)
    s = re.sub(r"\n{3,}", "\n\n", s)
    return s.strip("\n")


def bible():
    out = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], capture_output=True, text=True,
                         check=True).stdout
    docs, cur, key = [], [], None
    for line in out.splitlines():
        m = re.match(r"^(\w+?)(\d+):(\d+) (.*)$", line)
        if not m:
            continue
        k = m.group(1) + m.group(2)
        if k != key and cur:
            docs.append((key, "\n".join(cur)))
            cur = []
        key = k
        cur.append(m.group(4))
    if cur:
        docs.append((key, "\n".join(cur)))
    return docs


def fortunes():
    docs = []
    for path in sorted(glob.glob("/usr/share/games/fortunes/*")):
        if "." in os.path.basename(path) or os.path.isdir(path):
            continue
        text = open(path, encoding="utf-8", errors="replace").read()
        for i, f in enumerate(text.split("\n%\n")):
            f = clean(f.strip("%\n"))
            if len(f) > 20:
                docs.append((f"{os.path.basename(path)}/{i}", f))
    return docs


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64num(s):
    n = 0
    for c in s:
        n = n * 64 + B64.index(c)
    return n


def jargon():
    data = gzip.open("/usr/share/dictd/jargon.dict.dz").read()
    docs = []
    for line in open("/usr/share/dictd/jargon.index", encoding="utf-8"):
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 3 or parts[0].startswith("00-database") or parts[0].startswith("00database"):
            continue
        off, ln = b64num(parts[1]), b64num(parts[2])
        text = data[off:off + ln].decode("utf-8", errors="replace")
        text = clean(text)
        if len(text) > 40:
            docs.append((parts[0], text))
    seen, uniq = set(), []
    for k, t in docs:
        if t not in seen:
            seen.add(t)
            uniq.append((k, t))
    return uniq


def python_doc():
    base = "/usr/share/doc/python3.11/html/_sources"
    docs = []
    for path in sorted(glob.glob(base + "/**/*.txt", recursive=True)):
        text = clean(open(path, encoding="utf-8", errors="replace").read())
        if len(text) > 200:
            docs.append((os.path.relpath(path, base), text))
    return docs


def perl_doc():
    docs = []
    for path in sorted(glob.glob("/usr/share/perl/5.*/pod/*.pod")):
        r = subprocess.run(["pod2text", "-w", "76", path], capture_output=True, text=True,
                           errors="replace")
        text = clean(r.stdout)
        # one document per top-level (=head1) section: pod2text puts those
        # headings at column 0 and indents everything else
        for i, sec in enumerate(re.split(r"\n\n(?=\S)", text)):
            if len(sec) > 200:
                docs.append((f"{os.path.basename(path)}#{i}", sec))
    return docs


DOMAINS = {"bible": bible, "fortunes": fortunes, "jargon": jargon, "pydoc": python_doc,
           "perldoc": perl_doc}


def held_out(key):
    return zlib.crc32(key.encode()) % 20 == 0


def prompts_from(text, n):
    """n prompts spread evenly over text: each starts at a line start, the prompt
    is ~200 characters ending at a word end, the continuation the next ~280."""
    starts = [m.end() for m in re.finditer(r"\n", text)]
    starts = [0] + [s for s in starts if s < len(text) - 600 and not text[s].isspace()]
    out = []
    step = max(1, len(starts) // n)
    for s in starts[::step]:
        p_end = s + 200
        while p_end < len(text) and not text[p_end].isspace():
            p_end += 1
        c_end = p_end + 280
        while c_end < len(text) and not text[c_end].isspace():
            c_end += 1
        prompt, cont = text[s:p_end], text[p_end:c_end]
        if len(prompt.strip()) < 100 or len(cont.strip()) < 100:
            continue
        out.append({"prompt": prompt, "continuation": cont})
        if len(out) == n:
            break
    return out


def main():
    if "--no-install" not in sys.argv:
        install()
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(PROMPTS, exist_ok=True)
    stats = {}
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    for name, fn in DOMAINS.items():
        if only and name not in only:
            continue
        docs = fn()
        # deterministic order that interleaves sources, then cap the size
        docs.sort(key=lambda d: zlib.crc32(("order" + d[0]).encode()))
        kept, total = [], 0
        for k, t in docs:
            if total + len(t) > CAP:
                continue
            kept.append((k, t))
            total += len(t)
        train = [t for k, t in kept if not held_out(k)]
        held = [t for k, t in kept if held_out(k)]
        held_text = "\n\n".join(held) + "\n"
        with gzip.open(os.path.join(OUT, f"{name}.train.txt.gz"), "wt", encoding="utf-8") as f:
            f.write("\n\n".join(train) + "\n")
        open(os.path.join(OUT, f"{name}.heldout.txt"), "w", encoding="utf-8").write(held_text)
        ev = held_text[:EVAL_CHARS]
        ev = ev[:ev.rfind("\n") + 1]
        open(os.path.join(OUT, f"{name}.eval.txt"), "w", encoding="utf-8").write(ev)
        ps = prompts_from(held_text, N_PROMPTS)
        with open(os.path.join(PROMPTS, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            for p in ps:
                f.write(json.dumps(p, ensure_ascii=False) + "\n")
        stats[name] = dict(docs=len(kept), train_docs=len(train), heldout_docs=len(held),
                           train_chars=sum(map(len, train)), heldout_chars=len(held_text),
                           eval_chars=len(ev), prompts=len(ps))
        print(name, stats[name], flush=True)
    path = os.path.join(OUT, "stats.json")
    old = json.load(open(path)) if os.path.exists(path) else {}
    old.update(stats)
    json.dump(old, open(path, "w"), indent=1)


if __name__ == "__main__":
    main()
