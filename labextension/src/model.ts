/**
 * The sidebar's controller: holds the state of the three sections, performs the API calls,
 * and folds WebSocket events into the state. The React view renders it and calls its methods.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { FilesQuery, JobAction, ModelAction, requests, routes } from './api';
import { ApiError, ModelFilesClient } from './client';
import { ConnectionState, EventStream } from './events';
import {
  emptyFilesPage,
  emptyGroups,
  FileObject,
  FilesPage,
  filesPageFrom,
  groupJobs,
  Job,
  JobGroups,
  jobFromEvent,
  mergeFileEvent,
  mergeJob,
  mergeModelEvent,
  Model,
  ModelFile,
  modelFilesFrom,
  modelsFrom,
  parseEvent
} from './state';

export interface ExpandedModel {
  loading: boolean;
  files: ModelFile[];
  error?: string;
}

export interface UploadItem {
  key: number;
  name: string;
  loaded: number;
  total: number;
  status: 'uploading' | 'done' | 'error';
  error?: string;
  abort?: () => void;
}

export type Section = 'models' | 'downloads' | 'files';

/** Job statuses after which a model's snapshot changes (see downloads/jobs.py TERMINAL). */
const TERMINAL_STATUSES: readonly string[] = ['completed', 'failed', 'cancelled'];

export interface SidebarState {
  connection: ConnectionState;
  modelSearch: string;
  models: Model[];
  modelsLoading: boolean;
  expanded: Record<string, ExpandedModel>;
  busy: Record<string, boolean>;
  jobs: JobGroups;
  files: FilesPage;
  uploads: UploadItem[];
  errors: Partial<Record<Section, string>>;
  notice: string;
  /** Upload purposes, as the server serves them (one list for every face). */
  purposes: string[];
  defaultPurpose: string;
}

/** The upload purpose chosen until the server's list (`GET v1/files/purposes`) arrives. */
export const DEFAULT_PURPOSE = 'user_data';

/** The purposes the server accepts (`{object: "list", data, default}`); `null` if malformed. */
export function purposesFrom(raw: unknown): { purposes: string[]; defaultPurpose: string } | null {
  if (!raw || typeof raw !== 'object') {
    return null;
  }
  const body = raw as { data?: unknown; default?: unknown };
  if (!Array.isArray(body.data)) {
    return null;
  }
  const purposes = body.data.filter((p): p is string => typeof p === 'string' && p.length > 0);
  if (!purposes.length) {
    return null;
  }
  const chosen = typeof body.default === 'string' && purposes.includes(body.default) ? body.default : purposes[0];
  return { purposes, defaultPurpose: chosen };
}

export class SidebarModel {
  private _state: SidebarState = {
    connection: 'closed',
    modelSearch: '',
    models: [],
    modelsLoading: false,
    expanded: {},
    busy: {},
    jobs: emptyGroups(),
    files: emptyFilesPage(),
    uploads: [],
    errors: {},
    notice: '',
    purposes: [DEFAULT_PURPOSE],
    defaultPurpose: DEFAULT_PURPOSE
  };
  private readonly _changed = new Signal<this, void>(this);
  private readonly _stream: EventStream;
  private _uploadKey = 0;
  private _filesRequest = 0;
  private _modelsRequest = 0;

  constructor(readonly client: ModelFilesClient = new ModelFilesClient()) {
    this._stream = new EventStream({
      url: () => this.client.eventsUrl(),
      onMessage: data => this.handleEvent(data),
      onState: state => this._set({ connection: state }),
      onOpen: reconnected => {
        if (reconnected) {
          void this.refreshAll();
        }
      }
    });
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get state(): SidebarState {
    return this._state;
  }

  private _set(patch: Partial<SidebarState>): void {
    this._state = { ...this._state, ...patch };
    this._changed.emit();
  }

  private _error(section: Section, err: unknown): void {
    let message = err instanceof ApiError || err instanceof Error ? err.message : String(err);
    if (err instanceof ApiError && err.status === 404 && message === 'HTTP 404') {
      message = `The ${section} API is not available on this server (HTTP 404).`;
    }
    this._set({ errors: { ...this._state.errors, [section]: message } });
  }

  private _clearError(section: Section): void {
    if (this._state.errors[section]) {
      const errors = { ...this._state.errors };
      delete errors[section];
      this._set({ errors });
    }
  }

  /** Load everything and open the live events stream. */
  start(): void {
    this._stream.start();
    void this.refreshAll();
  }

  dispose(): void {
    this._stream.stop();
  }

  async refreshAll(): Promise<void> {
    await Promise.all([
      this.searchModels(this._state.modelSearch),
      this.refreshJobs(),
      this.loadFiles({}),
      this.loadPurposes()
    ]);
  }

  /** The upload purposes the server accepts (`GET v1/files/purposes`). */
  async loadPurposes(): Promise<void> {
    try {
      const served = purposesFrom(await this.client.get(routes.filePurposes()));
      if (served) {
        this._set(served);
      }
    } catch (err) {
      this._error('files', err);
    }
  }

  // -- events -------------------------------------------------------------------------------
  handleEvent(raw: unknown): void {
    const event = parseEvent(raw);
    if (!event) {
      return;
    }
    if (event.topic === 'job') {
      const job = jobFromEvent(event);
      if (job) {
        this._set({ jobs: mergeJob(this._state.jobs, job) });
        if (job.model_id && TERMINAL_STATUSES.includes(job.status)) {
          // a model's download ended: refresh its snapshot (downloaded/downloading) and files
          void this.refreshModel(job.model_id);
          if (this._state.expanded[job.model_id]) {
            void this.loadModelFiles(job.model_id);
          }
        }
      }
    } else if (event.topic === 'file') {
      this._set({ files: mergeFileEvent(this._state.files, event.key, event.data) });
    } else if (event.topic === 'model') {
      this._set({ models: mergeModelEvent(this._state.models, event.key, event.data) });
    }
  }

  // -- models -------------------------------------------------------------------------------
  async searchModels(search: string): Promise<void> {
    const request = ++this._modelsRequest;
    this._set({ modelSearch: search, modelsLoading: true });
    try {
      const models = modelsFrom(await this.client.get(routes.models(search.trim() || undefined)));
      if (request === this._modelsRequest) {
        this._set({ models, modelsLoading: false });
        this._clearError('models');
      }
    } catch (err) {
      if (request === this._modelsRequest) {
        this._set({ modelsLoading: false });
        this._error('models', err);
      }
    }
  }

  /** Reload one listed model's snapshot. */
  async refreshModel(modelId: string): Promise<void> {
    if (!this._state.models.some(m => m.id === modelId)) {
      return;
    }
    try {
      const snapshot = await this.client.get(routes.model(modelId));
      this._set({ models: mergeModelEvent(this._state.models, modelId, snapshot) });
    } catch {
      // the list stays as it was; the next event or search refreshes it
    }
  }

  async toggleModel(modelId: string): Promise<void> {
    if (this._state.expanded[modelId]) {
      const expanded = { ...this._state.expanded };
      delete expanded[modelId];
      this._set({ expanded });
      return;
    }
    await this.loadModelFiles(modelId);
  }

  async loadModelFiles(modelId: string): Promise<void> {
    const current = this._state.expanded[modelId];
    this._set({
      expanded: { ...this._state.expanded, [modelId]: { loading: true, files: current?.files ?? [] } }
    });
    let entry: ExpandedModel;
    try {
      entry = { loading: false, files: modelFilesFrom(await this.client.get(routes.modelFiles(modelId))) };
    } catch (err) {
      entry = { loading: false, files: [], error: (err as Error).message };
    }
    this._set({ expanded: { ...this._state.expanded, [modelId]: entry } });
  }

  private async _busy(key: string, section: Section, fn: () => Promise<unknown>): Promise<boolean> {
    this._set({ busy: { ...this._state.busy, [key]: true } });
    try {
      await fn();
      this._clearError(section);
      return true;
    } catch (err) {
      this._error(section, err);
      return false;
    } finally {
      const busy = { ...this._state.busy };
      delete busy[key];
      this._set({ busy });
    }
  }

  async downloadModel(modelId: string, files?: string[]): Promise<void> {
    await this._busy(`model:${modelId}`, 'models', async () => {
      const snapshot = await this.client.request<Record<string, unknown>>(requests.downloadModel(modelId, files));
      if (snapshot && typeof snapshot === 'object') {
        this._set({ models: mergeModelEvent(this._state.models, modelId, snapshot) });
        const jobs = Array.isArray(snapshot.jobs) ? (snapshot.jobs as Job[]) : [];
        let groups = this._state.jobs;
        for (const job of jobs) {
          if (job && typeof job.job_id === 'string' && typeof job.status === 'string') {
            groups = mergeJob(groups, job);
          }
        }
        this._set({ jobs: groups, notice: `Downloading ${modelId}` });
      }
    });
  }

  async cancelModelDownload(modelId: string): Promise<void> {
    await this._busy(`model:${modelId}`, 'models', () => this.client.request(requests.cancelModelDownload(modelId)));
  }

  async modelAction(modelId: string, action: ModelAction): Promise<void> {
    await this._busy(`model:${modelId}`, 'models', async () => {
      const snapshot = await this.client.request(requests.modelAction(modelId, action));
      if (snapshot && typeof snapshot === 'object') {
        this._set({ models: mergeModelEvent(this._state.models, modelId, snapshot) });
      }
    });
  }

  // -- downloads ----------------------------------------------------------------------------
  async refreshJobs(): Promise<void> {
    try {
      this._set({ jobs: groupJobs(await this.client.get(routes.downloadStatus())) });
      this._clearError('downloads');
    } catch (err) {
      this._error('downloads', err);
    }
  }

  async jobAction(jobId: string, action: JobAction): Promise<void> {
    await this._busy(`job:${jobId}`, 'downloads', async () => {
      const job = await this.client.request<Job>(requests.jobAction(jobId, action));
      if (job && typeof job.job_id === 'string' && typeof job.status === 'string') {
        this._set({ jobs: mergeJob(this._state.jobs, job) });
      }
    });
  }

  /** Start a download from a URL (or a catalog id); resolves true when accepted. */
  async startDownload(target: string, sha256?: string): Promise<boolean> {
    const value = target.trim();
    if (!value) {
      return false;
    }
    if (!/^https?:\/\//i.test(value)) {
      await this.downloadModel(value);
      return !this._state.errors.models;
    }
    return this._busy('download-url', 'downloads', async () => {
      const job = await this.client.request<Job>(requests.startUrlDownload(value, sha256));
      if (job && typeof job.job_id === 'string' && typeof job.status === 'string') {
        this._set({ jobs: mergeJob(this._state.jobs, job) });
      }
    });
  }

  // -- files --------------------------------------------------------------------------------
  async loadFiles(change: Partial<{ page: number; search: string; purpose: string }>): Promise<void> {
    const current = this._state.files;
    const query = {
      page: change.page ?? current.page,
      pageSize: current.pageSize,
      search: change.search ?? current.search,
      purpose: change.purpose ?? current.purpose
    };
    if (change.search !== undefined || change.purpose !== undefined) {
      query.page = change.page ?? 0;
    }
    this._set({ files: { ...current, search: query.search, purpose: query.purpose } });
    const request = ++this._filesRequest;
    const params: FilesQuery = {
      page: query.page,
      page_size: query.pageSize,
      search: query.search || undefined,
      purpose: query.purpose || undefined
    };
    try {
      const response = await this.client.get(routes.files(params));
      if (request === this._filesRequest) {
        this._set({ files: filesPageFrom(response, query) });
        this._clearError('files');
      }
    } catch (err) {
      if (request === this._filesRequest) {
        this._error('files', err);
      }
    }
  }

  private _patchUpload(key: number, patch: Partial<UploadItem>): void {
    this._set({
      uploads: this._state.uploads.map(item => (item.key === key ? { ...item, ...patch } : item))
    });
  }

  /** Upload files (button or drop); each gets its own progress row. */
  async uploadFiles(files: Iterable<File>, purpose: string): Promise<void> {
    const work: Promise<void>[] = [];
    for (const file of files) {
      const key = ++this._uploadKey;
      const handle = this.client.upload(file, purpose, (loaded, total) => this._patchUpload(key, { loaded, total }));
      const item: UploadItem = {
        key,
        name: file.name,
        loaded: 0,
        total: file.size,
        status: 'uploading',
        abort: handle.abort
      };
      this._set({ uploads: [...this._state.uploads, item] });
      work.push(
        handle.promise.then(
          created => {
            this._patchUpload(key, { status: 'done', abort: undefined });
            const obj = created as FileObject | undefined;
            if (obj && typeof obj.id === 'string') {
              this._set({ files: mergeFileEvent(this._state.files, obj.id, obj) });
            }
          },
          err => this._patchUpload(key, { status: 'error', error: (err as Error).message, abort: undefined })
        )
      );
    }
    await Promise.all(work);
  }

  dismissUploads(): void {
    this._set({ uploads: this._state.uploads.filter(item => item.status === 'uploading') });
  }

  async deleteFile(fileId: string): Promise<void> {
    await this._busy(`file:${fileId}`, 'files', async () => {
      const result = await this.client.request(requests.deleteFile(fileId));
      this._set({ files: mergeFileEvent(this._state.files, fileId, result ?? { id: fileId, deleted: true }) });
    });
  }

  async signedUrl(fileId: string, expiryHours = 24): Promise<string> {
    const result = await this.client.get<{ url: string }>(routes.fileUrl(fileId, expiryHours));
    return result.url;
  }

  contentUrl(fileId: string): string {
    return this.client.url(routes.fileContent(fileId));
  }

  setNotice(notice: string): void {
    this._set({ notice });
  }
}
