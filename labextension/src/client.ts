/**
 * HTTP access to the modelfiles API through JupyterLab's ServerConnection (base URL, token,
 * XSRF cookie). Uploads use XMLHttpRequest for upload progress with the same credentials.
 */
import { ServerConnection } from '@jupyterlab/services';

import { ApiRequest, errorMessage, eventsUrl, joinUrl, routes, uploadHeaders } from './api';
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
   * Stream `file` as multipart/form-data (`purpose`, `file`): one request whose body the browser
   * reads from disk as it sends (never into page memory), progress at most 5 times a second.
   */
  upload(file: File, purpose: string, onProgress: (loaded: number, total: number) => void): UploadHandle {
    const xhr = new XMLHttpRequest();
    const promise = new Promise<unknown>((resolve, reject) => {
      xhr.open('POST', this.url(routes.upload()));
      const headers = uploadHeaders(this.settings.token, typeof document !== 'undefined' ? document.cookie : '');
      for (const [name, value] of Object.entries(headers)) {
        xhr.setRequestHeader(name, value);
      }
      const progress = throttledProgress(onProgress);
      xhr.upload.onprogress = ev => progress(ev.loaded, ev.lengthComputable ? ev.total : file.size);
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          onProgress(file.size, file.size);
          resolve(xhr.responseText ? JSON.parse(xhr.responseText) : undefined);
        } else {
          reject(new ApiError(xhr.status, errorMessage(xhr.status, xhr.responseText)));
        }
      };
      xhr.onerror = () => reject(new ApiError(0, 'upload failed: network error'));
      xhr.onabort = () => reject(new ApiError(0, 'upload cancelled'));
      const form = new FormData();
      form.append('purpose', purpose);
      form.append('file', file, file.name);
      xhr.send(form);
    });
    return { promise, abort: () => xhr.abort() };
  }

  /** The events WebSocket URL (token in the query only when the settings carry one). */
  eventsUrl(): string {
    const token = this.settings.appendToken ? this.settings.token : '';
    return eventsUrl(this.settings.wsUrl, token);
  }
}
