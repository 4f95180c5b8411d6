/**
 * Request building for the modelfiles REST API: paths relative to the server's base URL,
 * query strings, error decoding. Pure (no JupyterLab imports) so jest can test it.
 */

export const API_ROOT = 'modelfiles/v1';

export type QueryValue = string | number | boolean | null | undefined;

/** Encode one path segment; model ids such as `org/name` become `org%2Fname`. */
export function segment(value: string): string {
  return encodeURIComponent(value);
}

/** Append `?a=1&b=x` for the defined, non-empty values (in the order given). */
export function withQuery(path: string, query: Record<string, QueryValue>): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') {
      continue;
    }
    parts.push(`${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`);
  }
  return parts.length ? `${path}?${parts.join('&')}` : path;
}

/** Join the server base URL (with or without a trailing slash) and a relative API path. */
export function joinUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/** The WebSocket URL of the events stream, with the token when it must travel in the URL. */
export function eventsUrl(wsUrl: string, token?: string): string {
  const url = joinUrl(wsUrl, `${API_ROOT}/events`);
  return token ? `${url}?token=${encodeURIComponent(token)}` : url;
}

export interface FilesQuery {
  page?: number;
  page_size?: number;
  search?: string;
  purpose?: string;
}

export type JobAction = 'pause' | 'resume' | 'cancel';
export type ModelAction = 'load' | 'unload';

/** Every route the sidebar calls, as a path relative to the server's base URL. */
export const routes = {
  models: (search?: string): string => withQuery(`${API_ROOT}/models`, { search }),
  model: (modelId: string): string => `${API_ROOT}/models/${segment(modelId)}`,
  modelFiles: (modelId: string): string => `${API_ROOT}/models/${segment(modelId)}/files`,
  modelDownload: (modelId: string): string => `${API_ROOT}/models/${segment(modelId)}/download`,
  modelDownloadCancel: (modelId: string): string => `${API_ROOT}/models/${segment(modelId)}/download/cancel`,
  modelAction: (modelId: string, action: ModelAction): string => `${API_ROOT}/models/${segment(modelId)}/${action}`,
  downloadStatus: (): string => `${API_ROOT}/models/download/status`,
  downloads: (): string => `${API_ROOT}/downloads`,
  clearDownloads: (): string => `${API_ROOT}/downloads/clear`,
  systemMemory: (): string => `${API_ROOT}/system/memory`,
  jobAction: (jobId: string, action: JobAction): string => `${API_ROOT}/downloads/${segment(jobId)}/${action}`,
  files: (query: FilesQuery = {}): string =>
    withQuery(`${API_ROOT}/files`, {
      page: query.page,
      page_size: query.page_size,
      search: query.search,
      purpose: query.purpose
    }),
  upload: (): string => `${API_ROOT}/files`,
  uploads: (): string => `${API_ROOT}/uploads`,
  uploadItem: (uploadId: string): string => `${API_ROOT}/uploads/${segment(uploadId)}`,
  uploadSlice: (uploadId: string, offset: number): string =>
    withQuery(`${API_ROOT}/uploads/${segment(uploadId)}/slices`, { offset }),
  uploadComplete: (uploadId: string): string => `${API_ROOT}/uploads/${segment(uploadId)}/complete`,
  filePurposes: (): string => `${API_ROOT}/files/purposes`,
  file: (fileId: string): string => `${API_ROOT}/files/${segment(fileId)}`,
  fileContent: (fileId: string): string => `${API_ROOT}/files/${segment(fileId)}/content`,
  fileUrl: (fileId: string, expiryHours = 24): string =>
    withQuery(`${API_ROOT}/files/${segment(fileId)}/url`, { expiry: expiryHours })
};

/** A request the sidebar wants to make: method, relative path and optional JSON body. */
export interface ApiRequest {
  method: 'GET' | 'POST' | 'DELETE' | 'PATCH';
  path: string;
  body?: unknown;
}

export const requests = {
  downloadModel: (modelId: string, files?: string[]): ApiRequest => ({
    method: 'POST',
    path: routes.modelDownload(modelId),
    body: files && files.length ? { files } : {}
  }),
  cancelModelDownload: (modelId: string): ApiRequest => ({
    method: 'POST',
    path: routes.modelDownloadCancel(modelId)
  }),
  modelAction: (modelId: string, action: ModelAction): ApiRequest => ({
    method: 'POST',
    path: routes.modelAction(modelId, action)
  }),
  startUrlDownload: (url: string, sha256?: string): ApiRequest => {
    const body: { url: string; sha256?: string } = { url: url.trim() };
    const digest = sha256?.trim().toLowerCase();
    if (digest) {
      body.sha256 = digest;
    }
    return { method: 'POST', path: routes.downloads(), body };
  },
  jobAction: (jobId: string, action: JobAction): ApiRequest => ({
    method: 'POST',
    path: routes.jobAction(jobId, action)
  }),
  deleteFile: (fileId: string): ApiRequest => ({ method: 'DELETE', path: routes.file(fileId) }),
  clearDownloads: (): ApiRequest => ({ method: 'POST', path: routes.clearDownloads(), body: {} })
};

/** Check the optional SHA-256 a user typed: empty or 64 hex digits. */
export function validSha256(value: string): boolean {
  const v = value.trim();
  return v === '' || /^[0-9a-fA-F]{64}$/.test(v);
}

/** The plain-language message of an error response (`{"error": {"code", "message"}}`). */
export function errorMessage(status: number, bodyText: string): string {
  try {
    const parsed = JSON.parse(bodyText) as unknown;
    if (parsed && typeof parsed === 'object') {
      const obj = parsed as Record<string, unknown>;
      const err = obj.error;
      if (err && typeof err === 'object') {
        const message = (err as Record<string, unknown>).message;
        if (typeof message === 'string' && message) {
          return message;
        }
      }
      if (typeof obj.message === 'string' && obj.message) {
        return obj.message;
      }
    }
  } catch {
    // not JSON: fall through
  }
  const text = bodyText.trim();
  if (text && text.length < 300 && !text.startsWith('<')) {
    return `HTTP ${status}: ${text}`;
  }
  return `HTTP ${status}`;
}

/** The value of cookie `name` in a `document.cookie` string. */
export function cookieValue(cookies: string, name: string): string | undefined {
  for (const part of cookies.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) {
      return decodeURIComponent(rest.join('='));
    }
  }
  return undefined;
}

/** Headers of an XHR upload: token (if configured) and the XSRF cookie echoed back. */
export function uploadHeaders(token: string, cookies: string): Record<string, string> {
  const headers: Record<string, string> = {};
  if (token) {
    headers['Authorization'] = `token ${token}`;
  }
  const xsrf = cookieValue(cookies, '_xsrf');
  if (xsrf) {
    headers['X-XSRFToken'] = xsrf;
  }
  return headers;
}

/** One slice of a sliced upload: bytes [start, end) of the file. */
export interface SliceSpan {
  start: number;
  end: number;
}

/**
 * How a file of `size` bytes is cut for `PUT v1/uploads/{id}/slices`: `sliceBytes` each (the
 * last may be shorter), none for an empty file. `sliceBytes` <= 0 or >= size: one slice, the
 * whole file, which the browser sends straight from disk (a Blob.slice goes through the
 * browser's blob machinery and costs more CPU a byte).
 */
export function sliceSpans(size: number, sliceBytes: number): SliceSpan[] {
  if (size <= 0) {
    return [];
  }
  const step = sliceBytes > 0 && sliceBytes < size ? sliceBytes : size;
  const spans: SliceSpan[] = [];
  for (let start = 0; start < size; start += step) {
    spans.push({ start, end: Math.min(size, start + step) });
  }
  return spans;
}

/**
 * Where a slice [start, end) resumes after its request broke: the end of the bytes the server
 * kept from `start` on (`received` of `GET v1/uploads/{id}`, sorted `[begin, end)` pairs; a
 * slice is written in order, so what arrived is one run from `start`). `end`: nothing is missing.
 */
export function resumeOffset(received: Array<[number, number]>, start: number, end: number): number {
  for (const [begin, stop] of received) {
    if (begin <= start && start < stop) {
      return Math.min(stop, end);
    }
  }
  return start;
}

/** Waits before the attempts after a network failure of a slice (milliseconds). */
export const SLICE_RETRY_DELAYS = [1000, 2000, 4000, 8000, 16000];
