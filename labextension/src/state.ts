/**
 * Sidebar state and how REST answers and WebSocket events change it.
 *
 * Pure (no JupyterLab imports): jobs grouped like the LM Studio status API, the files page,
 * the model catalog. Every function returns a new value; nothing is mutated in place.
 */

/** A download job: LM Studio's status object plus ours. */
export interface Job {
  job_id: string;
  status: string;
  downloaded_bytes?: number;
  total_size_bytes?: number;
  started_at?: string;
  bytes_per_second?: number;
  estimated_completion?: string;
  completed_at?: string;
  error?: string | null;
  model_id?: string | null;
  file?: string | null;
  url?: string | null;
  sha256?: string | null;
  /** Server-issued state version: the highest one seen is the newest state. */
  version?: number;
  /** A `job` event saying the job was cleared from the list. */
  cleared?: boolean;
}

export const JOB_GROUPS = ['downloading', 'queued', 'paused', 'completed', 'failed', 'cancelled'] as const;
export type JobGroupName = (typeof JOB_GROUPS)[number];
export type JobGroups = Record<JobGroupName, Job[]>;

export function emptyGroups(): JobGroups {
  return { downloading: [], queued: [], paused: [], completed: [], failed: [], cancelled: [] };
}

/** The group a job status belongs to (cancelled jobs stay listed until cleared). */
export function groupOf(status: string): JobGroupName {
  switch (status) {
    case 'downloading':
    case 'verifying':
    case 'in_progress':
    case 'running':
      return 'downloading';
    case 'queued':
    case 'pending':
      return 'queued';
    case 'paused':
      return 'paused';
    case 'completed':
    case 'already_downloaded':
      return 'completed';
    case 'failed':
      return 'failed';
    case 'cancelled':
    case 'canceled':
      return 'cancelled';
    default:
      return 'queued';
  }
}

function isJob(value: unknown): value is Job {
  return (
    !!value &&
    typeof value === 'object' &&
    typeof (value as Job).job_id === 'string' &&
    typeof (value as Job).status === 'string'
  );
}

/** Parse `GET models/download/status`; jobs are placed by their own status. */
export function groupJobs(response: unknown): JobGroups {
  let groups = emptyGroups();
  if (!response || typeof response !== 'object') {
    return groups;
  }
  const obj = response as Record<string, unknown>;
  for (const name of JOB_GROUPS) {
    const list = obj[name];
    if (Array.isArray(list)) {
      for (const job of list) {
        if (isJob(job)) {
          groups = mergeJob(groups, job);
        }
      }
    }
  }
  return groups;
}

/**
 * Put the newest state of a job into the groups: it leaves its old group, joins the group of
 * its status (newest first), keeps fields the update did not carry.
 */
export function mergeJob(groups: JobGroups, update: Job): JobGroups {
  const known = findJob(groups, update.job_id);
  if (known && isOlder(update, known)) {
    return groups; // e.g. a POST reply that arrives after the event of a newer state
  }
  let previous: Job | undefined;
  const next = emptyGroups();
  for (const name of JOB_GROUPS) {
    for (const job of groups[name]) {
      if (job.job_id === update.job_id) {
        previous = job;
      } else {
        next[name].push(job);
      }
    }
  }
  if (update.cleared) {
    return next;
  }
  const target = groupOf(update.status);
  const merged: Job = { ...(previous ?? {}), ...update };
  if (target !== 'downloading') {
    delete merged.bytes_per_second;
    delete merged.estimated_completion;
  }
  if (target !== 'failed') {
    delete merged.error;
  }
  const place = previous ? indexIn(groups[target], update.job_id) : -1;
  if (place >= 0) {
    next[target].splice(place, 0, merged);
  } else {
    next[target].unshift(merged);
  }
  return next;
}

/** Is `update` a state the server issued before `current` (or the same one)? */
export function isOlder(update: Job, current: Job): boolean {
  return typeof update.version === 'number' && typeof current.version === 'number' && update.version <= current.version;
}

/** The listed job with this id, in any group. */
export function findJob(groups: JobGroups, jobId: string): Job | undefined {
  for (const name of JOB_GROUPS) {
    const job = groups[name].find(j => j.job_id === jobId);
    if (job) {
      return job;
    }
  }
  return undefined;
}

/** What a job downloads: its model and file, else its URL (runs of one file share it). */
export function jobTarget(job: Job): string {
  if (job.model_id && job.file) {
    return `model:${job.model_id}/${job.file}`;
  }
  return `url:${job.url || job.file || job.job_id}`;
}

/** One row per file: the latest run (highest version) and the earlier runs of that file. */
export interface FileRun {
  job: Job;
  earlier: Job[];
}

/** The groups as one row per file, each row in the group of its latest run. */
export function latestRuns(groups: JobGroups): Record<JobGroupName, FileRun[]> {
  const byTarget = new Map<string, Job[]>();
  for (const name of JOB_GROUPS) {
    for (const job of groups[name]) {
      const key = jobTarget(job);
      byTarget.set(key, [...(byTarget.get(key) ?? []), job]);
    }
  }
  const rows = emptyGroups() as unknown as Record<JobGroupName, FileRun[]>;
  for (const runs of byTarget.values()) {
    const sorted = runs.slice().sort((a, b) => (b.version ?? 0) - (a.version ?? 0));
    const live = sorted.find(j => ['downloading', 'queued', 'paused'].includes(groupOf(j.status)));
    const latest = live ?? sorted[0];
    rows[groupOf(latest.status)].push({ job: latest, earlier: sorted.filter(j => j !== latest) });
  }
  return rows;
}

/** Does this job download (a part of) this model file? Split GGUF parts count too. */
export function jobIsFor(job: Job, modelId: string, file: { id: string; name: string }): boolean {
  if (job.model_id !== modelId || !job.file) {
    return false;
  }
  if (job.file === file.id || job.file === file.name) {
    return true;
  }
  const stem = file.name.replace(/\.[^.]+$/, '');
  return job.file.startsWith(stem) && /-\d{5}-of-\d{5}/.test(job.file);
}

/** The latest run of each part of a model file (what its row shows). */
export function fileJobs(groups: JobGroups, modelId: string, file: { id: string; name: string }): Job[] {
  const latest = new Map<string, Job>();
  for (const name of JOB_GROUPS) {
    for (const job of groups[name]) {
      if (jobIsFor(job, modelId, file)) {
        const part = job.file as string;
        const seen = latest.get(part);
        if (!seen || (job.version ?? 0) > (seen.version ?? 0)) {
          latest.set(part, job);
        }
      }
    }
  }
  return [...latest.values()];
}

/** The parts of one file as one progress: status, bytes, speed, latest ETA. */
export interface Progress {
  status: string;
  done: number;
  total: number | undefined;
  speed: number;
  eta: string | undefined;
  error: string | undefined;
}

export function combinedProgress(jobs: Job[]): Progress | null {
  if (!jobs.length) {
    return null;
  }
  const order = ['downloading', 'queued', 'paused', 'failed', 'cancelled', 'completed'];
  const status = order.find(s => jobs.some(j => groupOf(j.status) === s)) ?? jobs[0].status;
  const totals = jobs.map(j => j.total_size_bytes);
  const etas = jobs
    .map(j => j.estimated_completion)
    .filter((e): e is string => !!e)
    .sort();
  return {
    status,
    done: jobs.reduce((sum, j) => sum + (j.downloaded_bytes ?? 0), 0),
    total: totals.every(t => typeof t === 'number' && t > 0)
      ? totals.reduce((sum: number, t) => sum + (t as number), 0)
      : undefined,
    speed: jobs.reduce((sum, j) => sum + (j.bytes_per_second ?? 0), 0),
    eta: etas.length ? etas[etas.length - 1] : undefined,
    error: jobs.find(j => j.error)?.error ?? undefined
  };
}

/** Jobs that ended (completed, failed, cancelled): what "Clear finished" removes. */
export function finishedJobs(groups: JobGroups): Job[] {
  return [...groups.completed, ...groups.failed, ...groups.cancelled];
}

/** A checksum mismatch: retrying downloads the same bytes and fails the same way. */
export function isChecksumMismatch(job: Job): boolean {
  return job.status === 'failed' && /checksum mismatch/i.test(job.error ?? '');
}

function indexIn(list: Job[], jobId: string): number {
  return list.findIndex(job => job.job_id === jobId);
}

/** How many jobs are listed in total. */
export function jobCount(groups: JobGroups): number {
  return JOB_GROUPS.reduce((sum, name) => sum + groups[name].length, 0);
}

/** A job's display name: its file, else the last path part of its URL, else its id. */
export function jobLabel(job: Job): string {
  if (job.file) {
    return job.file;
  }
  if (job.url) {
    const path = job.url.split(/[?#]/)[0];
    const last = path.split('/').filter(Boolean).pop();
    if (last) {
      try {
        return decodeURIComponent(last);
      } catch {
        return last;
      }
    }
  }
  return job.job_id;
}

// -- files ---------------------------------------------------------------------------------

export interface FileObject {
  id: string;
  object?: string;
  filename: string;
  bytes: number;
  created_at: number;
  purpose: string;
  [key: string]: unknown;
}

export interface FilesPage {
  items: FileObject[];
  total: number;
  hasMore: boolean;
  page: number;
  pageSize: number;
  search: string;
  purpose: string;
}

export function emptyFilesPage(pageSize = 20): FilesPage {
  return { items: [], total: 0, hasMore: false, page: 0, pageSize, search: '', purpose: '' };
}

/** Parse `GET v1/files` ({object: "list", data, total, has_more}) for the page asked. */
export function filesPageFrom(
  response: unknown,
  query: { page: number; pageSize: number; search: string; purpose: string }
): FilesPage {
  const obj = (response ?? {}) as Record<string, unknown>;
  const data = Array.isArray(obj.data) ? (obj.data as FileObject[]) : [];
  const total = typeof obj.total === 'number' ? obj.total : data.length;
  return {
    items: data,
    total,
    hasMore: obj.has_more === true,
    page: query.page,
    pageSize: query.pageSize,
    search: query.search,
    purpose: query.purpose
  };
}

/** Does a file belong in a listing filtered by `search` (in the name) and `purpose`? */
export function fileMatches(file: FileObject, search: string, purpose: string): boolean {
  if (purpose && file.purpose !== purpose) {
    return false;
  }
  if (search && !file.filename.toLowerCase().includes(search.toLowerCase())) {
    return false;
  }
  return true;
}

/**
 * Apply a `file` event: `{id, deleted: true}` removes the file; a file object updates it in
 * place or, when new and matching the filters, appears at the top of the first page.
 */
export function mergeFileEvent(page: FilesPage, key: string, data: unknown): FilesPage {
  const obj = (data ?? {}) as Record<string, unknown>;
  const id = typeof obj.id === 'string' ? obj.id : key;
  const index = page.items.findIndex(item => item.id === id);
  if (obj.deleted === true) {
    if (index < 0) {
      return { ...page, total: Math.max(0, page.total - (page.page > 0 ? 1 : 0)) };
    }
    const items = page.items.filter(item => item.id !== id);
    return { ...page, items, total: Math.max(0, page.total - 1) };
  }
  if (typeof obj.filename !== 'string') {
    return page;
  }
  const file = obj as unknown as FileObject;
  if (index >= 0) {
    const items = page.items.slice();
    items[index] = { ...items[index], ...file };
    return { ...page, items };
  }
  if (!fileMatches(file, page.search, page.purpose)) {
    return page;
  }
  if (page.page > 0) {
    // newest first: a new file lands on page 0; this page only shifts
    return { ...page, total: page.total + 1 };
  }
  let items = [file, ...page.items];
  let hasMore = page.hasMore;
  if (items.length > page.pageSize) {
    items = items.slice(0, page.pageSize);
    hasMore = true;
  }
  return { ...page, items, total: page.total + 1, hasMore };
}

/** Number of pages for the current total (at least 1). */
export function pageCount(page: FilesPage): number {
  return Math.max(1, Math.ceil(page.total / Math.max(1, page.pageSize)));
}

// -- models --------------------------------------------------------------------------------

export interface ByteDescriptor {
  value?: number;
  readable?: string;
}

export interface Model {
  id: string;
  name?: string;
  description?: string;
  downloaded?: boolean;
  downloading?: boolean;
  loaded?: boolean;
  quantization?: string | null;
  parameters?: number | null;
  ram?: ByteDescriptor | null;
  bytes?: ByteDescriptor | null;
  source?: string;
  format?: string;
  [key: string]: unknown;
}

/** A model file in the Anaconda `ModelFile` schema. */
export interface ModelFile {
  id: string;
  name: string;
  sizeBytes?: number;
  quantization?: string;
  format?: string;
  maxRamUsage?: number;
  isDownloaded?: boolean;
  downloadStatus?: {
    status?: string;
    localPath?: string;
    progress?: { downloadedRatio?: number; transferredBytes?: number; totalBytes?: number };
  };
}

/** Parse a model listing: a bare array, Pieces' `{iterable}`, or `{data}` / `{models}`. */
export function modelsFrom(response: unknown): Model[] {
  let list: unknown = response;
  if (list && typeof list === 'object' && !Array.isArray(list)) {
    const obj = list as Record<string, unknown>;
    list = obj.iterable ?? obj.data ?? obj.models ?? [];
  }
  if (!Array.isArray(list)) {
    return [];
  }
  return list.filter((m): m is Model => !!m && typeof m === 'object' && typeof (m as Model).id === 'string');
}

/** Parse `GET models/{id}/files` (`{data: [ModelFile]}`). */
export function modelFilesFrom(response: unknown): ModelFile[] {
  const obj = (response ?? {}) as Record<string, unknown>;
  const data = Array.isArray(obj.data) ? obj.data : Array.isArray(response) ? response : [];
  return (data as ModelFile[]).filter(f => f && typeof f.id === 'string');
}

/** Apply a `model` event (a model snapshot) to the listed models. */
export function mergeModelEvent(models: Model[], key: string, data: unknown): Model[] {
  const obj = (data ?? {}) as Record<string, unknown>;
  const id = typeof obj.id === 'string' ? obj.id : key;
  const index = models.findIndex(m => m.id === id);
  if (index < 0) {
    return models;
  }
  if (obj.deleted === true && obj.object !== 'model_files') {
    return models.filter(m => m.id !== id);
  }
  const next = models.slice();
  next[index] = { ...models[index], ...(obj as Partial<Model>), id };
  return next;
}

// -- events --------------------------------------------------------------------------------

export interface ServerEvent {
  topic: string;
  key: string;
  time?: number;
  data: unknown;
}

/** Parse one WebSocket message; `null` when it is not an event. */
export function parseEvent(raw: unknown): ServerEvent | null {
  if (typeof raw !== 'string') {
    return null;
  }
  try {
    const obj = JSON.parse(raw) as Record<string, unknown>;
    if (obj && typeof obj.topic === 'string' && typeof obj.key === 'string') {
      return { topic: obj.topic, key: obj.key, time: obj.time as number, data: obj.data };
    }
  } catch {
    // ignore non-JSON frames
  }
  return null;
}

/** The job carried by a `job` event, or `null`. */
export function jobFromEvent(event: ServerEvent): Job | null {
  if (event.topic !== 'job') {
    return null;
  }
  const data = (event.data ?? {}) as Record<string, unknown>;
  const job = { job_id: event.key, ...data } as Job;
  return typeof job.status === 'string' ? job : null;
}
