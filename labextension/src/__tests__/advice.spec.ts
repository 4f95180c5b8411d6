import { checksumWords, fitOf, loadErrorWords, shortPath, snippetsFor } from '../advice';

describe('load errors in plain words', () => {
  it('says what a bad GGUF means and what to do', () => {
    expect(loadErrorWords("loading 'acme/tiny-llm-GGUF' (gguf) failed: ValueError: GGUF magic invalid")).toBe(
      'not a valid GGUF file: the download may be damaged; delete it and download again'
    );
  });

  it('does not take the format tag of the message for the cause', () => {
    const words = loadErrorWords("loading 'x/y' (onnx) failed: MemoryError: cannot allocate");
    expect(words).toMatch(/^not enough memory/);
  });

  it('keeps an unknown message, without the prefix', () => {
    expect(loadErrorWords("loading 'x/y' (gguf) failed: KeyError: 'vocab'")).toBe(
      "could not load it: KeyError: 'vocab'"
    );
  });
});

describe('memory fit', () => {
  const memory = { total_bytes: 16e9, available_bytes: 10e9, ram_budget_bytes: 8e9 };
  it('compares with the smaller of free memory and budget', () => {
    expect(fitOf(4e9, memory)).toBe('fits');
    expect(fitOf(7e9, memory)).toBe('tight');
    expect(fitOf(9e9, memory)).toBe('too big');
    expect(fitOf(4e9, null)).toBeNull();
    expect(fitOf(0, memory)).toBeNull();
  });
});

describe('snippets', () => {
  it('gives mf.open always, hf_hub_download for Hub models, llama.cpp for GGUF', () => {
    const all = snippetsFor({ modelId: 'org/m', file: 'm.Q8_0.gguf', path: "/data/it's/m.gguf", source: 'hub' });
    expect(all.map(s => s.label)).toEqual(['Python (jupyter-modelfiles)', 'Python (huggingface_hub)', 'llama.cpp']);
    expect(all[0].code).toContain('mf.open("org/m", "m.Q8_0.gguf")');
    expect(all[2].code).toBe(`llama-cli -m '/data/it'\\''s/m.gguf' -p "Hello"`);
    const plain = snippetsFor({ modelId: 'team/x', file: 'x.onnx', path: '/p/x.onnx', source: 'manifest' });
    expect(plain.map(s => s.label)).toEqual(['Python (jupyter-modelfiles)']);
  });

  it('explains a checksum mismatch with a next step', () => {
    expect(checksumWords(true)).toMatch(/differs from the expected SHA-256.*Re-read the catalog/);
    expect(checksumWords(false)).toMatch(/Check the expected SHA-256/);
  });
});

describe('paths', () => {
  it('keeps the end of a long path, where the file name is', () => {
    expect(shortPath('/home/me/.cache/huggingface/hub/models--org--m/snapshots/abc/m.gguf')).toBe('…/abc/m.gguf');
    expect(shortPath('/tmp/m.gguf')).toBe('/tmp/m.gguf');
  });
});
