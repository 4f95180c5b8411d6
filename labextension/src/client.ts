/**
 * HTTP access to the modelfiles API through JupyterLab's ServerConnection (base URL, token,
 * XSRF cookie). Uploads use XMLHttpRequest for upload progress with the same credentials.
 */
import { ServerConnection } from '@jupyterlab/services';

import {
  ApiRequest,
  SLICE_RETRY_DELAYS,
  errorMessage,
  eventsUrl,
  joinUrl,
  resumeOffset,
  routes,
  sliceSpans,
  uploadHeaders
} from './api';
import { throttledProgress } from './progress';

/** An API error with the server's plain-language message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
  }
}

/**
 * Slices of a browser upload: 0 sends the whole file as one slice. On the 2-core test machine
 * Chromium spent more CPU a byte on Blob.slice bodies (they go through the browser's blob
 * machinery) than the parallel connections won back, so one slice is the default.
 */
export const UPLOAD_SLICE_BYTES = 0;
/** Slices in flight at a time (separate HTTP/1.1 connections) when a file is cut. */
export const UPLOAD_PARALLEL = 2;

export interface UploadHandle {
  promise: Promise<unknown>;
  abort: () => void;
}

export class ModelFilesClient {
  constructor(readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  url(path: string): string {
    return joinUrl(this.settings.baseUrl, path);
  }

  /** JSON request; resolves to the decoded body, rejects with an ApiError. */
  async request<T = unknown>(req: ApiRequest): Promise<T> {
    const init: RequestInit = { method: req.method };
    if (req.body !== undefined) {
      init.body = JSON.stringify(req.body);
      init.headers = { 'Content-Type': 'application/json' };
    } else if (req.method === 'POST') {
      init.body = '';
    }
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(this.url(req.path), init, this.settings);
    } catch (err) {
      throw new ApiError(0, `cannot reach the server: ${(err as Error).message ?? err}`);
    }
    const text = await response.text();
    if (!response.ok) {
      throw new ApiError(response.status, errorMessage(response.status, text));
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.request<T>({ method: 'GET', path });
  }

  /**
   * Upload `file` as a sliced upload (`POST v1/uploads`, `PUT .../slices?offset=`, `POST
   * .../complete`): raw bodies the browser reads from disk as it sends (never into page
   * memory), `parallel` slices at a time, progress at most 5 times a second. A slice whose
   * request breaks (a network error) resumes where the server's bytes end, after 1, 2, 4, 8
   * and 16 s. Cancelling aborts the slices in flight and cancels the upload on the server (its
   * partial file is deleted).
   */
  upload(
    file: File,
    purpose: string,
    onProgress: (loaded: number, total: number) => void,
    options: { sliceBytes?: number; parallel?: number } = {}
  ): UploadHandle {
    const inflight = new Set<XMLHttpRequest>();
    let cancelled = false;
    let uploadId: string | undefined;
    const progress = throttledProgress(onProgress);
    const loaded = new Map<number, number>();
    const report = (): void => {
      let sum = 0;
      loaded.forEach(value => (sum += value));
      progress(sum, file.size);
    };
    // One request for bytes [from, end) of the slice that starts at `start`.
    const sendPart = (id: string, start: number, from: number, end: number): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        inflight.add(xhr);
        xhr.open('PUT', this.url(routes.uploadSlice(id, from)));
        const headers = uploadHeaders(this.settings.token, typeof document !== 'undefined' ? document.cookie : '');
        for (const [name, value] of Object.entries(headers)) {
          xhr.setRequestHeader(name, value);
        }
        xhr.setRequestHeader('Content-Type', 'application/octet-stream');
        xhr.upload.onprogress = ev => {
          loaded.set(start, from - start + ev.loaded);
          report();
        };
        xhr.onload = () => {
          inflight.delete(xhr);
          if (xhr.status >= 200 && xhr.status < 300) {
            loaded.set(start, end - start);
            report();
            resolve();
          } else {
            reject(new ApiError(xhr.status, errorMessage(xhr.status, xhr.responseText)));
          }
        };
        xhr.onerror = () => {
          inflight.delete(xhr);
          reject(new ApiError(0, 'upload failed: network error'));
        };
        xhr.onabort = () => {
          inflight.delete(xhr);
          reject(new ApiError(0, 'upload cancelled'));
        };
        // The whole File goes as it is: the browser then reads it from disk itself.
        xhr.send(from === 0 && end === file.size ? file : file.slice(from, end));
      });
    // A slice, resumed where the server's bytes end after a network failure (the server keeps
    // what arrived); a 409 then means the broken request is still open there: wait again.
    const sendSlice = async (id: string, start: number, end: number): Promise<void> => {
      let from = start;
      for (let attempt = 0; ; attempt++) {
        try {
          if (attempt > 0) {
            const state = await this.request<{ received: Array<[number, number]> }>({
              method: 'GET',
              path: routes.uploadItem(id)
            });
            from = resumeOffset(state.received, start, end);
            if (from >= end) {
              loaded.set(start, end - start);
              report();
              return;
            }
          }
          await sendPart(id, start, from, end);
          return;
        } catch (err) {
          const retryable = err instanceof ApiError && (err.status === 0 || (attempt > 0 && err.status === 409));
          if (cancelled || !retryable || attempt >= SLICE_RETRY_DELAYS.length) {
            throw err;
          }
        }
        await new Promise(wake => setTimeout(wake, SLICE_RETRY_DELAYS[attempt]));
        if (cancelled) {
          throw new ApiError(0, 'upload cancelled');
        }
      }
    };
    const run = async (): Promise<unknown> => {
      const created = await this.request<{ id: string }>({
        method: 'POST',
        path: routes.uploads(),
        body: { filename: file.name, bytes: file.size, purpose, mime_type: file.type || undefined }
      });
      uploadId = created.id;
      if (cancelled) {
        throw new ApiError(0, 'upload cancelled');
      }
      const spans = sliceSpans(file.size, options.sliceBytes ?? UPLOAD_SLICE_BYTES);
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < spans.length && !cancelled) {
          const span = spans[next++];
          await sendSlice(created.id, span.start, span.end);
        }
      };
      const lanes = Math.max(1, Math.min(options.parallel ?? UPLOAD_PARALLEL, spans.length));
      await Promise.all(Array.from({ length: lanes }, worker));
      if (cancelled) {
        throw new ApiError(0, 'upload cancelled');
      }
      const record = await this.request({ method: 'POST', path: routes.uploadComplete(created.id) });
      onProgress(file.size, file.size);
      return record;
    };
    const promise = run().catch(async err => {
      cancelled = true; // no lane starts another slice
      inflight.forEach(xhr => xhr.abort());
      if (uploadId !== undefined) {
        // Best effort: the server also expires an abandoned upload.
        await this.request({ method: 'DELETE', path: routes.uploadItem(uploadId) }).catch(() => undefined);
      }
      throw err;
    });
    const abort = (): void => {
      cancelled = true;
      inflight.forEach(xhr => xhr.abort());
    };
    return { promise, abort };
  }

  /** The events WebSocket URL (token in the query only when the settings carry one). */
  eventsUrl(): string {
    const token = this.settings.appendToken ? this.settings.token : '';
    return eventsUrl(this.settings.wsUrl, token);
  }
}
