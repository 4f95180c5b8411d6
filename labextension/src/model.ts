/**
 * The sidebar's controller: holds the state of the three sections, performs the API calls,
 * and folds WebSocket events into the state. The React view renders it and calls its methods.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { loadErrorWords, Memory } from './advice';
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
  JOB_GROUPS,
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
  status: 'uploading' | 'done' | 'error' | 'cancelled';
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
  /** The main-area view's list of models (its own search, unfiltered by the sidebar's). */
  catalog: Model[];
  catalogSearch: string;
  catalogLoading: boolean;
  /** Files of a model, for the rows of the main view (loaded when a model is opened there). */
  modelFiles: Record<string, ExpandedModel>;
  /** The machine's memory, for "fits / tight / too big". */
  memory: Memory | null;
  /** A failed load in plain words, on the model's row. */
  loadErrors: Record<string, string>;
  /** When the events socket is down: the time (ms since epoch) of the next retry. */
  retryAt: number | null;
}

/** How long a transient notice stays (ms). */
export const NOTICE_MS = 6000;

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
    defaultPurpose: DEFAULT_PURPOSE,
    catalog: [],
    catalogSearch: '',
    catalogLoading: false,
    modelFiles: {},
    memory: null,
    loadErrors: {},
    retryAt: null
  };
  private _noticeTimer: ReturnType<typeof setTimeout> | null = null;
  private _catalogRequest = 0;
  private _aborted = new Set<number>();
  private readonly _changed = new Signal<this, void>(this);
  private readonly _stream: EventStream;
  private _uploadKey = 0;
  private _filesRequest = 0;
  private _modelsRequest = 0;

  constructor(readonly client: ModelFilesClient = new ModelFilesClient()) {
    this._stream = new EventStream({
      url: () => this.client.eventsUrl(),
      onMessage: data => this.handleEvent(data),
      onState: (state, retryInMs) =>
        this._set({
          connection: state,
          retryAt: state === 'closed' && retryInMs !== undefined ? Date.now() + retryInMs : null
        }),
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
    if (this._noticeTimer !== null) {
      clearTimeout(this._noticeTimer);
    }
  }

  async refreshAll(): Promise<void> {
    const work = [
      this.searchModels(this._state.modelSearch),
      this.refreshJobs(),
      this.loadFiles({}),
      this.loadPurposes()
    ];
    if (this._catalogRequest > 0) {
      work.push(this.loadCatalog(this._state.catalogSearch));
    }
    await Promise.all(work);
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
          if (this._state.modelFiles[job.model_id]) {
            void this.fetchModelFiles(job.model_id);
          }
        }
      }
    } else if (event.topic === 'file') {
      this._set({ files: mergeFileEvent(this._state.files, event.key, event.data) });
    } else if (event.topic === 'model') {
      this._set({
        models: mergeModelEvent(this._state.models, event.key, event.data),
        catalog: mergeModelEvent(this._state.catalog, event.key, event.data)
      });
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
    if (!this._state.models.some(m => m.id === modelId) && !this._state.catalog.some(m => m.id === modelId)) {
      return;
    }
    try {
      const snapshot = await this.client.get(routes.model(modelId));
      this._mergeSnapshot(modelId, snapshot);
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
    const entry = await this._filesOf(modelId);
    this._set({ expanded: { ...this._state.expanded, [modelId]: entry } });
  }

  private async _filesOf(modelId: string): Promise<ExpandedModel> {
    try {
      return { loading: false, files: modelFilesFrom(await this.client.get(routes.modelFiles(modelId))) };
    } catch (err) {
      return { loading: false, files: [], error: (err as Error).message };
    }
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
    const known = new Set(JOB_GROUPS.flatMap(name => this._state.jobs[name].map(j => j.job_id)));
    await this._busy(`model:${modelId}`, 'models', async () => {
      const snapshot = await this.client.request<Record<string, unknown>>(requests.downloadModel(modelId, files));
      if (snapshot && typeof snapshot === 'object') {
        this._mergeSnapshot(modelId, snapshot);
        const jobs = Array.isArray(snapshot.jobs) ? (snapshot.jobs as Job[]) : [];
        let groups = this._state.jobs;
        for (const job of jobs) {
          if (job && typeof job.job_id === 'string' && typeof job.status === 'string') {
            groups = mergeJob(groups, job);
          }
        }
        this._set({ jobs: groups });
        const what = files && files.length === 1 ? files[0] : modelId;
        const started = jobs.some(j => j && (!known.has(j.job_id) || LIVE.includes(j.status)));
        if (!started && alreadyDownloaded(snapshot, files)) {
          this.notify(`${what} is already downloaded`);
        } else {
          this.notify(`Downloading ${what}`);
        }
        if (this._state.modelFiles[modelId]) {
          void this.fetchModelFiles(modelId);
        }
      }
    });
  }

  async cancelModelDownload(modelId: string): Promise<void> {
    await this._busy(`model:${modelId}`, 'models', () => this.client.request(requests.cancelModelDownload(modelId)));
  }

  async modelAction(modelId: string, action: ModelAction): Promise<void> {
    const loadErrors = { ...this._state.loadErrors };
    delete loadErrors[modelId];
    this._set({ loadErrors, busy: { ...this._state.busy, [`${action}:${modelId}`]: true } });
    try {
      await this._busy(`model:${modelId}`, 'models', async () => {
        try {
          const snapshot = await this.client.request(requests.modelAction(modelId, action));
          if (snapshot && typeof snapshot === 'object') {
            this._mergeSnapshot(modelId, snapshot);
          }
        } catch (err) {
          // shown on the model's own row, in plain words, not at the top of the section
          const message = err instanceof Error ? err.message : String(err);
          const words = action === 'load' ? loadErrorWords(message) : message;
          this._set({ loadErrors: { ...this._state.loadErrors, [modelId]: words } });
        }
      });
    } finally {
      const busy = { ...this._state.busy };
      delete busy[`${action}:${modelId}`];
      this._set({ busy });
    }
  }

  /** Put a model snapshot into both lists (sidebar and main view). */
  private _mergeSnapshot(modelId: string, snapshot: unknown): void {
    this._set({
      models: mergeModelEvent(this._state.models, modelId, snapshot),
      catalog: mergeModelEvent(this._state.catalog, modelId, snapshot)
    });
  }

  // -- the main view ------------------------------------------------------------------------
  /** Load the main view's model list (every source; `search` also asks the Hub). */
  async loadCatalog(search = ''): Promise<void> {
    const request = ++this._catalogRequest;
    this._set({ catalogSearch: search, catalogLoading: true });
    void this.refreshMemory();
    try {
      const path = routes.models(search.trim() || undefined);
      const models = modelsFrom(await this.client.get(`${path}${path.includes('?') ? '&' : '?'}page_size=200`));
      if (request === this._catalogRequest) {
        this._set({ catalog: models, catalogLoading: false });
        this._clearError('models');
      }
    } catch (err) {
      if (request === this._catalogRequest) {
        this._set({ catalogLoading: false });
        this._error('models', err);
      }
    }
  }

  /** The files of a model for the main view's rows. */
  async fetchModelFiles(modelId: string): Promise<void> {
    const current = this._state.modelFiles[modelId];
    this._set({
      modelFiles: { ...this._state.modelFiles, [modelId]: { loading: true, files: current?.files ?? [] } }
    });
    const entry = await this._filesOf(modelId);
    this._set({ modelFiles: { ...this._state.modelFiles, [modelId]: entry } });
  }

  /**
   * After a checksum mismatch: read the model's entry again (snapshot and files), so a
   * corrected checksum in the catalog is used by the next download.
   */
  async rereadCatalog(modelId: string): Promise<void> {
    await Promise.all([
      this.refreshModel(modelId),
      this._state.expanded[modelId] ? this.loadModelFiles(modelId) : Promise.resolve(),
      this._state.modelFiles[modelId] ? this.fetchModelFiles(modelId) : Promise.resolve()
    ]);
    this.notify(`Catalog entry of ${modelId} read again: download it again if its checksum changed`);
  }

  forgetModelFiles(modelId: string): void {
    const modelFiles = { ...this._state.modelFiles };
    delete modelFiles[modelId];
    this._set({ modelFiles });
  }

  async refreshMemory(): Promise<void> {
    try {
      this._set({ memory: await this.client.get<Memory>(routes.systemMemory()) });
    } catch {
      // no memory hint: the RAM column shows the estimate alone
    }
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

  /** Forget every finished job (completed, failed, cancelled) on the server and here. */
  async clearFinished(): Promise<void> {
    await this._busy('clear-finished', 'downloads', async () => {
      const answer = await this.client.request<{ cleared?: string[] }>(requests.clearDownloads());
      let groups = this._state.jobs;
      for (const jobId of answer?.cleared ?? []) {
        groups = mergeJob(groups, { job_id: jobId, status: 'cancelled', cleared: true });
      }
      this._set({ jobs: groups });
    });
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
        abort: () => {
          this._aborted.add(key);
          handle.abort();
        }
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
          err =>
            this._patchUpload(
              key,
              this._aborted.delete(key)
                ? { status: 'cancelled', abort: undefined }
                : { status: 'error', error: (err as Error).message, abort: undefined }
            )
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
    this.notify(notice);
  }

  /** Show a notice that goes away by itself after `ms` (0: stays until replaced). */
  notify(notice: string, ms = NOTICE_MS): void {
    if (this._noticeTimer !== null) {
      clearTimeout(this._noticeTimer);
      this._noticeTimer = null;
    }
    this._set({ notice });
    if (notice && ms > 0) {
      this._noticeTimer = setTimeout(() => {
        this._noticeTimer = null;
        this._set({ notice: '' });
      }, ms);
    }
  }

  dismissNotice(): void {
    this.notify('');
  }
}

const LIVE = ['queued', 'downloading', 'paused'];

/** Are the files a download asked for (or the model) local, per the answer's snapshot? */
export function alreadyDownloaded(snapshot: Record<string, unknown>, files?: string[]): boolean {
  const listed = Array.isArray(snapshot.files) ? (snapshot.files as ModelFile[]) : [];
  if (files && files.length) {
    const chosen = listed.filter(f => files.includes(f.id) || files.includes(f.name));
    return chosen.length > 0 && chosen.every(f => f.isDownloaded === true);
  }
  return snapshot.downloaded === true;
}
