/**
 * Plain words for what went wrong and what to do next, and what a user can copy to use a
 * downloaded file. Pure (no JupyterLab imports) so jest can test it.
 */

/** The machine's memory as `GET v1/system/memory` reports it. */
export interface Memory {
  total_bytes: number;
  available_bytes: number;
  ram_budget_bytes: number;
}

export type Fit = 'fits' | 'tight' | 'too big';

/**
 * Does a model needing `ram` bytes fit in memory? "fits" within 80% of what is free (and of
 * the RAM budget), "tight" up to all of it, "too big" beyond.
 */
export function fitOf(ram: number | null | undefined, memory: Memory | null): Fit | null {
  if (!memory || !ram || ram <= 0) {
    return null;
  }
  const room = Math.min(memory.available_bytes, memory.ram_budget_bytes || memory.available_bytes);
  if (ram <= 0.8 * room) {
    return 'fits';
  }
  return ram <= room ? 'tight' : 'too big';
}

const LOAD_ADVICE: Array<[RegExp, string]> = [
  [
    /gguf magic|not a (valid )?gguf|invalid gguf|gguf.*(header|truncated)/i,
    'not a valid GGUF file: the download may be damaged; delete it and download again'
  ],
  [
    /safetensors|header too (large|small)|invalid json in header/i,
    'not a valid safetensors file: the download may be damaged; delete it and download again'
  ],
  [/onnx|protobuf|ModelProto/i, 'not a valid ONNX model: the download may be damaged; delete it and download again'],
  [
    /RAM budget|does not fit|out of memory|MemoryError|cannot allocate/i,
    'not enough memory: unload another model or download a smaller quantization'
  ],
  [/not downloaded|no local file/i, 'not downloaded yet: download it first'],
  [
    /pickle|unsafe/i,
    'this format can run code when loaded (pickle), so it is not loaded: use a safetensors or GGUF file'
  ],
  [/unsupported|no loader|unknown format/i, 'this format cannot be loaded here: pick a GGUF, safetensors or ONNX file'],
  [/crash|exited|killed|signal/i, 'the loader crashed: try a smaller quantization, or see the server log']
];

/** A failed load in plain words with a next step; falls back to the server's own message. */
export function loadErrorWords(message: string): string {
  // "loading 'org/x' (gguf) failed: ValueError: ..." -> "ValueError: ..."; keep "crashed: ..."
  const cleaned = message.replace(/^loading '[^']*' \([^)]*\) (failed: )?/i, '');
  for (const [pattern, words] of LOAD_ADVICE) {
    if (pattern.test(cleaned)) {
      return words;
    }
  }
  return `could not load it: ${cleaned}`;
}

/** What a checksum mismatch means and what can help (instead of an identical retry). */
export function checksumWords(isModel: boolean): string {
  return (
    "The origin's file differs from the expected SHA-256, so downloading it again would " +
    'fail the same way. ' +
    (isModel
      ? 'Re-read the catalog to pick up the current checksum, or ask the model’s publisher.'
      : 'Check the expected SHA-256 you gave, or leave it empty to accept the file as served.')
  );
}

/** One way to use a downloaded file, ready to copy. */
export interface Snippet {
  label: string;
  code: string;
}

function py(value: string): string {
  return JSON.stringify(value);
}

function shell(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Snippets for a downloaded file: `mf.open`, `hf_hub_download` (Hub models), llama.cpp (GGUF). */
export function snippetsFor(options: {
  modelId: string;
  file: string;
  path?: string;
  source?: string;
  format?: string;
}): Snippet[] {
  const { modelId, file, path, source, format } = options;
  const out: Snippet[] = [
    {
      label: 'Python (jupyter-modelfiles)',
      code: `import jupyter_modelfiles as mf\nmodel = mf.open(${py(modelId)}, ${py(file)})`
    }
  ];
  if (source === 'hub') {
    out.push({
      label: 'Python (huggingface_hub)',
      code: `from huggingface_hub import hf_hub_download\npath = hf_hub_download(${py(modelId)}, ${py(file)})`
    });
  }
  const gguf = (format ?? '').toLowerCase() === 'gguf' || /\.gguf$/i.test(file);
  if (gguf && path) {
    out.push({ label: 'llama.cpp', code: `llama-cli -m ${shell(path)} -p "Hello"` });
  }
  return out;
}

/** A long path as its last two parts ("…/snapshots/x.gguf"); show the whole one as tooltip. */
export function shortPath(path: string, keep = 2): string {
  const parts = path.split('/');
  return parts.length > keep + 1 && path.length > 32 ? `…/${parts.slice(-keep).join('/')}` : path;
}
