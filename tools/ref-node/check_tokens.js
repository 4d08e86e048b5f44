// check_tokens.js - dev only: re-tokenizes the Fig 4 prompts of the exp_model
// fixture with the HF tokenizers library (npm @anush008/tokenizers) and compares
// with tests/fixtures/models/exp_model/prompt_tokens.txt (written by
// tools/reference_experiments.py's own BPE). Run from the repo root:
//   (cd tools/ref-node && npm install) && node tools/ref-node/check_tokens.js
const { Tokenizer } = require('@anush008/tokenizers');
const fs = require('fs');
const dir = 'tests/fixtures/models/exp_model/';
const prompts = [
  ["It's in the cupboard, either on the top or on the", ' bottom', ' top'],
  ['I went to university at Michigan', ' State', ' University'],
  ['class MyClass:\n\tdef', ' __', ' get'],
  ['The church I go to is the Seventh-day Adventist', ' Church', ' church'],
];
(async () => {
  const tok = Tokenizer.fromFile(dir + 'tokenizer.json');
  const lines = fs.readFileSync(dir + 'prompt_tokens.txt', 'utf8').split('\n')
    .filter(l => l && !l.startsWith('#'));
  let bad = 0;
  for (let k = 0; k < prompts.length; k++) {
    const ids = async s => (await tok.encode(s, null, { addSpecialTokens: false })).getIds().join(' ');
    const got = ['0 ' + await ids(prompts[k][0]), await ids(prompts[k][1]), await ids(prompts[k][2])].join('\t');
    const ok = got === lines[k];
    if (!ok) bad++;
    console.log((ok ? 'same ' : 'DIFF ') + 'p' + (k + 1) + ': ' + got + (ok ? '' : '\n  ours: ' + lines[k]));
  }
  process.exit(bad ? 1 : 0);
})();
