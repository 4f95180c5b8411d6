import {
  emptyFilesPage,
  emptyGroups,
  FileObject,
  FilesPage,
  filesPageFrom,
  groupJobs,
  jobCount,
  jobFromEvent,
  jobLabel,
  latestRuns,
  mergeFileEvent,
  mergeJob,
  mergeModelEvent,
  modelFilesFrom,
  modelsFrom,
  pageCount,
  parseEvent
} from '../state';

const LMSTUDIO = {
  downloading: [
    {
      job_id: 'job_c0b7159ee6',
      downloaded_bytes: 2423265340,
      total_size_bytes: 124196907504,
      started_at: '2025-10-06T18:43:08.019Z',
      bytes_per_second: 9834240.879725136,
      estimated_completion: '2025-10-06T22:24:29.908Z',
      status: 'downloading'
    }
  ],
  completed: [],
  failed: [],
  paused: [
    {
      job_id: 'job_222ebe6763',
      downloaded_bytes: 12028808,
      total_size_bytes: 22256526743,
      started_at: '2025-10-06T18:43:53.605Z',
      status: 'paused'
    }
  ]
};

describe('groupJobs', () => {
  it('parses the LM Studio status document', () => {
    const groups = groupJobs(LMSTUDIO);
    expect(groups.downloading.map(j => j.job_id)).toEqual(['job_c0b7159ee6']);
    expect(groups.paused.map(j => j.job_id)).toEqual(['job_222ebe6763']);
    expect(groups.queued).toEqual([]);
    expect(jobCount(groups)).toBe(2);
  });

  it('places a job by its own status and ignores junk', () => {
    const groups = groupJobs({
      downloading: [{ job_id: 'a', status: 'queued' }, { nope: 1 }, null],
      failed: [{ job_id: 'b', status: 'failed', error: 'sha256 mismatch' }],
      other: [{ job_id: 'c', status: 'downloading' }]
    });
    expect(groups.queued.map(j => j.job_id)).toEqual(['a']);
    expect(groups.failed[0].error).toBe('sha256 mismatch');
    expect(jobCount(groups)).toBe(2);
    expect(jobCount(groupJobs(null))).toBe(0);
    expect(jobCount(groupJobs('x'))).toBe(0);
  });
});

describe('mergeJob', () => {
  it('moves a job between groups and keeps earlier fields', () => {
    let groups = groupJobs(LMSTUDIO);
    groups = mergeJob(groups, {
      job_id: 'job_222ebe6763',
      status: 'downloading',
      downloaded_bytes: 20000000,
      bytes_per_second: 5
    });
    expect(groups.paused).toEqual([]);
    const job = groups.downloading.find(j => j.job_id === 'job_222ebe6763')!;
    expect(job.downloaded_bytes).toBe(20000000);
    expect(job.total_size_bytes).toBe(22256526743);
    expect(job.started_at).toBe('2025-10-06T18:43:53.605Z');
    expect(groups.downloading[0].job_id).toBe('job_222ebe6763');
  });

  it('updates in place within the same group (order kept)', () => {
    let groups = emptyGroups();
    groups = mergeJob(groups, { job_id: 'a', status: 'downloading', downloaded_bytes: 1 });
    groups = mergeJob(groups, { job_id: 'b', status: 'downloading', downloaded_bytes: 1 });
    expect(groups.downloading.map(j => j.job_id)).toEqual(['b', 'a']);
    groups = mergeJob(groups, { job_id: 'a', status: 'downloading', downloaded_bytes: 50 });
    expect(groups.downloading.map(j => j.job_id)).toEqual(['b', 'a']);
    expect(groups.downloading[1].downloaded_bytes).toBe(50);
  });

  it('drops speed and ETA when a job stops, and the error when it recovers', () => {
    let groups = mergeJob(emptyGroups(), {
      job_id: 'a',
      status: 'downloading',
      bytes_per_second: 10,
      estimated_completion: '2030-01-01T00:00:00Z'
    });
    groups = mergeJob(groups, { job_id: 'a', status: 'failed', error: 'connection reset' });
    expect(groups.failed[0].bytes_per_second).toBeUndefined();
    expect(groups.failed[0].estimated_completion).toBeUndefined();
    expect(groups.failed[0].error).toBe('connection reset');
    groups = mergeJob(groups, { job_id: 'a', status: 'downloading' });
    expect(groups.downloading[0].error).toBeUndefined();
    expect(groups.failed).toEqual([]);
  });

  it('keeps cancelled jobs until cleared and does not mutate the input', () => {
    const before = mergeJob(emptyGroups(), { job_id: 'a', status: 'paused' });
    const after = mergeJob(before, { job_id: 'a', status: 'cancelled' });
    expect(jobCount(after)).toBe(1);
    expect(after.cancelled[0].job_id).toBe('a');
    expect(before.paused.length).toBe(1);
    const cleared = mergeJob(after, { job_id: 'a', status: 'cancelled', cleared: true });
    expect(jobCount(cleared)).toBe(0);
  });

  it('never lets an older state replace a newer one', () => {
    let groups = mergeJob(emptyGroups(), { job_id: 'a', status: 'failed', error: '404', version: 7 });
    // the POST reply (version 5) arrives after the failed event (version 7)
    groups = mergeJob(groups, { job_id: 'a', status: 'downloading', version: 5 });
    expect(groups.failed.map(j => j.job_id)).toEqual(['a']);
    expect(groups.downloading).toEqual([]);
    groups = mergeJob(groups, { job_id: 'a', status: 'queued', version: 8 });
    expect(groups.queued.map(j => j.version)).toEqual([8]);
  });

  it('shows one row per file: the latest run, earlier runs beside it', () => {
    let groups = emptyGroups();
    groups = mergeJob(groups, { job_id: 'old', status: 'completed', url: 'http://o/f.bin', version: 1 });
    groups = mergeJob(groups, { job_id: 'new', status: 'failed', url: 'http://o/f.bin', version: 2 });
    groups = mergeJob(groups, { job_id: 'other', status: 'completed', url: 'http://o/g.bin', version: 3 });
    const rows = latestRuns(groups);
    expect(rows.failed.map(r => r.job.job_id)).toEqual(['new']);
    expect(rows.failed[0].earlier.map(j => j.job_id)).toEqual(['old']);
    expect(rows.completed.map(r => r.job.job_id)).toEqual(['other']);
  });
});

describe('events', () => {
  it('parses event frames and rejects others', () => {
    const e = parseEvent(JSON.stringify({ topic: 'job', key: 'j1', time: 1, data: { status: 'completed' } }));
    expect(e).toEqual({ topic: 'job', key: 'j1', time: 1, data: { status: 'completed' } });
    expect(parseEvent('not json')).toBeNull();
    expect(parseEvent(JSON.stringify({ hello: 1 }))).toBeNull();
    expect(parseEvent(42)).toBeNull();
  });

  it('takes the job id from the key when the data lacks it', () => {
    expect(jobFromEvent({ topic: 'job', key: 'j1', data: { status: 'paused' } })).toEqual({
      job_id: 'j1',
      status: 'paused'
    });
    expect(jobFromEvent({ topic: 'job', key: 'j1', data: { job_id: 'j2', status: 'paused' } })!.job_id).toBe('j2');
    expect(jobFromEvent({ topic: 'file', key: 'f', data: {} })).toBeNull();
    expect(jobFromEvent({ topic: 'job', key: 'j', data: {} })).toBeNull();
  });

  it('labels jobs by file, URL tail or id', () => {
    expect(jobLabel({ job_id: 'j', status: 'x', file: 'model.gguf' })).toBe('model.gguf');
    expect(jobLabel({ job_id: 'j', status: 'x', url: 'http://h/a/b%20c.bin?sig=1' })).toBe('b c.bin');
    expect(jobLabel({ job_id: 'j', status: 'x' })).toBe('j');
  });
});

function file(id: string, filename: string, purpose = 'user_data'): FileObject {
  return { id, object: 'file', filename, bytes: 10, created_at: 1, purpose };
}

describe('files', () => {
  const query = { page: 0, pageSize: 2, search: '', purpose: '' };

  it('parses the list document', () => {
    const page = filesPageFrom({ object: 'list', data: [file('a', 'a.txt')], total: 5, has_more: true }, query);
    expect(page.items.length).toBe(1);
    expect(page.total).toBe(5);
    expect(page.hasMore).toBe(true);
    expect(pageCount({ ...page, pageSize: 2 })).toBe(3);
    expect(pageCount(emptyFilesPage())).toBe(1);
  });

  it('adds a new file to the top of the first page, trimming to the page size', () => {
    let page: FilesPage = filesPageFrom(
      { data: [file('a', 'a.txt'), file('b', 'b.txt')], total: 2, has_more: false },
      query
    );
    page = mergeFileEvent(page, 'c', file('c', 'c.txt'));
    expect(page.items.map(f => f.id)).toEqual(['c', 'a']);
    expect(page.total).toBe(3);
    expect(page.hasMore).toBe(true);
  });

  it('is idempotent: the upload answer and the event for the same file count once', () => {
    let page = filesPageFrom({ data: [], total: 0 }, query);
    page = mergeFileEvent(page, 'c', file('c', 'c.txt'));
    page = mergeFileEvent(page, 'c', { ...file('c', 'c.txt'), bytes: 99 });
    expect(page.items.length).toBe(1);
    expect(page.items[0].bytes).toBe(99);
    expect(page.total).toBe(1);
  });

  it('removes deleted files once', () => {
    let page = filesPageFrom({ data: [file('a', 'a.txt'), file('b', 'b.txt')], total: 4 }, query);
    page = mergeFileEvent(page, 'a', { id: 'a', object: 'file', deleted: true });
    expect(page.items.map(f => f.id)).toEqual(['b']);
    expect(page.total).toBe(3);
    page = mergeFileEvent(page, 'a', { id: 'a', object: 'file', deleted: true });
    expect(page.total).toBe(3);
  });

  it('respects the search and purpose filters for new files', () => {
    let page = filesPageFrom({ data: [], total: 0 }, { ...query, search: 'data', purpose: 'batch' });
    page = mergeFileEvent(page, 'x', file('x', 'data.jsonl', 'user_data'));
    page = mergeFileEvent(page, 'y', file('y', 'other.jsonl', 'batch'));
    expect(page.items).toEqual([]);
    page = mergeFileEvent(page, 'z', file('z', 'My-DATA.jsonl', 'batch'));
    expect(page.items.map(f => f.id)).toEqual(['z']);
  });

  it('on a later page only the total changes for a new file', () => {
    let page = filesPageFrom({ data: [file('a', 'a')], total: 3 }, { ...query, page: 1 });
    page = mergeFileEvent(page, 'n', file('n', 'n'));
    expect(page.items.map(f => f.id)).toEqual(['a']);
    expect(page.total).toBe(4);
  });
});

describe('models', () => {
  it('accepts the listing shapes', () => {
    expect(modelsFrom([{ id: 'a' }]).length).toBe(1);
    expect(modelsFrom({ iterable: [{ id: 'a' }, { id: 'b' }] }).length).toBe(2);
    expect(modelsFrom({ data: [{ id: 'a' }, { name: 'no id' }] }).length).toBe(1);
    expect(modelsFrom(null)).toEqual([]);
    expect(modelFilesFrom({ data: [{ id: 'f', name: 'f.gguf', quantization: 'Q4_K_M' }] })[0].quantization).toBe(
      'Q4_K_M'
    );
  });

  it('merges model snapshots by id', () => {
    const models = modelsFrom([{ id: 'org/a', downloaded: false }, { id: 'b' }]);
    const next = mergeModelEvent(models, 'org/a', { id: 'org/a', downloaded: true, loaded: true });
    expect(next[0].downloaded).toBe(true);
    expect(next[0].loaded).toBe(true);
    expect(models[0].downloaded).toBe(false);
    expect(mergeModelEvent(models, 'zzz', { id: 'zzz' })).toBe(models);
  });
});
