#!/usr/bin/env node
// unicode_parity.js - dev tool: how HF tokenizers classifies and normalizes every code point.
//
// Probes the HF tokenizers binding (Oniguruma regex inside ByteLevel, Rust
// char::is_numeric inside Digits, unicode-normalization inside NFC/NFD/NFKC/NFKD)
// for every code point and writes a text dump that tools/check_unicode.c compares
// with unicode_data.c and the tokenizer's normalizer:
//   "C cp L N W D"   classes (1/0): \p{L}, \p{N}, \s (only meaningful if not L/N), is_numeric
//   "F cp hex..."    normalization of the single code point when it changes (F in NFC, NFD, NFKC, NFKD)
//   "W cp w s"       Rust regex \w (single_word added tokens) and \s (lstrip), 1/0
// usage: node tools/unicode_parity.js > /tmp/hf_unicode.txt   (a minute or two)
'use strict';
const tk = require('./node_modules/@anush008/tokenizers');
const bl = tk.byteLevelPreTokenizer(false, true);
const dg = tk.digitsPreTokenizer(true);
const forms = { NFC: tk.nfcNormalizer(), NFD: tk.nfdNormalizer(), NFKC: tk.nfkcNormalizer(), NFKD: tk.nfkdNormalizer() };
const out = [];
for (let cp = 0; cp < 0x110000; cp++) {
  if (cp >= 0xd800 && cp < 0xe000) continue;
  const c = String.fromCodePoint(cp);
  const L = cp !== 0x20 && bl.preTokenizeString('a' + c).length === 1 ? 1 : 0;
  const N = cp !== 0x20 && bl.preTokenizeString('1' + c).length === 1 ? 1 : 0;
  const W = cp === 0x20 || (!L && !N && bl.preTokenizeString('!' + c + '!').length === 3) ? 1 : 0;
  const D = dg.preTokenizeString('a' + c).length === 2 ? 1 : 0;
  out.push(`C ${cp.toString(16)} ${L} ${N} ${W} ${D}`);
  for (const f of Object.keys(forms)) {
    const r = forms[f].normalizeString(c);
    if (r !== c) out.push(`${f} ${cp.toString(16)} ` + Array.from(r).map((x) => x.codePointAt(0).toString(16)).join(' '));
  }
  if (out.length > 100000) { process.stdout.write(out.join('\n') + '\n'); out.length = 0; }
}
process.stdout.write(out.join('\n') + '\n');
out.length = 0;

// Rust regex \w and \s, as used by added tokens: "x" single_word is matched in "x"+c
// unless c is a word character; "x" lstrip swallows c in c+"x" when c is whitespace.
(async () => {
  const base = (tok) => ({ version: '1.0', truncation: null, padding: null, added_tokens: [tok], normalizer: null,
    pre_tokenizer: null, post_processor: null, decoder: null,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, vocab: { y: 0 }, merges: [] } });
  const tw = tk.Tokenizer.fromString(JSON.stringify(base({ id: 1, content: 'x', single_word: true, lstrip: false, rstrip: false, normalized: false, special: true })));
  const ts = tk.Tokenizer.fromString(JSON.stringify(base({ id: 1, content: 'x', single_word: false, lstrip: true, rstrip: false, normalized: false, special: true })));
  let cps = [];
  const flush = async () => {
    const ew = await tw.encodeBatch(cps.map((c) => 'x' + String.fromCodePoint(c)), { addSpecialTokens: false });
    const es = await ts.encodeBatch(cps.map((c) => String.fromCodePoint(c) + 'x'), { addSpecialTokens: false });
    cps.forEach((c, i) => {
      const w = ew[i].getIds()[0] === 1 ? 0 : 1;
      const sp = es[i].getOffsets()[0][0] === 0 ? 1 : 0;
      out.push(`W ${c.toString(16)} ${w} ${sp}`);
    });
    process.stdout.write(out.join('\n') + '\n');
    out.length = 0;
    cps = [];
  };
  for (let cp = 0; cp < 0x110000; cp++) {
    if (cp >= 0xd800 && cp < 0xe000) continue;
    cps.push(cp);
    if (cps.length === 20000) await flush();
  }
  await flush();
})();
