"""gpt2_bytes.py - GPT-2's byte -> printable character map of the byte-level
BPE (what HF tokenizers' ByteLevel pre-tokenizer applies), shared by the dev
scripts under tools/. Written from the GPT-2 paper's description; no code copied."""


def bytes_to_unicode():
    """Printable bytes map to themselves; the other 68 to U+0100, U+0101, ... in byte order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}
